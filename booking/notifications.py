"""Emails about bookings, written into the outbox inside the caller's transaction.

A booking's confirmation, move and cancellation are queued with their subject only: the outbox
worker renders the body and the calendar invitation when it takes the message (``render_booking_mail``),
so the request that books never renders them, and never while it holds the expert's lock. The
body shows the booking as it stands when the message goes out; the worker is nudged at the commit,
so that is moments later (a later change is mailed on its own all the same). The confirmation
code is rendered at once: it is kept nowhere else in clear.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flask import current_app, render_template
from flask_babel import force_locale
from sqlalchemy.orm import Session

from booking.codes import display_code
from booking.ical import invitation
from booking.links import ics_url, manage_url, video_join_url
from booking.models import Booking
from scheduler.mail.compose import Attachment, queue_email, queue_email_for_worker, register_renderer, render_email
from scheduler.mail.models import MailContent
from scheduler.schedules.models import Channel


def _context(booking: Booking, config: Mapping[str, Any]) -> dict[str, Any]:
    zone = booking.location.zone if booking.location is not None else booking.topic.department.zone
    return {
        "booking": booking,
        "code": display_code(booking.code),
        "zone": zone,
        "manage_url": manage_url(booking, config),
        "ics_url": ics_url(booking, config),
        "video_url": video_join_url(booking, config) if booking.channel == Channel.VIDEO else None,
        "video_opens_minutes": config["VIDEO_OPENS_MINUTES_BEFORE"],
    }


def _invite_attachments(booking: Booking, config: Mapping[str, Any], now: datetime) -> list[Attachment]:
    data = invitation(booking, config, now)
    method = "CANCEL" if booking.status.value == "cancelled" else "REQUEST"
    return [
        Attachment("invite.ics", "text/calendar", data, inline=True, params={"method": method, "charset": "utf-8"}),
        Attachment("invite.ics", "application/ics", data),
    ]


def send_confirmation_code(session: Session, booking: Booking, code: str, config: Mapping[str, Any]) -> None:
    queue_email(session, to=booking.citizen_email, template="booking_code", locale=booking.locale,
                context={**_context(booking, config), "confirmation_code": code,
                         "hold_minutes": config["BOOKING_HOLD_MINUTES"]})


BOOKING_MAIL = "booking"


def _queue_for_worker(session: Session, booking: Booking, template: str, config: Mapping[str, Any],
                      now: datetime) -> None:
    if booking.id is None:
        session.flush()  # the worker finds the booking by its id
    with force_locale(booking.locale):
        subject = render_template(f"email/{template}.subject.txt", **_context(booking, config))
    queue_email_for_worker(session, to=booking.citizen_email, template=template, subject=" ".join(subject.split()),
                           kind=BOOKING_MAIL, facts={"booking": booking.id, "template": template,
                                                     "at": now.isoformat()})


def render_booking_mail(session: Session, facts: dict[str, Any]) -> MailContent:
    """The body and invitation of a booking's message, rendered by the outbox worker."""
    booking = session.get(Booking, facts["booking"])
    if booking is None:
        raise ValueError(f"booking {facts['booking']} is gone")
    config = current_app.config
    now = datetime.fromisoformat(facts["at"])
    _subject, content = render_email(facts["template"], _context(booking, config), booking.locale,
                                     _invite_attachments(booking, config, now))
    return content


def install_booking_mail() -> None:
    register_renderer(BOOKING_MAIL, render_booking_mail)


def send_confirmed(session: Session, booking: Booking, config: Mapping[str, Any], now: datetime) -> None:
    _queue_for_worker(session, booking, "booking_confirmed", config, now)


def send_rescheduled(session: Session, booking: Booking, config: Mapping[str, Any], now: datetime) -> None:
    _queue_for_worker(session, booking, "booking_rescheduled", config, now)


def send_cancelled(session: Session, booking: Booking, config: Mapping[str, Any], now: datetime) -> None:
    _queue_for_worker(session, booking, "booking_cancelled", config, now)
