"""Follow-up deadlines: N working days after the opening date, due at the close of business."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from scheduler.calendar.office_hours import PRE_HOLIDAY_SHORTENING, office_hours_on
from scheduler.calendar.working_days import WorkingCalendar

__all__ = ["PRE_HOLIDAY_SHORTENING", "closing_time_from_hours", "followup_due_at"]


def followup_due_at(
    opened_at: datetime,
    working_days: int,
    calendar: WorkingCalendar,
    tz: ZoneInfo,
    closing_time: Callable[[date], time],
) -> datetime:
    """When a follow-up opened at ``opened_at`` is due, as an aware UTC instant.

    Civil Code arts. 191-194: a term in days starts on the day *after* the event and ends at the
    end of its last day, which for an organisation is the close of business (art. 194 part 1).
    So the due instant is ``closing_time(d)`` local time on ``d``, the ``working_days``-th working
    day strictly after the LOCAL date of ``opened_at`` in ``tz``; an opening on a Sunday or a
    holiday still counts from the next day.  The local date decides, so 23:59 and 00:01 Moscow
    time are a day apart even though they are minutes apart in UTC.

    Raises ValueError for a naive ``opened_at`` (its date would be a guess) or a term below one
    working day.
    """
    if opened_at.tzinfo is None or opened_at.utcoffset() is None:
        raise ValueError("opened_at must be timezone-aware")
    if working_days < 1:
        raise ValueError(f"a term must be at least one working day, got {working_days}")
    opening_day = opened_at.astimezone(tz).date()
    due_day = calendar.add_working_days(opening_day, working_days)
    # A close falling in a DST gap resolves with fold=0 (the pre-transition offset), which
    # zoneinfo converts to a real instant; Russian and Kazakh zones have no DST today anyway.
    due_local = datetime.combine(due_day, closing_time(due_day), tzinfo=tz)
    return due_local.astimezone(UTC)


def closing_time_from_hours(
    hours: Mapping[int, tuple[time, time] | Sequence[tuple[time, time]]], calendar: WorkingCalendar
) -> Callable[[date], time]:
    """Build a ``closing_time`` for :func:`followup_due_at` from weekly business hours.

    ``hours`` maps a weekday (Mon=0) to local ``(opens, closes)`` or to a list of such intervals
    (a day with breaks).  The close of business is the end of the office's hours on that date
    (:func:`scheduler.calendar.office_hours.office_hours_on`, the answer the slot engine books
    by), so a working Saturday closes like the weekday it stands in for and a RU pre-holiday day
    (art. 95) an hour early: a follow-up is never due while citizens can still book.  A day the
    shortening leaves without hours closes at its opening time (a zero-length day, not a close
    before the opening).  The mapping is copied, so later edits do not leak in.

    The returned callable raises ValueError for a day the department does not work or whose
    effective weekday has no hours: a deadline must never silently land on a closed day.
    """
    table = {weekday: _intervals(spans) for weekday, spans in hours.items()}

    def closing_time(day: date) -> time:
        weekday = calendar.effective_weekday(day)
        if weekday is None:
            raise ValueError(f"{day} is not a working day of {calendar!r}")
        if not table.get(weekday):
            raise ValueError(f"no business hours for weekday {weekday} ({day})")
        open_hours = office_hours_on(day, table, calendar)
        return open_hours[-1][1] if open_hours else min(opens for opens, _ in table[weekday])

    return closing_time


def _intervals(spans: tuple[time, time] | Sequence[tuple[time, time]]) -> tuple[tuple[time, time], ...]:
    """One ``(opens, closes)`` pair or a list of them, as a tuple of pairs."""
    if len(spans) == 2 and all(isinstance(part, time) for part in spans):
        return (spans,)  # type: ignore[return-value]
    return tuple(spans)  # type: ignore[arg-type]
