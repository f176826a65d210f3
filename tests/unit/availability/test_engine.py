"""Table-driven tests of the slot engine: one row per rule of ``scheduler.availability.engine``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from scheduler.availability.engine import (
    BusyInterval,
    Channel,
    DateOverride,
    ReceptionWindow,
    Slot,
    TopicRules,
    WeeklyInterval,
    find_slots,
    merge_intervals,
)
from scheduler.calendar import calendar_for

MSK = ZoneInfo("Europe/Moscow")
YEKT = ZoneInfo("Asia/Yekaterinburg")
BERLIN = ZoneInfo("Europe/Berlin")
ALMATY = ZoneInfo("Asia/Almaty")

MON = date(2026, 3, 2)
TUE = date(2026, 3, 3)
SAT = date(2026, 3, 7)
SUN_BEFORE = date(2026, 3, 1)
SPRING_FORWARD = date(2026, 3, 29)  # Europe/Berlin 02:00 -> 03:00
FALL_BACK = date(2026, 10, 25)  # Europe/Berlin 03:00 -> 02:00

TOPIC_ID = 1
OTHER_TOPIC = 99


@dataclass(frozen=True)
class FakeCalendar:
    """Weekends + holidays + official transfers (a weekend date working as another weekday)."""

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


ALWAYS_WORKING = FakeCalendar(weekends=frozenset())


def hm(text: str) -> time:
    return time.fromisoformat(text)


def at(day: date, text: str, zone: ZoneInfo = MSK) -> datetime:
    return datetime.combine(day, hm(text), tzinfo=zone)


def topic(**changes: Any) -> TopicRules:
    values: dict[str, Any] = {
        "topic_id": TOPIC_ID,
        "duration": timedelta(minutes=30),
        "slot_interval": None,
        "buffer": timedelta(0),
        "min_notice": timedelta(0),
        "horizon_days": 30,
        "seats": 1,
        "channels": frozenset({"video", "in_person"}),
    }
    for key, value in changes.items():
        values[key] = (
            timedelta(minutes=value)
            if isinstance(value, int) and key in {"duration", "slot_interval", "buffer", "min_notice"}
            else value
        )
    return TopicRules(**values)


def rows(
    *spans: str,
    expert: int = 1,
    channel: Channel = "video",
    weekdays: Iterable[int] = range(5),
    valid_from: date | None = None,
    valid_to: date | None = None,
    location: int | None = None,
) -> list[WeeklyInterval]:
    """Weekly rows from spans like ``"09:00-12:00"``."""
    result = []
    for weekday in weekdays:
        for span in spans:
            start, end = span.split("-")
            result.append(WeeklyInterval(expert, channel, weekday, hm(start), hm(end), valid_from, valid_to, location))
    return result


def hours(*spans: str) -> tuple[tuple[time, time], ...]:
    return tuple((hm(s.split("-")[0]), hm(s.split("-")[1])) for s in spans)


def busy(
    start: datetime, minutes: int, *, topic_id: int = OTHER_TOPIC, buffer: int = 0, expert: int = 1
) -> BusyInterval:
    return BusyInterval(expert, topic_id, start, start + timedelta(minutes=minutes), timedelta(minutes=buffer))


def reception(
    location: int,
    day: date,
    span: str,
    zone: ZoneInfo = MSK,
    *,
    topics: Iterable[int] = (TOPIC_ID,),
    experts: Iterable[int] = (1,),
) -> ReceptionWindow:
    start, end = span.split("-")
    return ReceptionWindow(location, day, hm(start), hm(end), zone, frozenset(topics), frozenset(experts))


OFFICE_HOURS = {d: hours("09:00-18:00") for d in range(5)}
ALL_DAY = {d: hours("00:00-23:59") for d in range(7)}


def run(**changes: Any) -> list[Slot]:
    args: dict[str, Any] = {
        "topic": topic(),
        "channel": "video",
        "first_day": MON,
        "last_day": MON,
        "now": at(SUN_BEFORE, "12:00"),
        "tz": MSK,
        "calendar": FakeCalendar(),
        "business_hours": OFFICE_HOURS,
        "expert_ids": [1],
        "weekly": rows("09:00-12:00"),
        "overrides": [],
        "reception": [],
        "busy": [],
    }
    args.update(changes)
    return find_slots(**args)


def starts(slots: list[Slot]) -> list[str]:
    return [f"{s.start:%H:%M}" for s in slots]


BASE = ["09:00", "09:30", "10:00", "10:30", "11:00", "11:30"]

# --------------------------------------------------------------------------- video rules

VIDEO_CASES = [
    pytest.param({}, BASE, id="baseline-grid"),
    pytest.param({"weekly": rows("09:10-11:00")}, ["09:10", "09:40", "10:10"], id="grid-anchored-at-start"),
    pytest.param({"weekly": rows("09:00-10:00"), "topic": topic(duration=60)}, ["09:00"], id="exact-end-fit"),
    pytest.param({"weekly": rows("09:00-09:59"), "topic": topic(duration=60)}, [], id="one-minute-short"),
    pytest.param(
        {"weekly": rows("09:00-10:30"), "topic": topic(duration=45, slot_interval=15)},
        ["09:00", "09:15", "09:30", "09:45"],
        id="slot-interval-smaller-than-duration",
    ),
    pytest.param(
        {"weekly": rows("09:00-10:00", "10:30-12:00"), "topic": topic(duration=45)},
        ["09:00", "10:30", "11:15"],
        id="break-restarts-grid",
    ),
    pytest.param(
        {"weekly": rows("09:00-10:15", "10:15-11:00"), "topic": topic(duration=45)},
        ["09:00", "09:45"],
        id="adjacent-rows-merge",
    ),
    pytest.param({"weekly": rows("09:00-11:00", "10:00-12:00")}, BASE, id="overlapping-rows-merge"),
    pytest.param(
        {"now": at(MON, "08:00"), "topic": topic(min_notice=120)},
        ["10:00", "10:30", "11:00", "11:30"],
        id="notice-equality-offered",
    ),
    pytest.param(
        {"now": at(MON, "08:01"), "topic": topic(min_notice=120)},
        ["10:30", "11:00", "11:30"],
        id="notice-one-minute-short",
    ),
    pytest.param({"now": at(MON, "10:15")}, ["10:30", "11:00", "11:30"], id="past-dropped"),
    pytest.param({"now": at(MON, "10:00")}, BASE[2:], id="starting-now-offered"),
    pytest.param(
        {"now": at(MON, "10:15"), "topic": topic(min_notice=-60)},
        ["10:30", "11:00", "11:30"],
        id="negative-notice-never-past",
    ),
    pytest.param({"topic": topic(horizon_days=1)}, BASE, id="horizon-edge-included"),
    pytest.param({"topic": topic(horizon_days=0)}, [], id="horizon-excludes-tomorrow"),
    pytest.param(
        {"now": at(SUN_BEFORE, "00:01"), "topic": topic(horizon_days=1)},
        BASE,
        id="horizon-counts-dates-not-24h",
    ),
    pytest.param(
        {"busy": [busy(at(MON, "10:00"), 30)]},
        ["09:00", "09:30", "10:30", "11:00", "11:30"],
        id="busy-touching-allowed",
    ),
    pytest.param(
        {"busy": [busy(at(MON, "10:00"), 30, buffer=15)]},
        ["09:00", "09:30", "11:00", "11:30"],
        id="busy-own-buffer-blocks",
    ),
    pytest.param(
        {"busy": [busy(at(MON, "10:10"), 5)]},
        ["09:00", "09:30", "10:30", "11:00", "11:30"],
        id="busy-inside-slot",
    ),
    pytest.param(
        {"busy": [busy(at(MON, "10:00"), 30)], "topic": topic(buffer=15)},
        ["09:00", "10:30", "11:00", "11:30"],
        id="candidate-buffer-blocks",
    ),
    pytest.param(
        {"busy": [busy(at(MON, "10:15"), 30)], "topic": topic(buffer=15)},
        ["09:00", "09:30", "11:00", "11:30"],
        id="candidate-buffer-touching-allowed",
    ),
    pytest.param({"busy": [busy(at(MON, "10:00"), 30, expert=2)]}, BASE, id="other-experts-busy-ignored"),
    pytest.param(
        {"busy": [busy(at(MON, "10:00"), 30, topic_id=OTHER_TOPIC)], "topic": topic(seats=3)},
        ["09:00", "09:30", "10:30", "11:00", "11:30"],
        id="cross-topic-blocks-even-with-seats",
    ),
    pytest.param(
        {"busy": [busy(at(MON, "10:00"), 30, topic_id=TOPIC_ID)]},
        ["09:00", "09:30", "10:30", "11:00", "11:30"],
        id="single-seat-booked",
    ),
    pytest.param(
        {"busy": [busy(at(MON, "10:00", UTC) + timedelta(hours=-3), 30)]},
        ["09:00", "09:30", "10:30", "11:00", "11:30"],
        id="busy-in-another-zone",
    ),
    pytest.param({"calendar": FakeCalendar(holidays=frozenset({MON}))}, [], id="holiday"),
    pytest.param(
        {
            "calendar": FakeCalendar(holidays=frozenset({MON})),
            "overrides": [DateOverride(1, MON, MON, "hours", None, hours("09:00-10:00"))],
        },
        ["09:00", "09:30"],
        id="holiday-with-hours-override",
    ),
    pytest.param(
        {"first_day": SAT, "last_day": SAT, "weekly": rows("09:00-12:00", weekdays=range(7))},
        [],
        id="weekend",
    ),
    pytest.param(
        {
            "first_day": SAT,
            "last_day": SAT,
            "calendar": FakeCalendar(transfers={SAT: 0}),
            "weekly": rows("09:00-10:00", weekdays=[0]) + rows("14:00-15:00", weekdays=[5]),
        },
        ["09:00", "09:30"],
        id="transferred-saturday-uses-monday-pattern",
    ),
    pytest.param(
        {
            "first_day": SAT,
            "last_day": SAT,
            "calendar": FakeCalendar(transfers={SAT: 0}),
            "business_hours": {0: hours("09:00-09:30")},
        },
        ["09:00"],
        id="transferred-saturday-uses-monday-business-hours",
    ),
    pytest.param({"overrides": [DateOverride(1, SUN_BEFORE, TUE, "absence")]}, [], id="absence"),
    pytest.param(
        {
            "overrides": [
                DateOverride(1, MON, MON, "hours", "video", hours("09:00-10:00")),
                DateOverride(1, MON, MON, "absence", "video"),
            ]
        },
        [],
        id="absence-beats-hours",
    ),
    pytest.param(
        {"overrides": [DateOverride(1, MON, MON, "absence", "in_person")]},
        BASE,
        id="absence-other-channel-ignored",
    ),
    pytest.param(
        {"overrides": [DateOverride(1, MON, MON, "hours", "video", hours("17:30-19:00"))]},
        ["17:30", "18:00", "18:30"],
        id="hours-override-replaces-and-is-not-clipped",
    ),
    pytest.param(
        {"overrides": [DateOverride(1, MON, MON, "hours", "in_person", hours("17:30-19:00"))]},
        BASE,
        id="hours-override-other-channel-ignored",
    ),
    pytest.param(
        {"overrides": [DateOverride(1, MON, MON, "hours", None, ())]},
        [],
        id="empty-hours-override-means-no-hours",
    ),
    pytest.param({"weekly": rows("09:00-12:00", valid_from=TUE)}, [], id="valid-from-future"),
    pytest.param({"weekly": rows("09:00-12:00", valid_from=MON)}, BASE, id="valid-from-inclusive"),
    pytest.param({"weekly": rows("09:00-12:00", valid_to=MON)}, BASE, id="valid-to-inclusive"),
    pytest.param({"weekly": rows("09:00-12:00", valid_to=SUN_BEFORE)}, [], id="valid-to-past"),
    pytest.param(
        {"weekly": rows("08:00-12:00"), "business_hours": {0: hours("09:00-11:00")}},
        ["09:00", "09:30", "10:00", "10:30"],
        id="business-hours-clip",
    ),
    pytest.param(
        {
            "weekly": rows("12:00-15:00"),
            "business_hours": {0: hours("09:00-13:00", "14:00-18:00")},
        },
        ["12:00", "12:30", "14:00", "14:30"],
        id="business-hours-lunch-break",
    ),
    pytest.param({"business_hours": {1: hours("09:00-18:00")}}, [], id="business-closed-weekday"),
    pytest.param({"topic": topic(channels=frozenset({"in_person"}))}, [], id="channel-not-offered"),
    pytest.param({"expert_ids": [2]}, [], id="expert-filter"),
    pytest.param({"weekly": rows("09:00-12:00", channel="in_person")}, [], id="in-person-rows-not-video"),
]


@pytest.mark.parametrize(("changes", "expected"), VIDEO_CASES)
def test_video_rules(changes: dict[str, Any], expected: list[str]) -> None:
    slots = run(**changes)
    assert starts(slots) == expected
    for slot in slots:
        assert slot.channel == "video"
        assert slot.location_id is None
        assert slot.start.tzinfo is MSK
        assert slot.end - slot.start == run_topic(changes).duration


def run_topic(changes: dict[str, Any]) -> TopicRules:
    return changes.get("topic", topic())


# --------------------------------------------------------------------------- seats

SEAT_CASES = [
    pytest.param(0, 3, ["09:00/3", "09:30/3", "10:00/3", "10:30/3"], id="no-bookings"),
    pytest.param(2, 3, ["09:00/3", "09:30/3", "10:00/1", "10:30/3"], id="two-of-three"),
    pytest.param(3, 3, ["09:00/3", "09:30/3", "10:30/3"], id="three-of-three-full"),
    pytest.param(1, 1, ["09:00/1", "09:30/1", "10:30/1"], id="single-seat-full"),
]


@pytest.mark.parametrize(("booked", "seats", "expected"), SEAT_CASES)
def test_seats(booked: int, seats: int, expected: list[str]) -> None:
    group = [busy(at(MON, "10:00"), 30, topic_id=TOPIC_ID) for _ in range(booked)]
    slots = run(weekly=rows("09:00-11:00"), topic=topic(seats=seats), busy=group)
    assert [f"{s.start:%H:%M}/{s.seats_left}" for s in slots] == expected


def test_group_booking_blocks_overlapping_candidates() -> None:
    group = [busy(at(MON, "10:00"), 30, topic_id=TOPIC_ID)]
    slots = run(weekly=rows("09:30-11:00"), topic=topic(seats=3, slot_interval=15), busy=group)
    assert [f"{s.start:%H:%M}/{s.seats_left}" for s in slots] == [
        "09:30/3",
        "10:00/2",
        "10:30/3",
    ]


def test_seat_group_with_other_topic_at_same_start_blocks() -> None:
    booked = [
        busy(at(MON, "10:00"), 30, topic_id=TOPIC_ID),
        busy(at(MON, "10:00"), 30, topic_id=OTHER_TOPIC),
    ]
    slots = run(topic=topic(seats=3), busy=booked)
    assert "10:00" not in starts(slots)


# --------------------------------------------------------------------------- zones and DST

DST_CASES = [
    pytest.param(
        SPRING_FORWARD,
        30,
        ["01:00+01:00", "03:00+02:00", "03:30+02:00"],
        id="spring-forward-30",
    ),
    pytest.param(SPRING_FORWARD, 60, ["03:00+02:00"], id="spring-forward-60"),
    pytest.param(
        FALL_BACK,
        30,
        ["01:00+02:00", "01:30+02:00", "02:00+02:00", "03:00+01:00", "03:30+01:00"],
        id="fall-back-30",
    ),
    pytest.param(FALL_BACK, 60, ["01:00+02:00", "03:00+01:00"], id="fall-back-60"),
]


@pytest.mark.parametrize(("day", "minutes", "expected"), DST_CASES)
def test_berlin_dst(day: date, minutes: int, expected: list[str]) -> None:
    slots = run(
        tz=BERLIN,
        first_day=day,
        last_day=day,
        now=at(day - timedelta(days=1), "12:00", BERLIN),
        calendar=ALWAYS_WORKING,
        business_hours=ALL_DAY,
        weekly=rows("01:00-04:00", weekdays=range(7)),
        topic=topic(duration=minutes),
    )
    assert [s.start.isoformat()[11:16] + s.start.isoformat()[19:] for s in slots] == expected
    utc_starts = [s.start.astimezone(UTC) for s in slots]
    assert utc_starts == sorted(set(utc_starts)), "no duplicates, strictly increasing"
    for slot in slots:
        assert slot.end.astimezone(UTC) - slot.start.astimezone(UTC) == timedelta(minutes=minutes)
        assert slot.end - slot.start == timedelta(minutes=minutes)


@pytest.mark.parametrize("zone", [MSK, ALMATY, BERLIN], ids=lambda z: z.key)
def test_slots_are_in_department_zone(zone: ZoneInfo) -> None:
    slots = run(tz=zone, now=at(SUN_BEFORE, "12:00", zone))
    assert starts(slots) == BASE
    first = slots[0].start
    assert first.tzinfo is zone
    assert first.astimezone(UTC) == datetime.combine(MON, hm("09:00"), tzinfo=zone)


def test_moscow_instants() -> None:
    slots = run()
    assert slots[0].start.astimezone(UTC) == datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


def test_notice_is_measured_in_absolute_time_across_zones() -> None:
    """``now`` in UTC and slots in Almaty: notice compares instants, not wall clocks."""
    now = datetime.combine(MON, hm("09:00"), tzinfo=ALMATY).astimezone(UTC)
    slots = run(tz=ALMATY, now=now, topic=topic(min_notice=60))
    assert starts(slots) == ["10:00", "10:30", "11:00", "11:30"]


def test_midnight_seam_never_crossed() -> None:
    """22:00-23:59 on Monday and 00:00-02:00 on Tuesday are different dates: never merged."""
    weekly = rows("22:00-23:59", weekdays=[0]) + rows("00:00-02:00", weekdays=[1])
    slots = run(
        weekly=weekly,
        business_hours=ALL_DAY,
        last_day=TUE,
        topic=topic(duration=60, slot_interval=30),
    )
    assert [f"{s.start:%a %H:%M}-{s.end:%H:%M}" for s in slots] == [
        "Mon 22:00-23:00",
        "Mon 22:30-23:30",
        "Tue 00:00-01:00",
        "Tue 00:30-01:30",
        "Tue 01:00-02:00",
    ]


def test_multi_day_range_and_horizon() -> None:
    slots = run(last_day=date(2026, 3, 6), topic=topic(horizon_days=2, duration=180))
    assert [f"{s.start:%d %H:%M}" for s in slots] == ["02 09:00", "03 09:00"]


def test_two_periods_of_validity() -> None:
    weekly = rows("09:00-10:00", valid_to=MON) + rows("14:00-15:00", valid_from=TUE)
    slots = run(weekly=weekly, last_day=TUE, topic=topic(duration=60))
    assert [f"{s.start:%d %H:%M}" for s in slots] == ["02 09:00", "03 14:00"]


def test_sorted_by_start_then_expert() -> None:
    weekly = rows("09:00-10:00", expert=2) + rows("09:30-10:00", expert=1)
    slots = run(weekly=weekly, expert_ids=[2, 1])
    assert [(f"{s.start:%H:%M}", s.expert_id) for s in slots] == [
        ("09:00", 2),
        ("09:30", 1),
        ("09:30", 2),
    ]


# --------------------------------------------------------------------------- in person


def run_in_person(**changes: Any) -> list[Slot]:
    args: dict[str, Any] = {
        "channel": "in_person",
        "weekly": rows("09:00-12:00", channel="in_person"),
        "reception": [reception(5, MON, "09:00-11:00")],
    }
    args.update(changes)
    return run(**args)


def placed(slots: list[Slot]) -> list[str]:
    return [f"{s.start:%a %H:%M} {s.start.tzinfo}@{s.location_id}#{s.expert_id}" for s in slots]


IN_PERSON_CASES = [
    pytest.param(
        {},
        [
            "Mon 09:00 Europe/Moscow@5#1",
            "Mon 09:30 Europe/Moscow@5#1",
            "Mon 10:00 Europe/Moscow@5#1",
            "Mon 10:30 Europe/Moscow@5#1",
        ],
        id="reception-window",
    ),
    pytest.param(
        {"weekly": rows("10:00-12:00", channel="in_person")},
        ["Mon 10:00 Europe/Moscow@5#1", "Mon 10:30 Europe/Moscow@5#1"],
        id="intersected-with-weekly-rows",
    ),
    pytest.param(
        {"reception": [reception(5, MON, "09:00-11:00", topics=[OTHER_TOPIC])]},
        [],
        id="topic-not-received",
    ),
    pytest.param({"reception": [reception(5, MON, "09:00-11:00", experts=[2])]}, [], id="expert-not-on-duty"),
    pytest.param({"weekly": rows("09:00-12:00", channel="in_person", location=7)}, [], id="row-other-office"),
    pytest.param(
        {"weekly": rows("09:00-10:00", channel="in_person", location=5)},
        ["Mon 09:00 Europe/Moscow@5#1", "Mon 09:30 Europe/Moscow@5#1"],
        id="row-this-office",
    ),
    pytest.param({"weekly": rows("09:00-12:00")}, [], id="video-rows-not-in-person"),
    pytest.param(
        {
            "reception": [reception(5, MON, "09:00-10:00"), reception(5, MON, "09:30-10:30")],
            "weekly": rows("00:00-23:59", channel="in_person"),
            "topic": topic(duration=45),
        },
        ["Mon 09:00 Europe/Moscow@5#1", "Mon 09:45 Europe/Moscow@5#1"],
        id="overlapping-windows-same-office-merge",
    ),
    pytest.param(
        {
            "reception": [reception(5, MON, "09:00-10:00"), reception(6, MON, "09:00-10:00")],
            "topic": topic(duration=60),
        },
        ["Mon 09:00 Europe/Moscow@5#1", "Mon 09:00 Europe/Moscow@6#1"],
        id="same-time-two-offices-listed-once-each",
    ),
    pytest.param(
        {
            "reception": [reception(5, MON, "18:00-19:00")],
            "weekly": rows("18:00-19:00", channel="in_person"),
        },
        ["Mon 18:00 Europe/Moscow@5#1", "Mon 18:30 Europe/Moscow@5#1"],
        id="business-hours-do-not-clip-in-person",
    ),
    pytest.param({"calendar": FakeCalendar(holidays=frozenset({MON}))}, [], id="holiday-window-ignored"),
    pytest.param(
        {
            "calendar": FakeCalendar(holidays=frozenset({MON})),
            "overrides": [DateOverride(1, MON, MON, "hours", "in_person", hours("10:00-11:00"))],
        },
        ["Mon 10:00 Europe/Moscow@5#1", "Mon 10:30 Europe/Moscow@5#1"],
        id="holiday-with-hours-override",
    ),
    pytest.param(
        {
            "calendar": FakeCalendar(holidays=frozenset({MON})),
            "overrides": [DateOverride(1, MON, MON, "hours", "video", hours("10:00-11:00"))],
        },
        [],
        id="holiday-video-override-not-in-person",
    ),
    pytest.param(
        {"overrides": [DateOverride(1, MON, MON, "hours", None, hours("08:00-09:30"))]},
        ["Mon 09:00 Europe/Moscow@5#1"],
        id="hours-override-still-inside-reception",
    ),
    pytest.param({"overrides": [DateOverride(1, MON, MON, "absence", "in_person")]}, [], id="absence"),
    pytest.param(
        {"overrides": [DateOverride(1, MON, MON, "absence", "video")]},
        [
            "Mon 09:00 Europe/Moscow@5#1",
            "Mon 09:30 Europe/Moscow@5#1",
            "Mon 10:00 Europe/Moscow@5#1",
            "Mon 10:30 Europe/Moscow@5#1",
        ],
        id="video-absence-keeps-in-person",
    ),
    pytest.param({"reception": [reception(5, TUE, "09:00-11:00")]}, [], id="window-outside-date-range"),
    pytest.param(
        {
            "reception": [
                reception(11, MON, "01:00-02:00", YEKT),  # Sunday 23:00-00:00 in Moscow
                reception(11, TUE, "01:00-02:00", YEKT),  # Monday 23:00-00:00 in Moscow
            ],
            "weekly": rows("00:00-23:59", channel="in_person"),
            "topic": topic(duration=60),
        },
        ["Tue 01:00 Asia/Yekaterinburg@11#1"],
        id="date-range-read-in-department-zone",
    ),
    pytest.param({"topic": topic(channels=frozenset({"video"}))}, [], id="channel-not-offered"),
    pytest.param(
        {
            "reception": [reception(11, MON, "09:00-11:00", YEKT)],
            "now": at(MON, "06:30"),  # 08:30 in Yekaterinburg
            "topic": topic(min_notice=60),
        },
        [
            "Mon 09:30 Asia/Yekaterinburg@11#1",
            "Mon 10:00 Asia/Yekaterinburg@11#1",
            "Mon 10:30 Asia/Yekaterinburg@11#1",
        ],
        id="yekaterinburg-office-moscow-department",
    ),
    pytest.param(
        {
            "weekly": rows("09:00-11:00", channel="in_person", location=5)
            + rows("14:00-16:00", channel="in_person", location=11),
            "reception": [
                reception(5, MON, "08:00-18:00"),
                reception(11, MON, "08:00-18:00", YEKT),
            ],
            "topic": topic(duration=60),
        },
        [
            "Mon 09:00 Europe/Moscow@5#1",
            "Mon 10:00 Europe/Moscow@5#1",
            "Mon 14:00 Asia/Yekaterinburg@11#1",
            "Mon 15:00 Asia/Yekaterinburg@11#1",
        ],
        id="morning-moscow-afternoon-yekaterinburg",
    ),
    pytest.param(
        {
            "weekly": rows("09:00-10:00", channel="in_person", location=5, weekdays=[0])
            + rows("09:00-10:00", channel="in_person", location=11, weekdays=[1]),
            "reception": [
                reception(r_loc, r_day, "08:00-18:00", r_zone)
                for r_loc, r_zone in ((5, MSK), (11, YEKT))
                for r_day in (MON, TUE)
            ],
            "last_day": TUE,
            "topic": topic(duration=60),
        },
        ["Mon 09:00 Europe/Moscow@5#1", "Tue 09:00 Asia/Yekaterinburg@11#1"],
        id="two-offices-on-different-days",
    ),
]


@pytest.mark.parametrize(("changes", "expected"), IN_PERSON_CASES)
def test_in_person_rules(changes: dict[str, Any], expected: list[str]) -> None:
    slots = run_in_person(**changes)
    assert placed(slots) == expected
    assert all(s.channel == "in_person" for s in slots)


def test_in_person_busy_blocks_across_offices_and_channels() -> None:
    """A video booking 10:00-10:30 Moscow blocks the expert's Yekaterinburg 12:00 slot."""
    slots = run_in_person(
        reception=[reception(11, MON, "11:00-13:00", YEKT)],
        weekly=rows("00:00-23:59", channel="in_person"),
        busy=[busy(at(MON, "10:00"), 30)],
    )
    assert starts(slots) == ["11:00", "11:30", "12:30"]


