"""One home for a ticket's answer time in working hours: computed once, as its first answer is written.

The rating (booking.tickets.rating) averages the working hours from a ticket's opening to its
first answer. Working hours depend on the production calendar, which the database does not know,
so they are counted here, in Python, once per ticket: a session listener fills
``tickets.answer_working_hours`` whenever a flush writes a ticket whose first answer, opening or
owing department is new or changed (the answer service, a reassignment, a fixture or an import
alike). The rating then averages a column. The figure is the department's office hours and
calendar as they stood when the ticket was answered; the migration that added the column counted
the tickets answered before it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from booking.tickets.models import Ticket
from booking.tickets.services import ticket_hours
from scheduler.calendar import office_hours_on
from scheduler.departments.models import Department

_INPUTS = ("opened_at", "first_answered_at", "department_id", "department")


def working_hours_between(start: datetime, end: datetime, department: Department) -> float:
    """Working hours of ``department`` between two instants (its office hours on its working days)."""
    if end <= start:
        return 0.0
    zone = department.zone
    calendar = department.working_calendar
    weekly = ticket_hours(department)
    total = 0.0
    day = start.astimezone(zone).date()
    last = end.astimezone(zone).date()
    while day <= last:
        for opens, closes in office_hours_on(day, weekly, calendar):
            lo = max(start, datetime.combine(day, opens, tzinfo=zone))
            hi = min(end, datetime.combine(day, closes, tzinfo=zone))
            if hi > lo:
                total += (hi - lo).total_seconds() / 3600
        day += timedelta(days=1)
    return total


def answer_working_hours(ticket: Ticket, department: Department) -> float | None:
    """The working hours from the ticket's opening to its first answer (None while unanswered)."""
    if ticket.first_answered_at is None:
        return None
    return working_hours_between(ticket.opened_at, ticket.first_answered_at, department)


def _department_of(session: Session, ticket: Ticket) -> Department | None:
    """The owing department as this flush will write it: the one just set, or the one its id names."""
    if inspect(ticket).attrs.department.history.has_changes() or ticket.department_id is None:
        return ticket.department
    return session.get(Department, ticket.department_id)


def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    for ticket in [*session.new, *session.dirty]:
        if not isinstance(ticket, Ticket):
            continue
        state = inspect(ticket)
        if not state.pending and not any(state.attrs[name].history.has_changes() for name in _INPUTS):
            continue
        department = _department_of(session, ticket) if ticket.first_answered_at is not None else None
        ticket.answer_working_hours = None if department is None else answer_working_hours(ticket, department)


event.listen(Session, "before_flush", _before_flush)
