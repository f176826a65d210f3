"""Follow-up deadlines: N working days after the opening date, due at the close of business."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from scheduler.calendar.working_days import WorkingCalendar

__all__ = ["PRE_HOLIDAY_SHORTENING", "closing_time_from_hours", "followup_due_at"]

# Labour Code art. 95: the working day before a non-working holiday is one hour shorter.
PRE_HOLIDAY_SHORTENING = timedelta(hours=1)


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
    hours: Mapping[int, tuple[time, time]], calendar: WorkingCalendar
) -> Callable[[date], time]:
    """Build a ``closing_time`` for :func:`followup_due_at` from weekly business hours.

    ``hours`` maps a weekday (Mon=0) to local ``(opens, closes)``.  The close of the *effective*
    weekday is used, so a working Saturday closes like the weekday it stands in for.  On a RU
    pre-holiday day (:meth:`WorkingCalendar.is_pre_holiday`) the close is one hour earlier,
    because art. 95 shortens the staff's day and public offices close early accordingly; it is
    never moved before the opening time.  The mapping is copied, so later edits do not leak in.

    The returned callable raises ValueError for a day the department does not work or whose
    effective weekday has no hours: a deadline must never silently land on a closed day.
    """
    table = dict(hours)

    def closing_time(day: date) -> time:
        weekday = calendar.effective_weekday(day)
        if weekday is None:
            raise ValueError(f"{day} is not a working day of {calendar!r}")
        try:
            opens, closes = table[weekday]
        except KeyError:
            raise ValueError(f"no business hours for weekday {weekday} ({day})") from None
        if not calendar.is_pre_holiday(day):
            return closes
        shortened = datetime.combine(day, closes) - PRE_HOLIDAY_SHORTENING
        return max(shortened, datetime.combine(day, opens)).time()

    return closing_time
