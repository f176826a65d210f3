"""Slot engine: computes bookable consultation slots from plain data (no Flask, no DB, no I/O).

The engine is a pure function of its inputs (``find_slots``).  All instants are timezone-aware;
times of day are naive ``time`` values read in the zone named by the rule that uses them.

Slot rules
==========

1. Dates and time zones.  ``first_day..last_day`` are inclusive and read in ``tz`` (the
   department's zone): a slot is returned iff its start, read in ``tz``, falls on one of those
   dates (for in-person slots in another zone this may select a reception window of the day
   before or after, so callers pass windows for one extra day each side).  For each date and
   expert the expert's windows are built in LOCAL wall time, the slot grid is computed in local
   wall time, and each slot start/end is converted to an aware instant with zoneinfo
   (``datetime.combine(day, t, tzinfo=zone)``).  DST:

   * a slot whose local start or end does not exist (spring-forward gap) is dropped; existence
     is checked by a ``fold`` round trip (wall -> UTC -> wall must give the same wall time);
   * an ambiguous wall time (fall-back) is read with ``fold=0``, i.e. the FIRST occurrence;
     the grid visits each wall time once, so the repeated hour is offered only once;
   * a slot must last exactly ``topic.duration`` in absolute time; a slot whose wall-clock span
     contains a clock change (so that its real length differs) is dropped.  Consequently
     returned slots never straddle a DST transition, and ``end - start`` is the topic duration
     both in wall time and in absolute time.

2. Video windows.  The expert's video hours on the date, ``ExpertHours.channel_hours`` in
   ``scheduler.availability.hours`` (the rule analytics shares): on a working date the
   expert's ``WeeklyInterval`` rows of channel ``"video"`` for the EFFECTIVE weekday
   (``calendar.effective_weekday(day)``; a transferred working Saturday uses the weekday it
   stands in for) that are valid on the date (``valid_from``/``valid_to`` inclusive),
   intersected with the office's hours on that date, ``scheduler.calendar.office_hours_on``:
   ``business_hours`` of the effective weekday (weekday missing = closed), cut one hour early
   at the close on a pre-holiday day (``calendar.is_pre_holiday``, Labour Code art. 95), so a
   9-18 office offers 60-minute slots 09:00..16:00 on such a day.  A ``DateOverride`` of kind
   ``"hours"`` (channel ``"video"`` or None) covering the date REPLACES the weekly rows for that
   date; its intervals are neither clipped by business hours nor shortened, and apply even on
   non-working days.  An ``"absence"`` override (channel ``"video"`` or None) covering the date
   removes everything for that expert that day and takes precedence over ``"hours"``.  The
   shortening belongs to the office's day, not to each person: an expert whose own hours end
   before the shortened close keeps them whole.

3. In-person windows.  Only from ``ReceptionWindow``s whose ``topic_ids`` contain the topic and
   whose ``expert_ids`` contain the expert, intersected with the expert's ``"in_person"`` weekly
   rows for that date whose ``location_id`` is None or equals the window's location, all read in
   the LOCATION's timezone.  An ``"hours"`` override (channel ``"in_person"`` or None) replaces the
   weekly rows (still intersected with the reception window); an ``"absence"`` removes.  On a
   non-working day of the department calendar there are no in-person slots unless an ``"hours"``
   override exists; weekly rows, overrides and the calendar are read for the window's own
   (location-local) ``day``.  Business hours do not clip in-person slots (the reception window
   is the office's opening time), except on a pre-holiday day: weekly in-person hours then end
   at the office's shortened close (the end of ``office_hours_on`` for that day, read as wall
   time in the location's zone), so a 10-18 reception window in a 9-18 office closes at 17:00;
   an ``"hours"`` override is, as for video, taken as given.  The slot's ``location_id`` is the
   window's location and the slot is expressed in the location's zone.

4. Grid.  Windows of the same expert/channel/location/date are merged first when they overlap
   or touch (9-12 and 12-13 become 9-13).  Slots lie on a grid anchored at the START of each
   merged window, stepping by ``slot_interval`` (default: ``duration``); a slot is offered only
   if ``[start, start + duration]`` fits in the window; a slot ending exactly at the window end
   IS offered.  Intervals never cross midnight (a night shift is two rows on two dates) and
   windows of different dates are never merged, so slots never cross the midnight seam.

5. Notice and horizon.  A slot is offered iff ``start >= now + min_notice`` (equality offered)
   and ``start >= now`` (past slots never, even with a negative notice), and iff its start date
   read in ``tz`` is ``<= (now in tz).date() + horizon_days``.

6. Buffers.  Every busy interval occupies ``[start, end + its buffer)``; a candidate slot is
   free iff ``[start, end + topic.buffer)`` overlaps nothing the expert holds (half-open, so
   touching is allowed), whatever the topic or channel of the busy interval - an expert is one
   person.  Seats exception: busy intervals of the SAME expert, SAME topic, SAME start and SAME
   place (``location_id``: the office, None for video) count as taken seats instead of
   blocking: the slot is offered while ``count < topic.seats`` with ``seats_left = seats -
   count``.  Such group bookings still block other overlapping candidate slots, including the
   same start at another office: seats belong to one expert in one place at one time.  (With
   ``seats == 1`` a single booking therefore removes the slot.)

7. Uniqueness.  A slot is listed at most once per ``(expert, start, location)``.  Different
   experts' slots are separate entries.

8. Complexity.  Busy intervals are pre-indexed per expert (sorted starts, prefix maximum of
   ends, ``bisect``), so each candidate costs O(log bookings).

Further decisions: a channel not in ``topic.channels`` yields no slots; an ``"absence"`` with a
specific channel removes only that channel; several ``"hours"`` overrides on one date are
united; the result is sorted by ``(start instant, expert_id, location_id)``.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from scheduler.availability.hours import (
    Channel,
    DateOverride,
    DayCalendar,
    ExpertHours,
    LocalInterval,
    WeeklyInterval,
    expand_weekly,
    intersect_intervals,
    merge_intervals,
)

__all__ = [
    "BusyIndex",
    "BusyInterval",
    "Channel",
    "DateOverride",
    "DayCalendar",
    "LocalInterval",
    "ReceptionWindow",
    "Slot",
    "TopicRules",
    "WeeklyInterval",
    "expand_weekly",
    "find_slots",
    "grid_starts",
    "intersect_intervals",
    "merge_intervals",
    "wall_to_utc",
]


@dataclass(frozen=True)
class TopicRules:
    topic_id: int
    duration: timedelta
    slot_interval: timedelta | None  # grid step; None = duration
    buffer: timedelta  # after each consultation of this topic
    min_notice: timedelta
    horizon_days: int
    seats: int  # >= 1
    channels: frozenset[str]

    @property
    def step(self) -> timedelta:
        """The grid step: ``slot_interval`` or, when unset, the duration."""
        return self.slot_interval if self.slot_interval is not None else self.duration


@dataclass(frozen=True)
class ReceptionWindow:
    """One concrete reception window of an office on a date (already expanded by the caller)."""

    location_id: int
    day: date
    start: time
    end: time
    tz: ZoneInfo  # the location's timezone
    topic_ids: frozenset[int]
    expert_ids: frozenset[int]  # experts on duty


@dataclass(frozen=True)
class BusyInterval:
    """An existing active booking (or hold) of an expert."""

    expert_id: int
    topic_id: int
    start: datetime
    end: datetime
    buffer: timedelta  # that booking's topic buffer
    location_id: int | None = None  # the office of an in-person booking (None: video)


@dataclass(frozen=True)
class Slot:
    start: datetime  # aware, in the zone the slot was computed in
    end: datetime
    channel: Channel
    expert_id: int
    location_id: int | None
    seats_left: int


# --------------------------------------------------------------------------- time zones


def wall_to_utc(wall: datetime, zone: ZoneInfo) -> datetime | None:
    """The UTC instant of a naive wall time in ``zone``; None if the wall time does not exist.

    Ambiguous wall times (fall-back) resolve to the first occurrence (``fold=0``).  Existence is
    a round trip: a wall time in a spring-forward gap comes back as a different wall time.
    """
    instant = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != wall:
        return None
    return instant


def grid_starts(window: LocalInterval, duration: timedelta, step: timedelta) -> Iterator[datetime]:
    """Wall-time starts anchored at the window start whose ``[start, start+duration]`` fits."""
    start, end = window
    while start + duration <= end:
        yield start
        start += step


# --------------------------------------------------------------------------- busy index


class BusyIndex:
    """Per-expert busy intervals sorted by start, with a prefix maximum of their ends.

    A candidate ``[s, e)`` overlaps a busy interval iff some interval starting before ``e`` ends
    after ``s``.  Splitting the intervals starting before ``e`` into "before s", "at s" and
    "inside (s, e)" lets the first and last groups be answered by ``bisect`` plus the prefix
    maximum, and leaves only the (seat) group starting exactly at ``s`` to inspect one by one.
    """

    def __init__(self, busy: Iterable[BusyInterval]) -> None:
        self._build((b.expert_id, _utc(b.start), _utc(b.end) + b.buffer, b.topic_id, b.location_id) for b in busy)

    @classmethod
    def from_utc(cls, rows: Iterable[tuple[int, datetime, datetime, int, int | None]]) -> BusyIndex:
        """The index of ``(expert_id, start, end + buffer, topic_id, location_id)`` rows whose instants
        are already in UTC: what a search reads from its database, without an object per booking."""
        index = cls.__new__(cls)
        index._build(rows)
        return index

    def _build(self, rows: Iterable[tuple[int, datetime, datetime, int, int | None]]) -> None:
        grouped: dict[int, list[tuple[datetime, datetime, int, int | None]]] = defaultdict(list)
        for expert_id, start, end, topic_id, location_id in rows:
            if start < end:  # an empty interval occupies nothing
                grouped[expert_id].append((start, end, topic_id, location_id))
        self._starts: dict[int, list[datetime]] = {}
        self._max_ends: dict[int, list[datetime]] = {}
        self._seats: dict[int, list[tuple[int, int | None]]] = {}
        for expert_id, items in grouped.items():
            items.sort(key=lambda item: (item[0], item[1]))
            max_ends: list[datetime] = []
            for _, end, _, _ in items:
                max_ends.append(max(end, max_ends[-1]) if max_ends else end)
            self._starts[expert_id] = [item[0] for item in items]
            self._max_ends[expert_id] = max_ends
            self._seats[expert_id] = [(item[2], item[3]) for item in items]

    def seats_taken(
        self, expert_id: int, start: datetime, end: datetime, topic_id: int, location_id: int | None = None
    ) -> int | None:
        """Seats already taken in candidate ``[start, end)`` (UTC), or None if it is blocked.

        Only intervals of the same topic AND the same place (office, or none for video) starting
        exactly at ``start`` count as seats; any other overlap blocks the candidate, so a seat
        taken at one office blocks the expert at every other office (one person, one place).
        """
        starts = self._starts.get(expert_id)
        if not starts:
            return 0
        before = bisect_left(starts, start)
        if before and self._max_ends[expert_id][before - 1] > start:
            return None
        at_end = bisect_right(starts, start, lo=before)
        if bisect_left(starts, end, lo=at_end) > at_end:
            return None
        if at_end > before:
            seats = self._seats[expert_id]
            if any(seats[i] != (topic_id, location_id) for i in range(before, at_end)):
                return None
        return at_end - before


def _utc(instant: datetime) -> datetime:
    """``instant`` in UTC; naive datetimes are rejected rather than guessed."""
    if instant.tzinfo is UTC:
        return instant
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"naive datetime not allowed: {instant!r}")
    return instant.astimezone(UTC)


# --------------------------------------------------------------------------- windows


@dataclass(frozen=True)
class _Window:
    """Merged wall-time windows of one expert for one channel/location/date, with their zone."""

    expert_id: int
    location_id: int | None
    zone: ZoneInfo
    intervals: list[LocalInterval]


def _video_windows(hours: ExpertHours, experts: Sequence[int], days: Sequence[date], tz: ZoneInfo) -> Iterator[_Window]:
    """Rule 2: the experts' video hours (``ExpertHours.channel_hours``) per date."""
    for day in days:
        for expert_id in experts:
            intervals = hours.channel_hours(expert_id, "video", day)
            if intervals:
                yield _Window(expert_id, None, tz, intervals)


