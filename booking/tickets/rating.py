"""Department rating: how each department answers its follow-up tickets, per day and for a period.

A ticket counts on the day it is *due* (the department's local date of ``due_at``): "on 3 March the
gas office had 12 tickets due, 10 answered on time, 2 overdue". Figures per department and day:

* ``due`` — tickets due that day;
* ``answered_on_time`` — first answered at or before the due time;
* ``overdue`` — first answered after the due time, or still unanswered and past due at ``now``;
* ``avg_answer_hours`` — mean time from opening to the first answer, in *working* hours (the
  department's office hours on its working days, as ``scheduler.calendar.office_hours_on`` gives
  them: an hour shorter on a pre-holiday day, like the bookable day and the deadline).
  Working hours depend on the production calendar, which the database does not know: each
  ticket's are counted once, in Python, when its first answer is written
  (``booking.tickets.answer_hours``), and the database averages the stored figure;
* ``confirmation_rate`` — of the tickets answered, the share the citizen confirmed (closed);
* ``reopen_rate`` — of the tickets answered, the share rejected at least once.

Counting is done by the database (``GROUP BY`` department and local due date). The local date is
computed in SQL: on PostgreSQL with the department's IANA zone; on SQLite, which has no zones,
with each department's UTC offset at the start of the period (exact for zones without daylight
saving time, which is every Russian and Kazakh zone today).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Date, Float, Integer, case, cast, func, select
from sqlalchemy.orm import Session

from booking.models import Booking
from booking.tickets.models import AWAITING_ANSWER, Ticket, TicketStatus
from scheduler.departments.models import Department


@dataclass(frozen=True, slots=True)
class RatingRow:
    """One department's figures for one day (``day``) or for the whole period (``day is None``)."""

    department_id: int
    department_slug: str
    department_title: str
    day: date | None
    due: int
    answered: int
    answered_on_time: int
    overdue: int
    confirmed: int
    reopened: int
    avg_answer_hours: float | None

    @property
    def confirmation_rate(self) -> float | None:
        return self.confirmed / self.answered if self.answered else None

    @property
    def reopen_rate(self) -> float | None:
        return self.reopened / self.answered if self.answered else None

    @property
    def on_time_rate(self) -> float | None:
        return self.answered_on_time / self.due if self.due else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "department": self.department_slug, "day": self.day.isoformat() if self.day else None,
            "due": self.due, "answered_on_time": self.answered_on_time, "overdue": self.overdue,
            "avg_answer_hours": self.avg_answer_hours, "confirmation_rate": self.confirmation_rate,
            "reopen_rate": self.reopen_rate,
        }


