"""An expert's hours for one channel on one date, the rule the slot engine and analytics share."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Literal, Protocol

from scheduler.calendar.office_hours import WeeklyHours, office_hours_on

__all__ = [
    "Channel",
    "DateOverride",
    "DayCalendar",
    "ExpertHours",
    "LocalInterval",
    "WeeklyInterval",
    "expand_weekly",
    "intersect_intervals",
    "merge_intervals",
    "on_day",
]

Channel = Literal["video", "in_person"]

LocalInterval = tuple[datetime, datetime]
"""A half-open ``[start, end)`` interval of NAIVE wall-clock datetimes in some known zone."""


class DayCalendar(Protocol):
    """What the engine needs from a working-day calendar (``WorkingCalendar`` has it)."""

    def effective_weekday(self, day: date) -> int | None:
        """Weekday (Mon=0) whose hours apply on ``day``; None on a non-working day."""
        ...

    def is_pre_holiday(self, day: date) -> bool:
        """Whether ``day`` is a working day shortened by one hour (RU Labour Code art. 95)."""
        ...


@dataclass(frozen=True)
class WeeklyInterval:
    """One row of an expert's weekly working pattern."""

    expert_id: int
    channel: Channel
    weekday: int  # Mon=0
    start: time
    end: time  # end > start; never crosses midnight
    valid_from: date | None
    valid_to: date | None  # inclusive
    location_id: int | None = None  # in-person rows: the office (None = any)


@dataclass(frozen=True)
class DateOverride:
    expert_id: int
    first_day: date
    last_day: date  # inclusive
    kind: Literal["absence", "hours"]
    channel: Channel | None = None  # None = all channels
    intervals: tuple[tuple[time, time], ...] = ()  # "hours": replaces the weekly pattern


# --------------------------------------------------------------------------- interval algebra


