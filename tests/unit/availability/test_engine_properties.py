"""Property tests: the engine agrees with a slow, obviously-correct minute-by-minute reference.

The reference shares no code with the engine: availability is a SET of wall-clock minutes per
(expert, location, date), windows are the maximal runs of consecutive minutes (which is what
merging overlapping and touching intervals means), and busy intervals are scanned linearly.
Inputs are generated on a 5/15-minute grid so the minute sets are exact.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.availability.engine import (
    BusyInterval,
    Channel,
    DateOverride,
    ReceptionWindow,
    Slot,
    TopicRules,
    WeeklyInterval,
    find_slots,
)

TOPIC_ID = 1
OTHER_TOPIC = 2
EXPERTS = (1, 2, 3)
LAST_MINUTE = 23 * 60 + 59  # times of day end at 23:59 at the latest
YEKT = ZoneInfo("Asia/Yekaterinburg")
# Around both 2026 European DST changes (Sundays 29 March and 25 October) and a quiet week.
BASE_DAYS = (date(2026, 3, 27), date(2026, 10, 23), date(2026, 5, 4))
ZONES = ("Europe/Moscow", "Europe/Berlin", "Asia/Almaty")

PROPERTY_SETTINGS = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@dataclass(frozen=True)
class FakeCalendar:
    weekends: frozenset[int] = frozenset({5, 6})
    holidays: frozenset[date] = frozenset()
    transfers: Mapping[date, int] = field(default_factory=dict)
    pre_holidays: frozenset[date] = frozenset()  # working days shortened by art. 95

    def effective_weekday(self, day: date) -> int | None:
        if day in self.transfers:
            return self.transfers[day]
        if day in self.holidays or day.weekday() in self.weekends:
            return None
        return day.weekday()

    def is_pre_holiday(self, day: date) -> bool:
        return day in self.pre_holidays and self.effective_weekday(day) is not None


# --------------------------------------------------------------------------- strategies


def clock(minute: int) -> time:
    return time(minute // 60, minute % 60)


def minute_of(t: time) -> int:
    return t.hour * 60 + t.minute


@st.composite
def any_span(draw: st.DrawFn) -> tuple[time, time]:
    """A (start, end) time-of-day pair on a 15-minute grid, anywhere in the day (end <= 23:59)."""
    start = draw(st.integers(0, 95)) * 15
    end = min(start + draw(st.integers(1, 48)) * 15, LAST_MINUTE)
    return clock(start), clock(end)


@st.composite
def daytime_span(draw: st.DrawFn) -> tuple[time, time]:
    """Office-like hours: starting 06:00-12:00 on a 15-minute grid, 2 to 10 hours long."""
    start = draw(st.integers(24, 48)) * 15
    return clock(start), clock(start + draw(st.integers(8, 40)) * 15)


@st.composite
def night_span(draw: st.DrawFn) -> tuple[time, time]:
    """Hours starting 00:00-03:00, 1 to 5 hours long: where European clocks change."""
    start = draw(st.integers(0, 12)) * 15
    return clock(start), clock(start + draw(st.integers(4, 20)) * 15)


def spans() -> st.SearchStrategy[tuple[time, time]]:
    """Mostly office-like hours (so windows overlap often), sometimes night or anywhere."""
    return st.one_of(daytime_span(), daytime_span(), night_span(), any_span())


@st.composite
def scenarios(draw: st.DrawFn, channel: Channel | None = None) -> dict[str, Any]:
    """Keyword arguments for ``find_slots``; ``channel`` fixes the channel or leaves it random."""
    tz = ZoneInfo(draw(st.sampled_from(ZONES)))
    base = draw(st.sampled_from(BASE_DAYS))
    first_day = base + timedelta(days=draw(st.integers(0, 2)))
    last_day = first_day + timedelta(days=draw(st.integers(1, 3)))
    days = [base + timedelta(days=n) for n in range(7)]
    day = st.sampled_from(days)
    if channel is None:
        channel = draw(st.sampled_from(["video", "in_person"]))

    duration = draw(st.sampled_from([15, 30, 45, 60, 90]))
    topic = TopicRules(
        topic_id=TOPIC_ID,
        duration=timedelta(minutes=duration),
        slot_interval=draw(st.sampled_from([None, timedelta(minutes=15), timedelta(minutes=30)])),
        buffer=timedelta(minutes=draw(st.sampled_from([0, 10, 15, 30]))),
        min_notice=timedelta(minutes=draw(st.sampled_from([0, 0, 30, 60, 24 * 60, 25 * 60]))),
        horizon_days=draw(st.sampled_from([0, 1, 2, 3, 7, 7, 7])),
        seats=draw(st.integers(1, 3)),
        channels=draw(st.sampled_from([frozenset({"video", "in_person"}), frozenset({channel})])),
    )
    calendar = FakeCalendar(
        weekends=draw(st.sampled_from([frozenset({5, 6}), frozenset()])),
        holidays=frozenset(draw(st.lists(day, max_size=2))),
        transfers=draw(st.dictionaries(day, st.integers(0, 6), max_size=1)),
        pre_holidays=frozenset(draw(st.lists(day, max_size=2))),
    )
    business_hours = draw(
        st.just({d: [(time(0), clock(LAST_MINUTE))] for d in range(7)})
        | st.dictionaries(st.integers(0, 6), st.lists(spans(), min_size=1, max_size=2), min_size=5, max_size=7)
    )
    patterns = draw(st.lists(weekly_rows(days, channel), min_size=2, max_size=6))
    weekly = [row for pattern in patterns for row in pattern]
    overrides = draw(st.lists(date_overrides(days), max_size=3))
    in_range = [first_day + timedelta(days=n) for n in range((last_day - first_day).days + 1)]
    reception = draw(
        st.lists(
            reception_windows([*in_range, first_day - timedelta(days=1), last_day + timedelta(days=1)], tz),
            min_size=3,
            max_size=8,
        )
        if channel == "in_person"
        else st.lists(reception_windows(days, tz), max_size=2)
    )
    # Often exactly on the 15-minute grid, so "start == now + notice" happens.
    now_minutes = draw(st.integers(-96, 2 * 96).map(lambda q: 15 * q) | st.integers(-288, 2 * 288).map(lambda f: 5 * f))
    now_wall = datetime.combine(base, time(0)) + timedelta(minutes=now_minutes)
    now = now_wall.replace(tzinfo=tz)
    groups = draw(st.lists(busy_intervals(in_range, tz), max_size=12))
    busy = [booking for group in groups for booking in group]
    return {
        "topic": topic,
        "channel": channel,
        "first_day": first_day,
        "last_day": last_day,
        "now": now,
        "tz": tz,
        "calendar": calendar,
        "business_hours": business_hours,
        "expert_ids": draw(st.sets(st.sampled_from(EXPERTS), min_size=2)),
        "weekly": weekly,
        "overrides": overrides,
        "reception": reception,
        "busy": busy,
    }


@st.composite
def weekly_rows(draw: st.DrawFn, days: Sequence[date], channel: Channel) -> list[WeeklyInterval]:
    """One pattern row repeated on several weekdays, mostly for the scenario's channel."""
    start, end = draw(spans())
    expert_id = draw(st.sampled_from(EXPERTS))
    row_channel = draw(st.sampled_from([channel, channel, channel, "video", "in_person"]))
    valid_from = draw(st.sampled_from([None] * 5 + list(days[:4])))
    valid_to = draw(st.sampled_from([None] * 5 + list(days[3:])))
    location_id = draw(st.sampled_from([None, None, None, 10, 11]))
    weekdays = draw(st.sampled_from([set(range(7)), set(range(5))]) | st.sets(st.integers(0, 6), min_size=1))
    return [
        WeeklyInterval(expert_id, row_channel, weekday, start, end, valid_from, valid_to, location_id)
        for weekday in sorted(weekdays)
    ]


