"""A booking's email is rendered by the outbox worker: the request writes the row, the worker the body.

What the citizen receives is unchanged: the subject, the text with the manage link, and the
calendar invitation; a message whose booking is gone is given up visibly, never sent half-made.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask
from icalendar import Calendar
from sqlalchemy import select

from booking.apikeys import create_key
from booking.links import manage_url
from booking.models import Booking
from booking.notifications import BOOKING_MAIL
from scheduler.audit import Actor
from scheduler.db import utcnow
from scheduler.mail.compose import queue_email_for_worker, read_content, render_pending
from scheduler.mail.delivery import RetryPolicy, deliver_due
from scheduler.mail.models import OutboxMessage, OutboxStatus
from tests.booking_fixtures import bookable_setup
from tests.integration.test_invitations import Outgoing

SENDER = "okno <no-reply@okno.example.org>"


def deliver(session: Any) -> tuple[Outgoing, Any]:
    session.commit()  # as the request's boundary does
    outgoing = Outgoing()
    report = deliver_due(session, outgoing, SENDER, utcnow() + timedelta(seconds=1), RetryPolicy())
    return outgoing, report


def test_the_booking_request_leaves_the_body_to_the_worker_which_sends_it_whole(
        app: Flask, client: Any, session: Any) -> None:
    setup = bookable_setup(session)
    key = create_key(session, "Портал", Actor.system("test"))[1]
    body = {"topic": setup.topic.slug, "channel": "video", "start": setup.at(10).isoformat(),
            "citizen": {"name": "Анна Смирнова", "email": "anna@example.org", "phone": "+7 912 345-67-89",
                        "applicant_type": "individual"},
            "question": "Хочу заменить плиту.", "consent_personal_data": True}
    answer = client.post("/api/v1/bookings", json=body, headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 201
    booking = session.scalar(select(Booking).where(Booking.code == answer.get_json()["code"]))
    row = session.scalars(select(OutboxMessage).where(OutboxMessage.template == "booking_confirmed")).one()
    assert row.to_address == "anna@example.org" and row.subject.strip()
    assert render_pending(session, row) is not None, "the request rendered the body itself"
    # Pages and checks still read the whole message before the worker took it.
    assert manage_url(booking, app.config) in read_content(row).text_body

    outgoing, report = deliver(session)
    assert (report.sent, report.failed) == (1, 0)
    [email] = outgoing.sent
    assert email["Subject"] == row.subject and email["To"] == "anna@example.org"
    text = email.get_body(("plain",)).get_content()
    assert booking.citizen_name in text and manage_url(booking, app.config) in text
    [calendar_part] = [p for p in email.walk() if p.get_content_type() == "text/calendar"]
    invitation = Calendar.from_ical(calendar_part.get_payload(decode=True))
    assert invitation["METHOD"] == "REQUEST"
    [event] = invitation.walk("VEVENT")
    assert event.decoded("DTSTART") == setup.at(10)
    session.refresh(row)
    assert row.status == OutboxStatus.SENT and row.sealed_body is None


def test_a_message_whose_booking_is_gone_is_given_up_visibly(app: Flask, session: Any) -> None:
    with app.test_request_context():
        queue_email_for_worker(session, to="anna@example.org", template="booking_confirmed", subject="Запись",
                               kind=BOOKING_MAIL, facts={"booking": 10**9, "template": "booking_confirmed",
                                                         "at": utcnow().isoformat()})
    outgoing, report = deliver(session)
    assert (report.sent, report.failed, outgoing.sent) == (0, 1, [])
    row = session.scalars(select(OutboxMessage)).one()
    assert row.status == OutboxStatus.FAILED and "gone" in row.last_error
