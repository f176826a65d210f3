"""The office a citizen picks on the slot pages is the office booked, and the one moved to."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from booking.models import Booking
from tests.booking_fixtures import CITIZEN_FORM, last_code_email, two_office_setup
from tests.helpers import csrf_token


def test_the_office_picked_in_the_wizard_and_on_reschedule_is_the_office_booked(client: Any, session: Any) -> None:
    setup, (_first, second) = two_office_setup(session)
    start = setup.at(10)
    listing = client.get(f"/topics/{setup.topic.slug}",
                         query_string={"channel": "in_person", "from": setup.day.isoformat()}).get_data(as_text=True)
    links = {m.group(0).replace("&amp;", "&") for m in re.finditer(r'/book/[^"]+', listing)}
    chosen = next(link for link in links if f"location={second.id}" in link and "T10:00:00" in link)

    page = client.get(chosen)
    assert page.status_code == 200 and "Офис 2" in page.get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.get_data(as_text=True)).group(1)
    form = {**CITIZEN_FORM, "csrf_token": token, "channel": "in_person", "start": start.isoformat(), "expert": "",
            "location": str(second.id), "step": "review"}
    assert client.post(f"/book/{setup.topic.slug}", data=form).status_code == 200
    held = client.post(f"/book/{setup.topic.slug}", data={**form, "step": "book"})
    assert held.status_code == 302
    booking = session.scalars(select(Booking)).one()
    assert (booking.starts_at, booking.location_id) == (start, second.id)

    code = last_code_email(session, CITIZEN_FORM["email"])
    client.post("/book/verify", data={"code": code, "csrf_token": csrf_token(client, "/book/verify")})
    mail_link = f"/manage/{booking.code}/reschedule"
    page = client.get(mail_link).get_data(as_text=True)
    assert f'name="location" value="{second.id}"' in page
    token = csrf_token(client, mail_link)
    moved = client.post(mail_link, data={"start": setup.at(9, 30).isoformat(), "expert": str(booking.expert_id),
                                         "location": str(second.id), "csrf_token": token})
    assert moved.status_code == 302
    session.refresh(booking)
    # Not the first office, which is what "any office at 09:30" would give.
    assert (booking.starts_at, booking.location_id) == (setup.at(9, 30), second.id)
