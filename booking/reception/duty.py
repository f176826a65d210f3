"""An expert's duty at the desks today: per office, who is with them, who waits for them, who is expected."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from booking.models import Booking
from booking.reception.models import WaitingEntry, WaitingStatus
from booking.reception.services import day_bookings, day_waiting, duty_locations, local_today, visit_state
from scheduler.departments.models import Location
from scheduler.experts.models import Expert


@dataclass(frozen=True)
class DutyPlace:
    """One office where the expert is on duty today."""

    location: Location
    current: list[Booking]  # called or in consultation
    current_waiting: list[WaitingEntry]  # walk-ins called to this expert or being seen
    queue: list[Booking]  # checked in, waiting for this expert
    expected: list[Booking]  # booked, not arrived yet
    walk_ins: list[WaitingEntry]  # waiting walk-ins on a topic the expert consults on
    last_window: str  # where this expert last called a visitor to, offered again


def expert_duty(session: Session, expert: Expert, now: datetime) -> list[DutyPlace]:
    places = []
    topic_ids = {t.id for t in expert.topics}
    for location in duty_locations(session, expert, lambda loc: local_today(loc, now)):
        today = local_today(location, now)
        mine = [b for b in day_bookings(session, location, today) if b.expert_id == expert.id]
        waiting = day_waiting(session, location, today)
        places.append(DutyPlace(
            location=location,
            current=[b for b in mine if visit_state(b) in ("called", "in_consultation")],
            current_waiting=[w for w in waiting if w.expert_id == expert.id
                             and w.status in (WaitingStatus.CALLED, WaitingStatus.STARTED)],
            queue=[b for b in mine if visit_state(b) == "checked_in"],
            expected=[b for b in mine if visit_state(b) == "expected"],
            walk_ins=[w for w in waiting if w.status == WaitingStatus.WAITING and w.topic_id in topic_ids],
            last_window=_last_window(mine, waiting, expert),
        ))
    return places


def _last_window(bookings: list[Booking], waiting: list[WaitingEntry], expert: Expert) -> str:
    calls = [(b.called_at, b.call_window) for b in bookings if b.called_at is not None]
    calls += [(w.called_at, w.call_window) for w in waiting if w.called_at is not None and w.expert_id == expert.id]
    return max(calls)[1] if calls else ""