def _in_person_windows(
    hours: ExpertHours,
    experts: Sequence[int],
    days: Sequence[date],
    topic_id: int,
    reception: Iterable[ReceptionWindow],
) -> Iterator[_Window]:
    """Rule 3: reception windows on duty for the topic, intersected with the expert's hours."""
    wanted_days = set(days)
    wanted_experts = set(experts)
    opened: dict[tuple[int, int, date, ZoneInfo], list[LocalInterval]] = defaultdict(list)
    for rw in reception:
        if topic_id not in rw.topic_ids or rw.day not in wanted_days:
            continue
        interval = (datetime.combine(rw.day, rw.start), datetime.combine(rw.day, rw.end))
        for expert_id in rw.expert_ids & wanted_experts:
            opened[(expert_id, rw.location_id, rw.day, rw.tz)].append(interval)
    for (expert_id, location_id, day, zone), parts in opened.items():
        own = hours.channel_hours(expert_id, "in_person", day, location_id)
        intervals = intersect_intervals(merge_intervals(parts), own)
        if intervals:
            yield _Window(expert_id, location_id, zone, intervals)


# --------------------------------------------------------------------------- main entry point


def find_slots(
    *,
    topic: TopicRules,
    channel: Channel,
    first_day: date,
    last_day: date,
    now: datetime,
    tz: ZoneInfo,
    calendar: DayCalendar,
    business_hours: Mapping[int, Sequence[tuple[time, time]]],
    expert_ids: Iterable[int],
    weekly: Iterable[WeeklyInterval],
    overrides: Iterable[DateOverride],
    reception: Iterable[ReceptionWindow],
    busy: Iterable[BusyInterval] | BusyIndex,
) -> list[Slot]:
    """Every bookable slot of ``topic`` on ``channel``, sorted by (start, expert_id).

    See the module docstring for the exact rules.  The function is pure so that the web layer,
    the booking transaction (re-validation of a chosen slot) and tests all share one truth.
    ``busy`` may come as an index already built (``BusyIndex.from_utc``).
    """
    _validate(topic, now)
    if channel not in topic.channels or first_day > last_day:
        return []
    today = now.astimezone(tz).date()
    limits = _Limits(
        earliest=max(_utc(now), _utc(now) + topic.min_notice),
        first_day=first_day,
        last_day=min(last_day, today + timedelta(days=topic.horizon_days)),
    )
    experts = sorted(set(expert_ids))
    hours = ExpertHours(weekly, overrides, calendar, business_hours)
    if channel == "video":
        days = _candidate_days(limits.first_day, limits.last_day, today, pad=0)
        windows = _video_windows(hours, experts, days, tz)
    else:
        days = _candidate_days(limits.first_day, limits.last_day, today, pad=1)
        windows = _in_person_windows(hours, experts, days, topic.topic_id, reception)
    index = busy if isinstance(busy, BusyIndex) else BusyIndex(busy)
    return _bookable(windows, topic, channel, limits, _SlotClock(topic.duration, tz), index)