def merge_intervals(intervals: Iterable[LocalInterval]) -> list[LocalInterval]:
    """Sort and merge overlapping or touching intervals; empty ones are discarded.

    Merging touching intervals is what makes a 9-12 + 12-13 pair one 9-13 window, so the grid
    is anchored once and a slot may span the seam.
    """
    merged: list[LocalInterval] = []
    for start, end in sorted(i for i in intervals if i[0] < i[1]):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def intersect_intervals(a: Sequence[LocalInterval], b: Sequence[LocalInterval]) -> list[LocalInterval]:
    """Intersection of two MERGED (sorted, disjoint) interval lists, by a linear sweep."""
    result: list[LocalInterval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        start = max(a[i][0], b[j][0])
        end = min(a[i][1], b[j][1])
        if start < end:
            result.append((start, end))
        if a[i][1] <= b[j][1]:
            i += 1
        else:
            j += 1
    return merge_intervals(result)


def on_day(day: date, times: Iterable[tuple[time, time]]) -> list[LocalInterval]:
    """Times of day placed on ``day`` as merged naive wall-time intervals."""
    return merge_intervals((datetime.combine(day, start), datetime.combine(day, end)) for start, end in times)


# --------------------------------------------------------------------------- expert hours


def expand_weekly(
    rows: Iterable[WeeklyInterval],
    *,
    expert_id: int,
    channel: Channel,
    day: date,
    weekday: int,
    location_id: int | None = None,
) -> list[LocalInterval]:
    """The expert's weekly-pattern hours for ``channel`` on ``day`` as merged wall intervals.

    ``weekday`` is the EFFECTIVE weekday (a transferred working Saturday uses the pattern of the
    weekday it replaces), while validity is checked against the real ``day``.  For in-person
    rows only those for any office (None) or for ``location_id`` apply.
    """
    return on_day(
        day,
        (
            (row.start, row.end)
            for row in rows
            if row.expert_id == expert_id
            and row.channel == channel
            and row.weekday == weekday
            and (row.valid_from is None or row.valid_from <= day)
            and (row.valid_to is None or day <= row.valid_to)
            and (row.location_id is None or location_id is None or row.location_id == location_id)
        ),
    )


class ExpertHours:
    """An expert's hours per channel and date, from weekly rows, overrides and the office calendar.

    Rows and overrides are indexed by expert and the calendar answers cached per date, so the
    per-day lookups of a long range stay cheap.  ``business_hours`` are the department's weekly
    opening hours (weekday -> local intervals); the office's hours on a date come from
    :func:`scheduler.calendar.office_hours.office_hours_on` (effective weekday, art. 95 shortening).
    """

    def __init__(
        self,
        weekly: Iterable[WeeklyInterval],
        overrides: Iterable[DateOverride],
        calendar: DayCalendar,
        business_hours: WeeklyHours,
    ) -> None:
        self._rows: dict[tuple[int, str, int], list[WeeklyInterval]] = defaultdict(list)
        for row in weekly:
            self._rows[(row.expert_id, row.channel, row.weekday)].append(row)
        self._overrides: dict[int, list[DateOverride]] = defaultdict(list)
        for override in overrides:
            self._overrides[override.expert_id].append(override)
        self._calendar = calendar
        self._business_hours = business_hours
        self._weekdays: dict[date, int | None] = {}
        self._office: dict[date, list[LocalInterval]] = {}

    def effective_weekday(self, day: date) -> int | None:
        """Cached calendar lookup (the calendar may be comparatively slow)."""
        if day not in self._weekdays:
            self._weekdays[day] = self._calendar.effective_weekday(day)
        return self._weekdays[day]

    def office(self, day: date) -> list[LocalInterval]:
        """The office's open hours on ``day`` (shortened on a pre-holiday day; none when closed)."""
        if day not in self._office:
            self._office[day] = on_day(day, office_hours_on(day, self._business_hours, self._calendar))
        return self._office[day]

    def channel_hours(
        self, expert_id: int, channel: Channel, day: date, location_id: int | None = None
    ) -> list[LocalInterval]:
        """The expert's hours for ``channel`` on ``day``: THE rule the engine and analytics share.

        * An "absence" override for this channel (or all channels) leaves nothing; an override
          for another channel changes nothing here.
        * An "hours" override for this channel (or all) replaces the weekly pattern, as given:
          an explicit dated decision is neither clipped by the office's hours nor shortened, and
          applies even on a non-working day.
        * Otherwise, on a working day, the weekly rows of the effective weekday valid on ``day``
          (in-person rows for any office or for ``location_id``), then
          - video: intersected with the office's hours on ``day`` (so a pre-holiday day ends an
            hour early and a transferred Saturday follows its weekday's hours);
          - in person: cut at the office's close on a pre-holiday day only.  In-person hours are
            not otherwise clipped by business hours (the reception window is the office's opening
            time for visitors), but the art. 95 hour is the office's hour, so a visit never runs
            past the shortened close.  The office's wall-clock hours are read in the office's own
            zone (``day`` is the office-local date).
        """
        own, overridden = self.hours(expert_id, channel, day, location_id)
        if overridden or not own:
            return own
        if channel == "video":
            return intersect_intervals(own, self.office(day))
        if self._calendar.is_pre_holiday(day):
            office = self.office(day)
            if office:
                return intersect_intervals(own, [(datetime.combine(day, time()), office[-1][1])])
        return own

    def hours(
        self, expert_id: int, channel: Channel, day: date, location_id: int | None = None
    ) -> tuple[list[LocalInterval], bool]:
        """The expert's own hours on ``day`` and whether they come from an "hours" override.

        Absence beats an hours override, which beats the weekly pattern; the pattern only
        applies on working days of the department calendar.  Overrides act only on their own
        channel (or on all when they name none).
        """
        applicable = [
            o
            for o in self._overrides.get(expert_id, ())
            if o.first_day <= day <= o.last_day and o.channel in (None, channel)
        ]
        if any(o.kind == "absence" for o in applicable):
            return [], False
        replacing = [o for o in applicable if o.kind == "hours"]
        if replacing:
            return on_day(day, (iv for o in replacing for iv in o.intervals)), True
        weekday = self.effective_weekday(day)
        if weekday is None:
            return [], False
        rows = self._rows.get((expert_id, channel, weekday), ())
        hours = expand_weekly(
            rows,
            expert_id=expert_id,
            channel=channel,
            day=day,
            weekday=weekday,
            location_id=location_id,
        )
        return hours, False
