"""Held consultations to open follow-up tickets from, and the config the ticket services read."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from booking.citizens import validate_citizen
from booking.models import Booking, BookingStatus
from booking.services import BookingPolicy, confirm_booking, hold_slot, transition
from scheduler.audit import Actor
from tests.booking_fixtures import Setup

POLICY = BookingPolicy(hold_minutes=15, active_per_topic=5, max_code_attempts=3, secret_key="k" * 40)
CITIZEN = Actor("citizen", None, "citizen")
CONFIG = {"SECRET_KEY": "k" * 40, "PUBLIC_BASE_URL": "http://okno.example.org", "TICKET_DUE_SOON_HOURS": 24,
          "TICKET_CONFIRMATION_DAYS": 7}


def completed_booking(session: Any, setup: Setup, n: int = 1, *, hour: int = 10, minute: int = 0,
                      email: str | None = None, partner_key_id: int | None = None) -> Booking:
    """A confirmed video consultation at ``setup.day`` ``hour:minute``, then marked held."""
    start = setup.at(hour, minute)
    before = start - timedelta(days=1)
    citizen = validate_citizen(name=f"Гражданин {n}", email=email or f"citizen{n}@example.org",
                               phone=f"+7 912 000-01-{n:02d}", applicant_type="individual")
    held = hold_slot(session, topic=setup.topic, channel="video", start=start, citizen=citizen,
                     question="Как заменить газовую плиту после перепланировки?", now=before, policy=POLICY,
                     actor=CITIZEN, expert_id=setup.experts[0].id, partner_key_id=partner_key_id,
                     source="api" if partner_key_id else "web")
    booking = held.booking
    confirm_booking(session, booking, before, CITIZEN)
    complete(session, booking, start + timedelta(minutes=30))
    return booking


def complete(session: Any, booking: Booking, at: datetime) -> None:
    booking.completed_at = at
    transition(session, booking, BookingStatus.COMPLETED, "completed", Actor.system("test"), at)
    session.flush()