@dataclass(frozen=True)
class _Limits:
    """Rules 1 and 5 as bounds: earliest start instant and the department dates offered."""

    earliest: datetime  # UTC: max(now, now + min_notice)
    first_day: date
    last_day: date  # min(last requested day, today + horizon_days)


def _bookable(
    windows: Iterable[_Window],
    topic: TopicRules,
    channel: Channel,
    limits: _Limits,
    clock: _SlotClock,
    index: BusyIndex,
) -> list[Slot]:
    """Grid slots of the windows that pass notice, horizon and busy checks (rules 4-7), sorted.

    One sweep per window along its grid (``grid_starts``), each candidate resolved to instants once per
    distinct wall time (``_SlotClock``); this loop runs for every candidate of a whole topic, so it
    reads its settings into locals once.
    """
    duration, step, buffer, seats, topic_id = topic.duration, topic.step, topic.buffer, topic.seats, topic.topic_id
    earliest, first_day, last_day = limits.earliest, limits.first_day, limits.last_day
    resolve, seats_taken = clock.resolve, index.seats_taken
    found: dict[tuple[int, datetime, int | None], tuple[datetime, int, int, Slot]] = {}
    for window in windows:
        expert_id, location_id, zone = window.expert_id, window.location_id, window.zone
        place = -1 if location_id is None else location_id  # None first in the listing
        for interval in window.intervals:
            for wall in grid_starts(interval, duration, step):
                when = resolve(wall, zone)
                if when is None or when.start < earliest or not first_day <= when.day <= last_day:
                    continue
                key = (expert_id, when.start, location_id)
                if key in found:
                    continue
                taken = seats_taken(expert_id, when.start, when.end + buffer, topic_id, location_id)
                if taken is not None and taken < seats:
                    found[key] = (when.start, expert_id, place, Slot(
                        when.local_start, when.local_end, channel, expert_id, location_id, seats - taken))
    # Sorted by instant, then expert, then location: (expert, start, location) is unique, so the
    # slots themselves are never compared.
    return [item[3] for item in sorted(found.values())]