@st.composite
def date_overrides(draw: st.DrawFn, days: Sequence[date]) -> DateOverride:
    first = draw(st.sampled_from(days))
    return DateOverride(
        expert_id=draw(st.sampled_from(EXPERTS)),
        first_day=first,
        last_day=first + timedelta(days=draw(st.integers(0, 2))),
        kind=draw(st.sampled_from(["absence", "hours"])),
        channel=draw(st.sampled_from([None, "video", "in_person"])),
        intervals=tuple(draw(st.lists(spans(), max_size=2))),
    )


@st.composite
def reception_windows(draw: st.DrawFn, days: Sequence[date], tz: ZoneInfo) -> ReceptionWindow:
    """Office 10 is in the department's zone, office 11 in Yekaterinburg."""
    location = draw(st.sampled_from([10, 11]))
    start, end = draw(spans())
    return ReceptionWindow(
        location_id=location,
        day=draw(st.sampled_from(days)),
        start=start,
        end=end,
        tz=tz if location == 10 else YEKT,
        topic_ids=draw(st.sampled_from([frozenset({TOPIC_ID})] * 3 + [frozenset({TOPIC_ID, 5}), frozenset({5})])),
        expert_ids=draw(st.sampled_from([frozenset(EXPERTS)] * 3 + [frozenset({1}), frozenset({2, 3})])),
    )