def _local_due_date(session: Session, departments: list[Department], at: datetime) -> Any:
    """SQL for the department's local date of ``tickets.due_at``."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.timezone(Department.timezone, Ticket.due_at), Date)
    modifiers = {}
    for department in departments:
        offset = department.zone.utcoffset(at.replace(tzinfo=None)) or timedelta(0)
        modifiers[department.id] = f"{int(offset.total_seconds() // 60):+d} minutes"
    shift = case(modifiers, value=Ticket.department_id, else_="+0 minutes") if modifiers else "+0 minutes"
    return func.date(Ticket.due_at, shift)


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def department_rating(session: Session, first: date, last: date, now: datetime,
                      department_ids: Iterable[int] | None = None, *, topic_ids: Iterable[int] | None = None,
                      channel: str | None = None) -> list[RatingRow]:
    """Per department and local due date, ``first`` to ``last`` inclusive; sorted by department, day.

    ``topic_ids`` and ``channel`` narrow the count to tickets from consultations on those topics or
    that channel (for the analytics by topic and channel).
    """
    query = select(Department).order_by(Department.title, Department.id)
    if department_ids is not None:
        query = query.where(Department.id.in_(list(department_ids)))
    departments = list(session.scalars(query))
    if not departments:
        return []
    by_id = {d.id: d for d in departments}
    # Instants bounding every department's local days, with a day's margin for the zones.
    lower = datetime.combine(first - timedelta(days=1), time(), tzinfo=UTC)
    upper = datetime.combine(last + timedelta(days=2), time(), tzinfo=UTC)
    local_day = _local_due_date(session, departments, lower).label("day")
    answered = Ticket.first_answered_at.is_not(None)

    def count_if(condition: Any) -> Any:
        return func.sum(case((condition, 1), else_=0)).cast(Integer)

    base: tuple[Any, ...] = (Ticket.department_id.in_(list(by_id)), Ticket.due_at >= lower, Ticket.due_at < upper)
    if topic_ids is not None or channel is not None:
        consultations = select(Booking.id)
        if topic_ids is not None:
            consultations = consultations.where(Booking.topic_id.in_(list(topic_ids)))
        if channel is not None:
            consultations = consultations.where(Booking.channel == channel)
        base = (*base, Ticket.booking_id.in_(consultations))
    counted = session.execute(
        select(
            Ticket.department_id, local_day, func.count(Ticket.id),
            count_if(answered),
            count_if(answered & (Ticket.first_answered_at <= Ticket.due_at)),
            count_if((answered & (Ticket.first_answered_at > Ticket.due_at))
                     | (Ticket.status.in_(AWAITING_ANSWER) & Ticket.first_answered_at.is_(None)
                        & (Ticket.due_at <= now))),
            count_if(Ticket.status == TicketStatus.CLOSED),
            count_if(answered & (Ticket.reopen_count > 0)),
            func.avg(case((answered, Ticket.answer_working_hours), else_=None)).cast(Float),
        ).select_from(Ticket).join(Department, Department.id == Ticket.department_id)
        .where(*base).group_by(Ticket.department_id, local_day)
    ).all()

    rows = []
    for department_id, day, due, n_answered, on_time, overdue, confirmed, reopened, spent in counted:
        day = _as_date(day)
        if not first <= day <= last:
            continue
        department = by_id[department_id]
        rows.append(RatingRow(department_id, department.slug, department.title, day, int(due), int(n_answered or 0),
                              int(on_time or 0), int(overdue or 0), int(confirmed or 0), int(reopened or 0),
                              round(float(spent), 2) if spent is not None else None))
    order = {d.id: n for n, d in enumerate(departments)}
    rows.sort(key=lambda r: (order[r.department_id], r.day))
    return rows


def period_rating(session: Session, first: date, last: date, now: datetime,
                  department_ids: Iterable[int] | None = None, *, topic_ids: Iterable[int] | None = None,
                  channel: str | None = None) -> list[RatingRow]:
    """One row per department for the whole period (``day`` None), from the daily rows."""
    return period_totals(department_rating(session, first, last, now, department_ids, topic_ids=topic_ids,
                                           channel=channel))


def period_totals(daily: list[RatingRow]) -> list[RatingRow]:
    """The period's row per department, summed from its daily rows (avg_answer_hours weighted by answers)."""
    totals: dict[int, RatingRow] = {}
    weights: dict[int, tuple[float, int]] = {}
    for row in daily:
        if row.avg_answer_hours is not None:
            spent, n = weights.get(row.department_id, (0.0, 0))
            weights[row.department_id] = (spent + row.avg_answer_hours * row.answered, n + row.answered)
        total = totals.get(row.department_id)
        if total is None:
            totals[row.department_id] = replace(row, day=None, avg_answer_hours=None)
            continue
        totals[row.department_id] = replace(
            total, due=total.due + row.due, answered=total.answered + row.answered,
            answered_on_time=total.answered_on_time + row.answered_on_time, overdue=total.overdue + row.overdue,
            confirmed=total.confirmed + row.confirmed, reopened=total.reopened + row.reopened)
    result = []
    for department_id, row in totals.items():
        spent, n = weights.get(department_id, (0.0, 0))
        result.append(replace(row, avg_answer_hours=round(spent / n, 2) if n else None))
    return result