def _validate(topic: TopicRules, now: datetime) -> None:
    """Reject inputs that would loop forever or silently mean something else."""
    if topic.duration <= timedelta(0):
        raise ValueError("topic duration must be positive")
    if topic.step <= timedelta(0):
        raise ValueError("slot interval must be positive")
    if topic.seats < 1:
        raise ValueError("topic seats must be at least 1")
    _utc(now)


def _candidate_days(first_day: date, last_day: date, today: date, *, pad: int) -> list[date]:
    """Local dates whose windows can hold a slot starting on ``first_day..last_day`` in ``tz``.

    ``pad`` days each side cover offices in another zone (offset differences within Russia and
    its neighbours are well under a day); dates before today (in the department's zone, or
    ``2 * pad`` days before it elsewhere) cannot hold a future slot.  The exact date, notice and
    horizon checks are applied per slot.
    """
    lo = max(first_day - timedelta(days=pad), today - timedelta(days=2 * pad))
    hi = last_day + timedelta(days=pad)
    return [lo + timedelta(days=n) for n in range((hi - lo).days + 1)]


@dataclass(frozen=True)
class _Instants:
    """A grid slot resolved to instants: UTC for comparisons, local for the result."""

    start: datetime  # UTC
    end: datetime  # UTC
    local_start: datetime
    local_end: datetime
    day: date  # start date in the department zone (for the horizon)