@st.composite
def busy_intervals(draw: st.DrawFn, days: Sequence[date], tz: ZoneInfo) -> list[BusyInterval]:
    """A booking on a 15-minute wall grid (so it often coincides with slot starts), sometimes
    repeated as a group booking of several seats."""
    quarter = draw(st.integers(28, 72) | st.integers(0, 95))
    wall = datetime.combine(draw(st.sampled_from(days)), time(0)) + timedelta(minutes=15 * quarter)
    start = wall.replace(tzinfo=draw(st.sampled_from([tz, tz, YEKT]))).astimezone(UTC)
    booking = BusyInterval(
        expert_id=draw(st.sampled_from(EXPERTS)),
        topic_id=draw(st.sampled_from([TOPIC_ID, TOPIC_ID, OTHER_TOPIC])),
        start=start,
        end=start + timedelta(minutes=draw(st.sampled_from([0, 15, 30, 45, 60, 90]))),
        buffer=timedelta(minutes=draw(st.sampled_from([0, 10, 15]))),
        location_id=draw(st.sampled_from([None, None, 10, 11])),
    )
    return [booking] * draw(st.sampled_from([1, 1, 2, 3]))


# --------------------------------------------------------------------------- reference


def minutes(spans_: Iterable[tuple[time, time]]) -> set[int]:
    return {m for start, end in spans_ for m in range(minute_of(start), minute_of(end))}


def own_minutes(s: dict[str, Any], expert: int, channel: str, day: date, location: int | None) -> tuple[set[int], bool]:
    """The expert's own minutes that day and whether an "hours" override supplied them."""
    applicable = [
        o
        for o in s["overrides"]
        if o.expert_id == expert and o.first_day <= day <= o.last_day and o.channel in (None, channel)
    ]
    if any(o.kind == "absence" for o in applicable):
        return set(), False
    if any(o.kind == "hours" for o in applicable):
        return minutes(iv for o in applicable if o.kind == "hours" for iv in o.intervals), True
    weekday = s["calendar"].effective_weekday(day)
    if weekday is None:
        return set(), False
    own = minutes(
        (r.start, r.end)
        for r in s["weekly"]
        if r.expert_id == expert
        and r.channel == channel
        and r.weekday == weekday
        and (r.valid_from is None or r.valid_from <= day)
        and (r.valid_to is None or day <= r.valid_to)
        and (channel == "video" or r.location_id in (None, location))
    )
    return own, False


def office_minutes(s: dict[str, Any], day: date) -> set[int]:
    """The office's open minutes on ``day``: its effective weekday's hours, the last hour cut on
    a pre-holiday day."""
    weekday = s["calendar"].effective_weekday(day)
    opening = minutes(s["business_hours"].get(weekday, ())) if weekday is not None else set()
    if opening and s["calendar"].is_pre_holiday(day):
        close = max(opening) + 1 - 60
        opening = {m for m in opening if m < close}
    return opening


