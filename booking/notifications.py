"""Emails about bookings, written into the outbox inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from booking.codes import display_code
from booking.ical import invitation
from booking.links import ics_url, manage_url, video_join_url
from booking.models import Booking
from scheduler.mail.compose import Attachment, queue_email
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


def send_confirmed(session: Session, booking: Booking, config: Mapping[str, Any], now: datetime) -> None:
    queue_email(session, to=booking.citizen_email, template="booking_confirmed", locale=booking.locale,
                context=_context(booking, config), attachments=_invite_attachments(booking, config, now))


def send_rescheduled(session: Session, booking: Booking, config: Mapping[str, Any], now: datetime) -> None:
    queue_email(session, to=booking.citizen_email, template="booking_rescheduled", locale=booking.locale,
                context=_context(booking, config), attachments=_invite_attachments(booking, config, now))


def send_cancelled(session: Session, booking: Booking, config: Mapping[str, Any], now: datetime) -> None:
    queue_email(session, to=booking.citizen_email, template="booking_cancelled", locale=booking.locale,
                context=_context(booking, config), attachments=_invite_attachments(booking, config, now))
