"""The workspace calendar's period: which local days a view shows and the expert's bookings on them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy.orm import Session

from booking.models import Booking
from booking.workspace.services import expert_bookings, local_day_bounds, week_start
from scheduler.experts.models import Expert

VIEWS = ("day", "week", "list")
LIST_DAYS = 7  # the phone list: a week from the chosen day, one consultation under another


@dataclass(frozen=True)
class Period:
    """The days a view shows around the chosen day, and how far its arrows move."""

    first: date
    days: int
    step: int


def period_for(view: str, chosen: date) -> Period:
    if view == "week":
        return Period(week_start(chosen), 7, 7)
    if view == "list":
        return Period(chosen, LIST_DAYS, LIST_DAYS)
    return Period(chosen, 1, 1)


@dataclass
class Agenda:
    period: Period
    bookings: list[Booking] = field(default_factory=list)
    by_day: dict[date, list[Booking]] = field(default_factory=dict)


def expert_agenda(session: Session, expert: Expert | None, period: Period) -> Agenda:
    """The expert's consultations in the period, also grouped by the department's local day (every day listed)."""
    agenda = Agenda(period, by_day={period.first + timedelta(days=n): [] for n in range(period.days)})
    if expert is None:
        return agenda
    zone = expert.department.zone
    starts, ends = local_day_bounds(period.first, period.days, zone)
    agenda.bookings = expert_bookings(session, expert, starts, ends)
    for item in agenda.bookings:
        agenda.by_day.setdefault(item.starts_at.astimezone(zone).date(), []).append(item)
    return agenda