def available(s: dict[str, Any], expert: int, day: date) -> Iterator[tuple[int | None, ZoneInfo, set[int]]]:
    """(location, zone, minutes) the expert is available on ``day`` for the scenario channel."""
    if s["channel"] == "video":
        own, overridden = own_minutes(s, expert, "video", day, None)
        yield None, s["tz"], own if overridden else own & office_minutes(s, day)
        return
    offices: dict[int, tuple[ZoneInfo, set[int]]] = {}
    for rw in s["reception"]:
        if rw.day == day and TOPIC_ID in rw.topic_ids and expert in rw.expert_ids:
            zone, mins = offices.setdefault(rw.location_id, (rw.tz, set()))
            mins |= minutes([(rw.start, rw.end)])
    for location, (zone, mins) in offices.items():
        own, overridden = own_minutes(s, expert, "in_person", day, location)
        office = office_minutes(s, day)
        if not overridden and office and s["calendar"].is_pre_holiday(day):
            own = {m for m in own if m <= max(office)}  # no visit past the shortened close
        yield location, zone, mins & own


def runs(mins: set[int]) -> Iterator[tuple[int, int]]:
    """Maximal runs of consecutive minutes as [start, end)."""
    start = None
    for m in range(LAST_MINUTE + 2):
        if m in mins and start is None:
            start = m
        elif m not in mins and start is not None:
            yield start, m
            start = None


def to_utc(wall: datetime, zone: ZoneInfo) -> datetime | None:
    """fold=0 instant of a wall time, or None if it does not exist (checked by round trip)."""
    instant = wall.replace(tzinfo=zone).astimezone(UTC)
    return instant if instant.astimezone(zone).replace(tzinfo=None) == wall else None


def seat_state(s: dict[str, Any], expert: int, start: datetime, end: datetime, location: int | None) -> int | None:
    """Seats taken for candidate [start, end) (UTC, end includes topic buffer) at ``location``,
    None if blocked (a seat elsewhere blocks: one expert, one place)."""
    taken = 0
    for b in s["busy"]:
        b_start, b_end = b.start, b.end + b.buffer
        if b.expert_id != expert or b_start >= b_end:
            continue
        if b.topic_id == TOPIC_ID and b_start == start and b.location_id == location:
            taken += 1
        elif b_start < end and start < b_end:
            return None
    return taken


def reference(s: dict[str, Any]) -> list[tuple[Any, ...]]:
    topic: TopicRules = s["topic"]
    if s["channel"] not in topic.channels:
        return []
    duration = int(topic.duration.total_seconds()) // 60
    step = int((topic.slot_interval or topic.duration).total_seconds()) // 60
    now = s["now"]
    horizon = now.astimezone(s["tz"]).date() + timedelta(days=topic.horizon_days)
    out = []
    day = s["first_day"] - timedelta(days=1)  # an office in another zone may reach across
    while day <= s["last_day"] + timedelta(days=1):
        for expert in sorted(s["expert_ids"]):
            for location, zone, mins in available(s, expert, day):
                for run_start, run_end in runs(mins):
                    for m in range(run_start, run_end - duration + 1, step):
                        wall = datetime.combine(day, time(0)) + timedelta(minutes=m)
                        start = to_utc(wall, zone)
                        end = to_utc(wall + topic.duration, zone)
                        if start is None or end is None or end - start != topic.duration:
                            continue
                        if start < now or start < now + topic.min_notice:
                            continue
                        local_day = start.astimezone(s["tz"]).date()
                        if local_day > horizon or not s["first_day"] <= local_day <= s["last_day"]:
                            continue
                        taken = seat_state(s, expert, start, end + topic.buffer, location)
                        if taken is None or taken >= topic.seats:
                            continue
                        out.append((start, end, expert, location, zone.key, topic.seats - taken))
        day += timedelta(days=1)
    return sorted(out, key=lambda r: (r[0], r[2], -1 if r[3] is None else r[3]))


