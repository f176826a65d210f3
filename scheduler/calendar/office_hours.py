"""An office's opening hours on a date: weekly business hours read through the production calendar."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from typing import Protocol

__all__ = ["PRE_HOLIDAY_SHORTENING", "OfficeCalendar", "WeeklyHours", "office_hours_on"]

# Labour Code art. 95: the working day before a non-working holiday is one hour shorter.
PRE_HOLIDAY_SHORTENING = timedelta(hours=1)

WeeklyHours = Mapping[int, Sequence[tuple[time, time]]]
"""Weekday (Mon=0) -> the local ``(opens, closes)`` intervals of that weekday; missing = closed."""


class OfficeCalendar(Protocol):
    """What the opening-hours rule needs from a working calendar (``WorkingCalendar`` has it)."""

    def effective_weekday(self, day: date) -> int | None:
        """Weekday (Mon=0) whose hours apply on ``day``; None on a non-working day."""
        ...

    def is_pre_holiday(self, day: date) -> bool:
        """Whether ``day`` is a working day shortened by art. 95."""
        ...


def office_hours_on(day: date, weekly: WeeklyHours, calendar: OfficeCalendar) -> tuple[tuple[time, time], ...]:
    """The office's open intervals on ``day`` in local wall time, sorted and merged; () when closed.

    The one answer to "when is this office open on this date", shared by the slot engine, the
    follow-up deadline (close of business = the end of the last interval) and analytics:

    * a non-working day of ``calendar`` (holiday, day off, closed weekday) has no hours;
    * a working day uses the hours of its EFFECTIVE weekday, so a transferred working Saturday
      opens like the weekday it stands in for;
    * a pre-holiday day (art. 95) closes ``PRE_HOLIDAY_SHORTENING`` earlier: everything after
      (last close - 1 hour) is cut, so a break that the earlier close falls into simply becomes
      the end of the day, and a day shorter than the cut has no hours at all.  The shortening
      is a property of the office's day (its public close), not of each person's own pattern.
    """
    weekday = calendar.effective_weekday(day)
    if weekday is None:
        return ()
    intervals = _merged(weekly.get(weekday, ()))
    if not intervals or not calendar.is_pre_holiday(day):
        return intervals
    close = (datetime.combine(day, intervals[-1][1]) - PRE_HOLIDAY_SHORTENING).time()
    if intervals[-1][1] <= time(1, 0):  # a close before 01:00 would wrap to the previous evening
        return ()
    return tuple((opens, min(closes, close)) for opens, closes in intervals if opens < close)


def _merged(intervals: Sequence[tuple[time, time]]) -> tuple[tuple[time, time], ...]:
    """Sorted, with overlapping or touching intervals joined and empty ones dropped."""
    merged: list[tuple[time, time]] = []
    for opens, closes in sorted(intervals):
        if opens >= closes:
            continue
        if merged and opens <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], closes))
        else:
            merged.append((opens, closes))
    return tuple(merged)
