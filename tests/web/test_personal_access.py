"""The personal page: its emailed link opens it once, and "Leave" ends every grant the browser holds."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from booking.citizens import validate_citizen
from booking.links import manage_token_for
from booking.models import Booking, CitizenLink
from booking.services import BookingPolicy, confirm_booking, hold_slot
from scheduler.audit import Actor
from scheduler.db import utcnow
from scheduler.mail.compose import read_content
from scheduler.mail.models import OutboxMessage
from tests.booking_fixtures import bookable_setup
from tests.helpers import csrf_token
from tests.web.test_sealed_session import open_personal_page

CITIZEN = Actor("citizen", None, "citizen")
EMAIL = "anna@example.org"


def two_bookings(app: Flask, session: Any) -> list[Booking]:
    """Two confirmed bookings of one citizen, made with the application's own key (so manage tokens work)."""
    setup = bookable_setup(session)
    policy = BookingPolicy.from_config(app.config)
    who = validate_citizen(name="Анна Смирнова", email=EMAIL, phone="+7 912 345-67-89", applicant_type="individual")
    bookings = []
    policy = BookingPolicy(policy.hold_minutes, 5, policy.max_code_attempts, policy.secret_key)  # two at once
    for hour in (10, 12):
        held = hold_slot(session, topic=setup.topic, channel="video", start=setup.at(hour), citizen=who,
                         question="Вопрос о плите", now=setup.at(8) - timedelta(days=1), policy=policy, actor=CITIZEN)
        confirm_booking(session, held.booking, setup.at(8) - timedelta(days=1), CITIZEN)
        bookings.append(held.booking)
    session.commit()
    return bookings


def test_the_emailed_link_opens_the_page_once(app: Flask, client: FlaskClient, session: Any) -> None:
    bookings = two_bookings(app, session)
    path = open_personal_page(client, session, EMAIL)
    assert all(b.code in client.get("/me").get_data(as_text=True) for b in bookings)
    assert session.scalars(select(CitizenLink.used_at)).one() is not None

    # The same browser opening the link again: the session already carries the access.
    again = client.get(path)
    assert again.status_code == 302 and again.headers["Location"].endswith("/me")

    # Anyone else with the link (a forwarded email, a shared computer after "Leave"): a clear page, no access.
    other = app.test_client()
    refused = other.get(path)
    text = refused.get_data(as_text=True)
    assert refused.status_code == 410 and 'id="link-gone"' in text
    assert "Эта ссылка больше не открывает страницу" in text and 'name="email"' in text
    assert all(b.code not in text for b in bookings)
    assert all(b.code not in other.get("/me").get_data(as_text=True) for b in bookings)
    # The page offers a new link, which works.
    assert open_personal_page(other, session, EMAIL) != path
    assert all(b.code in other.get("/me").get_data(as_text=True) for b in bookings)


def test_the_personal_page_opens_each_booking_without_copying_tokens_into_the_session(
        app: Flask, client: FlaskClient, session: Any) -> None:
    """The proven email is the grant: the cookie does not grow with the number of bookings."""
    bookings = two_bookings(app, session)
    open_personal_page(client, session, EMAIL)
    assert all(client.get(f"/manage/{b.code}").status_code == 200 for b in bookings)
    with client.session_transaction() as held:
        assert held["citizen_email"] == EMAIL and "manage" not in held
    stranger = app.test_client()
    open_personal_page(stranger, session, EMAIL)
    with stranger.session_transaction() as held:
        held["citizen_email"] = "someone.else@example.org"  # even a (sealed) session for another email
    assert all(stranger.get(f"/manage/{b.code}").status_code == 404 for b in bookings)


def test_a_used_link_page_speaks_the_chosen_language(app: Flask, client: FlaskClient, session: Any) -> None:
    two_bookings(app, session)
    path = open_personal_page(client, session, EMAIL)
    other = app.test_client()
    other.post("/language", data={"lang": "en", "csrf_token": csrf_token(other, "/")})
    text = other.get(path).get_data(as_text=True)
    assert "each link works once" in text


def test_an_expired_link_opens_nothing(app: Flask, client: FlaskClient, session: Any, time_machine: Any) -> None:
    bookings = two_bookings(app, session)
    assert client.post("/me", data={"email": EMAIL, "csrf_token": csrf_token(client, "/me")}).status_code == 302
    link = session.scalars(select(CitizenLink)).one()
    time_machine.move_to(link.expires_at + timedelta(seconds=1), tick=False)
    mail = session.scalars(select(OutboxMessage).where(OutboxMessage.template == "citizen_link")).one()
    path = "/me/" + read_content(mail).text_body.split("/me/", 1)[1].split()[0]
    refused = client.get(path)
    assert refused.status_code == 410 and 'id="link-gone"' in refused.get_data(as_text=True)
    assert all(b.code not in client.get("/me").get_data(as_text=True) for b in bookings)
    assert link.used_at is None and link.expires_at < utcnow()


def test_leave_ends_every_grant(app: Flask, client: FlaskClient, session: Any) -> None:
    bookings = two_bookings(app, session)
    # A manage link from the confirmation email, then the personal page (which grants every booking).
    first = bookings[0]
    assert client.get(f"/manage/{first.code}?token={manage_token_for(first, app.config)}").status_code == 302
    open_personal_page(client, session, EMAIL)
    client.get("/me")
    assert all(client.get(f"/manage/{b.code}").status_code == 200 for b in bookings)
    with client.session_transaction() as held:
        held["tickets"] = {"T-1": "a-ticket-link-token"}
        held["lang"] = "en"

    left = client.post("/me/leave", data={"csrf_token": csrf_token(client, "/me")})
    assert left.status_code == 302
    # The next person at this computer can open none of them.
    assert all(client.get(f"/manage/{b.code}").status_code == 404 for b in bookings)
    page = client.get("/me").get_data(as_text=True)
    assert 'name="email"' in page and all(b.code not in page for b in bookings)
    with client.session_transaction() as held:
        assert set(held) - {"csrf_token", "_fresh"} == {"lang"}
