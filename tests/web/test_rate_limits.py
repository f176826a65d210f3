"""Rate limits: keyed on the client behind a trusted proxy, tight per person, generous per address."""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import count as numbers
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from scheduler.app import create_app
from scheduler.extensions import db, limiter
from tests.booking_fixtures import bookable_setup
from tests.conftest import app_config
from tests.helpers import csrf_token, make_user
from tests.web.test_booking_journey import book_through_pages

TIGHT = "2 per minute"
ACCOUNTS = numbers()


def sign_in_attempts(client: FlaskClient, forwarded_for: str, count: int = 1) -> list[int]:
    """Wrong-password sign-ins, each for a different account, arriving from ``forwarded_for``."""
    token = csrf_token(client, "/staff/login")
    statuses = []
    for _ in range(count):
        email = f"nobody-{next(ACCOUNTS)}@example.org"
        statuses.append(client.post("/staff/login", data={"email": email, "password": "guess", "csrf_token": token},
                                    headers={"X-Forwarded-For": forwarded_for}).status_code)
    return statuses


@pytest.fixture
def proxied_app(database_url: str, tmp_path: Path, app: Flask) -> Iterator[Flask]:
    """The app as deployed behind one TLS proxy, with a tight per-address sign-in limit."""
    application = create_app(app_config(database_url, tmp_path, TRUSTED_PROXY_COUNT="1",
                                             LOGIN_ADDRESS_RATE_LIMIT=TIGHT),
                             instance_path=str(tmp_path))
    limiter.reset()
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()
    limiter.reset()


def test_forwarded_for_is_ignored_unless_a_proxy_is_trusted(client: Any, app: Flask,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    assert app.config["TRUSTED_PROXY_COUNT"] == 0
    monkeypatch.setitem(app.config, "LOGIN_ADDRESS_RATE_LIMIT", TIGHT)
    # A client naming a new address each time is still one socket address, and one limit.
    assert sign_in_attempts(client, "203.0.113.1", 2) == [200, 200]
    assert sign_in_attempts(client, "203.0.113.2") == [429]


def test_clients_behind_a_trusted_proxy_are_limited_separately(proxied_app: Flask) -> None:
    client = proxied_app.test_client()
    assert sign_in_attempts(client, "203.0.113.1", 3) == [200, 200, 429]
    assert sign_in_attempts(client, "203.0.113.2", 2) == [200, 200]


def test_a_spoofed_leftmost_address_does_not_escape_the_limit(proxied_app: Flask) -> None:
    client = proxied_app.test_client()
    assert sign_in_attempts(client, "203.0.113.1", 2) == [200, 200]
    # The client wrote the first address itself; the proxy appended the real one.
    assert sign_in_attempts(client, "198.51.100.7, 203.0.113.1") == [429]
    assert sign_in_attempts(client, "198.51.100.8, 203.0.113.1") == [429]


def test_one_address_is_many_citizens(client: Any, session: Any) -> None:
    """A carrier's NAT, an office or a kiosk: 12 citizens from one address all get their holds."""
    setup = bookable_setup(session)
    statuses = [book_through_pages(client, session, setup, setup.at(9 + n // 4, 30 * (n // 2 % 2)),
                                   email=f"citizen-{n}@example.org", phone=f"+7 912 345-67-{n:02d}").status_code
                for n in range(12)]
    assert statuses == [302] * 12


def test_holds_are_limited_per_email_and_per_phone(client: Any, session: Any, app: Flask,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "BOOKING_HOLD_RATE_LIMIT", TIGHT)
    monkeypatch.setitem(app.config, "BOOKING_ACTIVE_PER_TOPIC", 10)
    setup = bookable_setup(session)
    same_email = [book_through_pages(client, session, setup, setup.at(9 + n), email="one@example.org",
                                     phone=f"+7 912 345-67-{n:02d}").status_code for n in range(3)]
    assert same_email == [302, 302, 429]
    same_phone = [book_through_pages(client, session, setup, setup.at(9 + n, 30), email=f"other-{n}@example.org",
                                     phone="+7 (912) 000-11-22" if n % 2 else "8 912 000 11 22").status_code
                  for n in range(3)]
    assert same_phone == [302, 302, 429]  # the same number however it is written


def test_one_office_signs_in_from_one_address(client: Any, session: Any, app: Flask) -> None:
    """Many staff behind one address can sign in; each account keeps its own tight limit."""
    accounts = int(app.config["LOGIN_RATE_LIMIT"].split()[0]) + 2
    users = [make_user(session, email=f"staff-{n}@example.org") for n in range(accounts)]
    token = csrf_token(client, "/staff/login")
    statuses = [client.post("/staff/login", data={"email": user.email, "password": "guess", "csrf_token": token})
                .status_code for user in users]
    assert statuses == [200] * accounts


def test_a_limited_citizen_keeps_the_form_and_learns_when_to_retry(client: Any, session: Any, app: Flask,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "BOOKING_HOLD_RATE_LIMIT", "1 per hour")
    setup = bookable_setup(session)
    assert book_through_pages(client, session, setup, setup.at(9)).status_code == 302
    refused = book_through_pages(client, session, setup, setup.at(10), name="Анна Петровна Смирнова-Лебедева")
    page = refused.get_data(as_text=True)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert re.search(r"попробуйте снова через (59|60) минут\.", page), page
    # The details form again, as typed, ready to submit once the hour is over.
    assert 'value="Анна Петровна Смирнова-Лебедева"' in page
    assert 'value="anna.smirnova@example.org"' in page
    assert "Хочу заменить старую газовую плиту" in page
    assert 'name="step" type="hidden" value="review"' in page


def test_a_limited_link_request_keeps_the_email(client: Any, session: Any, app: Flask,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "BOOKING_HOLD_RATE_LIMIT", "1 per hour")
    token = csrf_token(client, "/me")
    ask = {"email": "anna.smirnova@example.org", "csrf_token": token}
    assert client.post("/me", data=ask).status_code == 302
    refused = client.post("/me", data=ask)
    assert refused.status_code == 429
    assert 'value="anna.smirnova@example.org"' in refused.get_data(as_text=True)
    assert "попробуйте снова через" in refused.get_data(as_text=True)


def test_other_limits_still_say_when_to_retry(client: Any, session: Any, app: Flask,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT", "1 per 5 minutes")
    token = csrf_token(client, "/staff/login")
    guess = {"email": "nobody@example.org", "password": "guess", "csrf_token": token}
    assert client.post("/staff/login", data=guess).status_code == 200
    refused = client.post("/staff/login", data=guess)
    assert refused.status_code == 429
    assert re.search(r"через [45] минут", refused.get_data(as_text=True))


def test_code_attempts_are_counted_per_hold_not_per_address(client: Any, session: Any, app: Flask,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "BOOKING_CODE_RATE_LIMIT", TIGHT)
    setup = bookable_setup(session)
    statuses = []
    for n in range(3):  # three citizens at one kiosk, each mistyping their code once
        book_through_pages(client, session, setup, setup.at(9 + n), email=f"kiosk-{n}@example.org",
                           phone=f"+7 912 345-68-{n:02d}")
        token = csrf_token(client, "/book/verify")
        statuses.append(client.post("/book/verify", data={"code": "00000", "csrf_token": token}).status_code)
    assert statuses == [422, 422, 422]
    token = csrf_token(client, "/book/verify")
    statuses = [client.post("/book/verify", data={"code": "00000", "csrf_token": token}).status_code
                for _ in range(2)]
    assert statuses == [422, 429]  # the last hold's own attempts are still limited