class _SlotClock:
    """Memoised wall time -> instants conversion for one slot duration (rule 1).

    Experts of one department mostly share hours, so the same wall-time grid recurs for every
    expert; resolving each distinct (wall time, zone) once keeps zoneinfo work proportional to
    the distinct times rather than to experts x slots.
    """

    def __init__(self, duration: timedelta, tz: ZoneInfo) -> None:
        self._duration = duration
        self._tz = tz
        self._memo: dict[tuple[datetime, ZoneInfo], _Instants | None] = {}

    def resolve(self, wall_start: datetime, zone: ZoneInfo) -> _Instants | None:
        """Instants of the slot starting at ``wall_start``; None if DST makes it invalid.

        Invalid means: the wall start or end does not exist (spring-forward gap), or a clock
        change inside the slot makes its real length differ from the topic duration.
        """
        key = (wall_start, zone)
        if key not in self._memo:
            self._memo[key] = self._compute(wall_start, zone)
        return self._memo[key]

    def _compute(self, wall_start: datetime, zone: ZoneInfo) -> _Instants | None:
        start = wall_to_utc(wall_start, zone)
        end = wall_to_utc(wall_start + self._duration, zone)
        if start is None or end is None or end - start != self._duration:
            return None
        return _Instants(
            start,
            end,
            start.astimezone(zone),
            end.astimezone(zone),
            start.astimezone(self._tz).date(),
        )
