"""Personal data stays out of addresses and logs during a whole booking journey."""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import unquote_plus

import pytest
from sqlalchemy import select

from booking.models import Booking
from tests.booking_fixtures import CITIZEN_FORM, bookable_setup, last_code_email
from tests.helpers import csrf_token

PERSONAL = [CITIZEN_FORM["name"], CITIZEN_FORM["email"], "9123456789", "Смирнова", "anna.smirnova"]


class Recorder:
    """Wraps the client to keep every address requested and every address handed out."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.addresses: list[str] = []

    def _seen(self, response: Any) -> Any:
        if "Location" in response.headers:
            self.addresses.append(response.headers["Location"])
        if response.mimetype == "text/html":
            self.addresses.extend(re.findall(r'(?:href|action)="([^"]+)"', response.get_data(as_text=True)))
        return response

    def get(self, path: str, **kw: Any) -> Any:
        self.addresses.append(path + "?" + "&".join(f"{k}={v}" for k, v in (kw.get("query_string") or {}).items()))
        return self._seen(self.client.get(path, **kw))

    def post(self, path: str, **kw: Any) -> Any:
        self.addresses.append(path)
        return self._seen(self.client.post(path, **kw))


def test_no_personal_data_in_urls_or_logs(client: Any, session: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    setup = bookable_setup(session)
    browser = Recorder(client)
    start = setup.at(10).isoformat()
    browser.get(f"/topics/{setup.topic.slug}")
    page = browser.get(f"/book/{setup.topic.slug}", query_string={"channel": "video", "start": start})
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.get_data(as_text=True)).group(1)
    form = {**CITIZEN_FORM, "csrf_token": token, "channel": "video", "start": start, "expert": "", "step": "review"}
    browser.post(f"/book/{setup.topic.slug}", data=form)
    browser.post(f"/book/{setup.topic.slug}", data={**form, "step": "book"})
    code = last_code_email(session, CITIZEN_FORM["email"])
    browser.post("/book/verify", data={"code": code, "csrf_token": csrf_token(client, "/book/verify")})
    booking = session.scalars(select(Booking)).one()
    browser.get(f"/manage/{booking.code}")
    browser.post("/me", data={"email": CITIZEN_FORM["email"], "csrf_token": csrf_token(client, "/me")})

    addresses = " ".join(unquote_plus(a) for a in browser.addresses)
    logs = "\n".join(record.getMessage() for record in caplog.records)
    for item in PERSONAL:
        assert item not in addresses, f"{item!r} appears in an address"
        assert item not in logs, f"{item!r} appears in the logs"
    assert booking.status.value == "confirmed"