def as_rows(slots: list[Slot]) -> list[tuple[Any, ...]]:
    return [
        (
            s.start.astimezone(UTC),
            s.end.astimezone(UTC),
            s.expert_id,
            s.location_id,
            s.start.tzinfo.key,  # type: ignore[union-attr]
            s.seats_left,
        )
        for s in slots
    ]


# --------------------------------------------------------------------------- properties


@PROPERTY_SETTINGS
@given(scenarios())
def test_every_slot_obeys_the_rules(s: dict[str, Any]) -> None:
    """Soundness, checked slot by slot against the rules directly."""
    slots = find_slots(**s)
    topic: TopicRules = s["topic"]
    today = s["now"].astimezone(s["tz"]).date()
    for slot in slots:
        start, end = slot.start.astimezone(UTC), slot.end.astimezone(UTC)
        assert slot.channel == s["channel"]
        assert slot.expert_id in s["expert_ids"]
        assert end - start == topic.duration
        assert slot.end - slot.start == topic.duration
        assert start >= s["now"]
        assert start >= s["now"] + topic.min_notice
        assert slot.start.astimezone(s["tz"]).date() <= today + timedelta(days=topic.horizon_days)
        assert 1 <= slot.seats_left <= topic.seats
        assert s["first_day"] <= slot.start.astimezone(s["tz"]).date() <= s["last_day"]
        local_day = slot.start.date()  # the window's date, in the zone the slot is shown in
        assert slot.end.date() == local_day, "never crosses midnight"

        own, overridden = own_minutes(s, slot.expert_id, s["channel"], local_day, slot.location_id)
        if not overridden:
            assert s["calendar"].effective_weekday(local_day) is not None
        used = set(
            range(
                minute_of(slot.start.time()),
                minute_of(slot.start.time()) + int(topic.duration.total_seconds()) // 60,
            )
        )
        assert used <= own
        if s["channel"] == "video" and not overridden:
            assert used <= office_minutes(s, local_day)

        taken = 0
        for b in s["busy"]:
            if b.expert_id != slot.expert_id or b.start >= b.end + b.buffer:
                continue
            if b.topic_id == TOPIC_ID and b.start == start and b.location_id == slot.location_id:
                taken += 1
                continue
            assert not (b.start < end + topic.buffer and start < b.end + b.buffer)
        assert slot.seats_left == topic.seats - taken

    keys = [(s_.expert_id, s_.start.astimezone(UTC), s_.location_id) for s_ in slots]
    assert len(keys) == len(set(keys))
    order = [(k[1], k[0]) for k in keys]
    assert order == sorted(order)


@PROPERTY_SETTINGS
@given(scenarios("video"))
def test_video_matches_reference(s: dict[str, Any]) -> None:
    """Completeness and soundness together: exactly the reference's slots, no more, no less."""
    assert as_rows(find_slots(**s)) == reference(s)


@PROPERTY_SETTINGS
@given(scenarios("in_person"))
def test_in_person_matches_reference(s: dict[str, Any]) -> None:
    """As above for in-person slots (reception windows, office zones, location rows)."""
    assert as_rows(find_slots(**s)) == reference(s)


@PROPERTY_SETTINGS
@given(scenarios(), st.data())
def test_bookings_on_offered_slots_match_reference(s: dict[str, Any], data: st.DataObject) -> None:
    """Book some offered slots (often several seats of the same topic) and compare again.

    Random bookings rarely land exactly on a grid start, so this aims the seat rule directly.
    """
    offered = find_slots(**s)
    if not offered:
        return
    picks = data.draw(st.lists(st.sampled_from(offered), min_size=1, max_size=4))
    extra = [
        BusyInterval(
            slot.expert_id,
            data.draw(st.sampled_from([TOPIC_ID, TOPIC_ID, TOPIC_ID, OTHER_TOPIC])),
            slot.start,
            slot.end,
            s["topic"].buffer,
            slot.location_id,
        )
        for slot in picks
        for _ in range(data.draw(st.integers(1, 3)))
    ]
    booked = {**s, "busy": [*s["busy"], *extra]}
    assert as_rows(find_slots(**booked)) == reference(booked)
