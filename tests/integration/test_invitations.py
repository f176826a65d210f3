"""A real booking's emails carry an invitation that a calendar program files at the right instant,
updates on reschedule (same UID, higher SEQUENCE) and removes on cancel (METHOD:CANCEL)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from flask import Flask
from icalendar import Calendar
from sqlalchemy import select

from booking.links import video_join_url
from booking.notifications import send_cancelled, send_confirmed, send_rescheduled
from booking.services import cancel_booking, reschedule_booking
from scheduler.audit import Actor
from scheduler.db import utcnow
from scheduler.mail.delivery import RetryPolicy, deliver_due
from scheduler.mail.models import OutboxMessage
from tests.booking_fixtures import bookable_setup
from tests.integration.test_workspace_services import confirmed

CITIZEN = Actor("citizen", None, "citizen")


@dataclass
class Outgoing:
    """A transport that keeps what the worker sends."""

    sent: list[EmailMessage] = field(default_factory=list)

    def send(self, message: EmailMessage) -> None:
        self.sent.append(message)


def invitation_in(session: Any, template: str) -> tuple[Any, str]:
    """The VEVENT of the email's text/calendar part, and the part's method parameter.

    The message goes out through the outbox worker's own path (which renders a booking's body
    and invitation as it takes the message), committed first as the request's boundary would.
    """
    session.commit()
    outgoing = Outgoing()
    report = deliver_due(session, outgoing, "okno <no-reply@okno.example.org>", utcnow() + timedelta(seconds=1),
                         RetryPolicy())
    assert report.sent == 1 and report.failed == 0
    [built] = outgoing.sent
    assert built["Subject"] == session.scalars(select(OutboxMessage.subject)
                                               .where(OutboxMessage.template == template)).one()
    # as it travels: serialised for SMTP (CRLF line ends), then read back
    sent = built.as_bytes(policy=policy.SMTP)
    email = message_from_bytes(sent, policy=policy.default)
    parts = [p for p in email.walk() if p.get_content_type() == "text/calendar"]
    assert parts, "no text/calendar part"
    attachments = [p for p in email.walk()
                   if p.get_filename() == "invite.ics" and p.get_content_type() != "text/calendar"]
    assert attachments, "no .ics attachment"
    part = parts[0]
    calendar = Calendar.from_ical(part.get_payload(decode=True))
    assert calendar["METHOD"] == part.get_param("method")
    assert attachments[0].get_payload(decode=True) == part.get_payload(decode=True)
    events = calendar.walk("VEVENT")
    assert len(events) == 1
    return events[0], str(calendar["METHOD"])


def test_the_invitation_follows_the_booking_through_reschedule_and_cancel(app: Flask, session: Any) -> None:
    setup = bookable_setup(session)
    booking = confirmed(session, setup, 10)
    now = setup.at(8) - timedelta(days=1)
    send_confirmed(session, booking, app.config, now)
    request, method = invitation_in(session, "booking_confirmed")
    assert method == "REQUEST"
    assert request.decoded("DTSTART") == setup.at(10) and request.decoded("DTEND") == setup.at(10, 30)
    assert request["LOCATION"] == video_join_url(booking, app.config)

    reschedule_booking(session, booking, setup.at(12), now, CITIZEN)
    send_rescheduled(session, booking, app.config, now)
    update, method = invitation_in(session, "booking_rescheduled")
    assert method == "REQUEST" and update["UID"] == request["UID"] and update["SEQUENCE"] > request["SEQUENCE"]
    assert update.decoded("DTSTART") == setup.at(12)

    cancel_booking(session, booking, now, CITIZEN)
    send_cancelled(session, booking, app.config, now)
    cancel, method = invitation_in(session, "booking_cancelled")
    assert method == "CANCEL" and cancel["STATUS"] == "CANCELLED"
    assert cancel["UID"] == request["UID"] and cancel["SEQUENCE"] > update["SEQUENCE"]