def test_in_person_sorted_by_instant_across_zones() -> None:
    """09:30 Moscow (06:30Z) comes after 08:00 Yekaterinburg (03:00Z) and 11:00 Yekaterinburg."""
    slots = run_in_person(
        reception=[
            reception(5, MON, "09:30-10:00"),
            reception(11, MON, "08:00-08:30", YEKT),
            reception(11, MON, "11:00-11:30", YEKT, experts=[2]),
        ],
        weekly=rows("00:00-23:59", channel="in_person") + rows("00:00-23:59", channel="in_person", expert=2),
        expert_ids=[1, 2],
    )
    assert placed(slots) == [
        "Mon 08:00 Asia/Yekaterinburg@11#1",
        "Mon 11:00 Asia/Yekaterinburg@11#2",
        "Mon 09:30 Europe/Moscow@5#1",
    ]


# --------------------------------------------------------------------------- helpers, validation


def test_merge_intervals_merges_touching_and_drops_empty() -> None:
    def dt(text: str) -> datetime:
        return datetime.combine(MON, hm(text))

    merged = merge_intervals([(dt("12:00"), dt("13:00")), (dt("09:00"), dt("12:00")), (dt("14:00"), dt("14:00"))])
    assert merged == [(dt("09:00"), dt("13:00"))]


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"topic": topic(duration=0)}, id="zero-duration"),
        pytest.param({"topic": topic(slot_interval=0)}, id="zero-interval"),
        pytest.param({"topic": topic(seats=0)}, id="zero-seats"),
        pytest.param({"now": datetime(2026, 3, 1, 12, 0)}, id="naive-now"),
        pytest.param(
            {"busy": [BusyInterval(1, 1, datetime(2026, 3, 2, 10), datetime(2026, 3, 2, 11), timedelta(0))]},
            id="naive-busy",
        ),
    ],
)
def test_invalid_input_rejected(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        run(**changes)


def test_a_busy_fortnight_offers_only_free_times() -> None:
    """50 experts x 14 days x 5,000 bookings: every slot offered is clear of every booking and buffer.

    How long this takes is measured by bench/slots.py (printed figures), not asserted here.
    """
    experts = list(range(1, 51))
    weekly = [r for e in experts for r in rows("09:00-13:00", "14:00-18:00", expert=e)]
    first = MON
    booked = [
        busy(
            at(first + timedelta(days=(n // 50) % 14), "09:00") + timedelta(minutes=15 * (n % 36)),
            30,
            expert=1 + n % 50,
            buffer=5,
        )
        for n in range(5000)
    ]
    slots = run(
        expert_ids=experts,
        weekly=weekly,
        busy=booked,
        last_day=first + timedelta(days=13),
        topic=topic(slot_interval=15, buffer=10),
    )
    assert slots
    by_expert: dict[int, list[BusyInterval]] = {}
    for b in booked:
        by_expert.setdefault(b.expert_id, []).append(b)
    for slot in slots:
        for b in by_expert.get(slot.expert_id, []):
            # Half-open, each side with its buffer: the slot's 10 minutes, the booking's 5.
            assert not (slot.start < b.end + b.buffer and b.start < slot.end + timedelta(minutes=10)), (slot, b)


# --------------------------------------------------------------------------- pre-holiday days (art. 95)

RU_CALENDAR = calendar_for("RU")
WEEKDAYS_9_18 = {d: hours("09:00-18:00") for d in range(5)}
# Friday closes earlier, so the short Friday shows the cut is taken from that day's own close.
FRIDAY_16_45 = {**WEEKDAYS_9_18, 4: hours("09:00-16:45")}


def hourly(day: date, business_hours: Mapping[int, Any] = WEEKDAYS_9_18, **changes: Any) -> list[str]:
    """60-minute video slots on ``day`` with the real RU calendar and an all-day expert."""
    args: dict[str, Any] = {
        "topic": topic(duration=60, horizon_days=400),
        "first_day": day,
        "last_day": day,
        "now": at(day - timedelta(days=1), "12:00"),
        "calendar": RU_CALENDAR,
        "business_hours": business_hours,
        "weekly": rows("00:00-23:59", weekdays=range(7)),
    }
    args.update(changes)
    return starts(run(**args))


EIGHT = ["09:00", "10:00", "11:00", "12:00", "13:00", "14:00", "15:00", "16:00"]


@pytest.mark.parametrize(
    ("day", "business_hours", "expected"),
    [
        pytest.param(date(2026, 11, 2), WEEKDAYS_9_18, [*EIGHT, "17:00"], id="ordinary-monday-nine"),
        pytest.param(date(2026, 11, 3), WEEKDAYS_9_18, EIGHT, id="tue-before-4-november-eight"),
        pytest.param(date(2026, 5, 8), FRIDAY_16_45, EIGHT[:6], id="fri-before-9-may-six"),
        pytest.param(date(2026, 5, 1), WEEKDAYS_9_18, [], id="holiday-none"),
        pytest.param(date(2024, 11, 2), WEEKDAYS_9_18, EIGHT, id="working-saturday-for-30-april-short"),
        pytest.param(date(2025, 11, 1), WEEKDAYS_9_18, EIGHT, id="working-saturday-for-3-november-short"),
        pytest.param(date(2024, 12, 28), WEEKDAYS_9_18, [*EIGHT, "17:00"], id="working-saturday-full-day"),
    ],
)
def test_video_slots_end_an_hour_early_on_pre_holiday_days(
    day: date, business_hours: Mapping[int, Any], expected: list[str]
) -> None:
    assert hourly(day, business_hours) == expected


def test_pre_holiday_shortening_belongs_to_the_office_not_the_person() -> None:
    """An expert whose own day ends before the shortened close keeps it; an override is as given."""
    short_tuesday = date(2026, 11, 3)
    assert hourly(short_tuesday, weekly=rows("09:00-12:00", weekdays=range(7))) == ["09:00", "10:00", "11:00"]
    override = DateOverride(1, short_tuesday, short_tuesday, "hours", "video", hours("15:00-18:00"))
    assert hourly(short_tuesday, overrides=[override]) == ["15:00", "16:00", "17:00"]


def test_in_person_reception_closes_with_the_office_on_a_pre_holiday_day() -> None:
    short = FakeCalendar(pre_holidays=frozenset({MON}))
    window = [reception(5, MON, "15:00-18:00")]
    weekly = rows("09:00-18:00", channel="in_person")
    assert starts(run_in_person(reception=window, weekly=weekly, topic=topic(duration=60))) == [
        "15:00", "16:00", "17:00"]
    assert starts(run_in_person(reception=window, weekly=weekly, topic=topic(duration=60), calendar=short)) == [
        "15:00", "16:00"]
    # A morning reception well inside the shortened day is untouched.
    morning = [reception(5, MON, "09:00-11:00")]
    assert starts(run_in_person(reception=morning, weekly=weekly, topic=topic(duration=60), calendar=short)) == [
        "09:00", "10:00"]


# --------------------------------------------------------------------------- seats in one place


def test_a_seated_expert_is_in_one_office_at_a_time() -> None:
    """2 seats, on duty 09-11 in offices 5 and 6, one seat booked at 10:00 in office 5."""
    duty = [reception(5, MON, "09:00-11:00"), reception(6, MON, "09:00-11:00")]
    seat = BusyInterval(1, TOPIC_ID, at(MON, "10:00"), at(MON, "10:30"), timedelta(0), location_id=5)
    slots = run_in_person(reception=duty, topic=topic(seats=2), busy=[seat])
    offered = {(f"{s.start:%H:%M}", s.location_id): s.seats_left for s in slots}
    assert offered[("10:00", 5)] == 1
    assert ("10:00", 6) not in offered
    assert offered[("09:30", 6)] == 2 and offered[("10:30", 6)] == 2
