"""The analytics queries give exactly the seeded dataset's figures, for every filter, on both databases."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from booking.analytics.queries import (
    StatsFilter,
    available_minutes,
    by_channel,
    by_day,
    by_month,
    by_topic,
    dashboard,
    followups_opened,
)
from booking.analytics.queries import summary as summarise
from booking.models import BookingStatus
from booking.tickets.models import TicketStatus
from scheduler.schedules.models import Channel, OverrideKind
from tests.analytics_fixtures import (
    EXPECTED,
    FIRST,
    LAST,
    MOSCOW,
    NOW,
    Dataset,
    _at,
    add_booking,
    add_ticket,
    seed_dataset,
)
from tests.factories import add_override, add_weekly, make_department, make_expert, make_topic


@pytest.fixture
def data(session: Any) -> Dataset:
    return seed_dataset(session)


def everything(data: Dataset, **kw: Any) -> StatsFilter:
    return StatsFilter(FIRST, LAST, department_ids=(data.gas.id, data.water.id), **kw)


def figures(session: Any, filters: StatsFilter) -> dict[str, Any]:
    s = summarise(session, filters, NOW)
    c = s.counts
    return {
        "made": c.made, "held": c.held, "cancelled": c.cancelled, "no_show": c.no_show, "walk_ins": c.walk_ins,
        "online": c.online, "in_person": c.in_person, "individuals": c.individuals,
        "legal_entities": c.legal_entities, "booked_minutes": s.booked_minutes,
        "available_minutes": s.available_minutes, "waits": s.waits, "avg_wait_minutes": s.avg_wait_minutes,
        "followups_opened": s.followups_opened, "followups_due": s.followups_due,
        "followups_on_time": s.followups_on_time, "followups_overdue": s.followups_overdue,
        "confirmation_rate": s.confirmation_rate, "reopen_rate": s.reopen_rate,
    }


def test_summary_counts_local_dates_of_both_departments(session: Any, data: Dataset) -> None:
    assert figures(session, everything(data)) == EXPECTED


def test_utilisation_is_booked_minutes_over_available_minutes(session: Any, data: Dataset) -> None:
    s = summarise(session, everything(data), NOW)
    assert s.utilisation == pytest.approx(300 / 5820)


@pytest.mark.parametrize(("name", "changes", "expected"), [
    ("gas only", {"department": "gas"}, {
        "made": 8, "held": 5, "cancelled": 1, "no_show": 1, "walk_ins": 1, "online": 5, "in_person": 3,
        "individuals": 6, "legal_entities": 2, "booked_minutes": 210, "available_minutes": 3120, "waits": 2,
        "avg_wait_minutes": 16.0, "followups_opened": 3, "followups_due": 2, "followups_on_time": 1,
        "followups_overdue": 1, "confirmation_rate": 0.5, "reopen_rate": 0.5}),
    ("water only", {"department": "water"}, {
        "made": 3, "held": 2, "cancelled": 0, "no_show": 1, "walk_ins": 0, "online": 3, "in_person": 0,
        "individuals": 1, "legal_entities": 2, "booked_minutes": 90, "available_minutes": 2700, "waits": 0,
        "avg_wait_minutes": None, "followups_opened": 1, "followups_due": 1, "followups_on_time": 0,
        "followups_overdue": 1, "confirmation_rate": None, "reopen_rate": None}),
    ("topic stove", {"topic": "stove"}, {
        "made": 5, "held": 3, "cancelled": 1, "no_show": 1, "walk_ins": 0, "online": 3, "in_person": 2,
        "individuals": 3, "legal_entities": 2, "booked_minutes": 120, "available_minutes": 2400, "waits": 1,
        "avg_wait_minutes": 12.0, "followups_opened": 2, "followups_due": 2, "followups_on_time": 1,
        "followups_overdue": 1, "confirmation_rate": 0.5, "reopen_rate": 0.5}),
    ("in person", {"channel": "in_person"}, {
        "made": 3, "held": 2, "cancelled": 0, "no_show": 1, "walk_ins": 1, "online": 0, "in_person": 3,
        "individuals": 2, "legal_entities": 1, "booked_minutes": 90, "available_minutes": 1200, "waits": 2,
        "avg_wait_minutes": 16.0, "followups_opened": 2, "followups_due": 1, "followups_on_time": 0,
        "followups_overdue": 1, "confirmation_rate": 0.0, "reopen_rate": 1.0}),
    ("legal entities", {"applicant_type": "legal_entity"}, {
        "made": 4, "held": 1, "cancelled": 1, "no_show": 2, "walk_ins": 0, "online": 3, "in_person": 1,
        "individuals": 0, "legal_entities": 4, "booked_minutes": 90, "available_minutes": 5820, "waits": 0,
        "avg_wait_minutes": None, "followups_opened": 1,
        # The deadline figures come from the department rating, which narrows by department, topic and
        # channel only: the whole dataset's.
        "followups_due": 3, "followups_on_time": 1, "followups_overdue": 2, "confirmation_rate": 0.5,
        "reopen_rate": 0.5}),
    ("the office", {"location": True}, {
        "made": 3, "held": 2, "cancelled": 0, "no_show": 1, "walk_ins": 1, "online": 0, "in_person": 3,
        "individuals": 2, "legal_entities": 1, "booked_minutes": 90, "available_minutes": 1200, "waits": 2,
        "avg_wait_minutes": 16.0, "followups_opened": 2, "followups_due": 3, "followups_on_time": 1,
        "followups_overdue": 2, "confirmation_rate": 0.5, "reopen_rate": 0.5}),
])
def test_each_filter_narrows_every_figure_it_applies_to(session: Any, data: Dataset, name: str,
                                                        changes: dict[str, Any], expected: dict[str, Any]) -> None:
    filters = everything(data)
    if "department" in changes:
        filters = replace(filters, department_ids=(getattr(data, changes["department"]).id,))
    if "topic" in changes:
        filters = replace(filters, topic_id=getattr(data, changes["topic"]).id)
    if "channel" in changes:
        filters = replace(filters, channel=changes["channel"])
    if "applicant_type" in changes:
        filters = replace(filters, applicant_type=changes["applicant_type"])
    if "location" in changes:
        filters = replace(filters, location_id=data.office.id)
    assert figures(session, filters) == expected, name


def test_topic_meter_counts_every_expert_who_takes_it_as_available(session: Any, data: Dataset) -> None:
    # e1 (2400) and e2 (900 less the Wednesday absence: 720).
    assert available_minutes(session, everything(data, topic_id=data.meter.id)) == 3120


def test_groupings_by_topic_channel_month_and_day(session: Any, data: Dataset) -> None:
    filters = everything(data)
    assert [(r.key, r.label, r.made, r.held) for r in by_topic(session, filters)] == sorted([
        (data.meter.slug, "Счётчик", 3, 2), (data.pipe.slug, "Труба", 3, 2), (data.stove.slug, "Плита", 5, 3)])
    assert [(r.key, r.made, r.held, r.no_show, r.walk_ins) for r in by_channel(session, filters)] == [
        ("in_person", 3, 2, 1, 1), ("video", 8, 5, 1, 0)]
    assert [(r.key, r.made, r.individuals, r.legal_entities) for r in by_month(session, filters)] == [
        ("2025-04", 11, 7, 4)]
    assert [(r.key, r.made, r.cancelled, r.no_show) for r in by_day(session, filters)] == [
        ("2025-04-07", 3, 1, 0), ("2025-04-08", 3, 0, 1), ("2025-04-09", 2, 0, 0), ("2025-04-10", 2, 0, 1),
        ("2025-04-13", 1, 0, 0)]


def test_dashboard_compares_with_the_same_week_a_year_earlier(session: Any, data: Dataset) -> None:
    board = dashboard(session, everything(data), NOW)
    assert board.summary.counts.made == 11
    previous = board.previous.counts
    assert (previous.made, previous.held, previous.cancelled, previous.legal_entities) == (2, 1, 1, 1)
    assert board.previous.booked_minutes == 30


def test_dashboard_rating_is_the_follow_up_rating_per_department(session: Any, data: Dataset) -> None:
    board = dashboard(session, everything(data), NOW)
    totals = {r.department_id: (r.due, r.answered_on_time, r.overdue) for r in board.rating}
    assert totals == {data.gas.id: (2, 1, 1), data.water.id: (1, 0, 1)}
    daily = {(r.department_id, r.day.isoformat()): r.due for r in board.rating_daily}
    assert daily == {(data.gas.id, "2025-04-10"): 1, (data.gas.id, "2025-04-11"): 1, (data.water.id, "2025-04-10"): 1}


def test_a_period_without_bookings_shows_zeros_not_errors(session: Any, data: Dataset) -> None:
    empty = replace(everything(data), first=FIRST.replace(year=2020), last=LAST.replace(year=2020))
    s = summarise(session, empty, NOW)
    assert (s.counts.made, s.booked_minutes, s.avg_wait_minutes, s.utilisation is not None) == (0, 0, None, True)
    assert by_day(session, empty) == []


def test_available_minutes_follow_hours_overrides_and_row_validity(session: Any, data: Dataset) -> None:
    water = StatsFilter(FIRST, LAST, department_ids=(data.water.id,))
    assert available_minutes(session, water) == 2700
    # Tuesday 8 April: 10:00-12:00 instead of 9:00-18:00 (540 → 120).
    add_override(session, data.experts[2], date(2025, 4, 8), kind=OverrideKind.HOURS, intervals=[["10:00", "12:00"]])
    assert available_minutes(session, water) == 2700 - 540 + 120
    # A new expert: 9-10 ended before the period (nothing), 10-11 from Thursday 10 April (two days, 120).
    e4 = make_expert(session, data.water, [data.pipe])
    add_weekly(session, e4, starts=time(9), ends=time(10), valid_to=date(2025, 4, 6))
    add_weekly(session, e4, starts=time(10), ends=time(11), valid_from=date(2025, 4, 10))
    assert available_minutes(session, water) == 2700 - 540 + 120 + 120


def test_a_video_only_absence_keeps_the_in_person_minutes(session: Any, data: Dataset) -> None:
    gas = StatsFilter(FIRST, LAST, department_ids=(data.gas.id,))
    assert available_minutes(session, gas) == 3120
    # e1 is away from video on Tuesday 8 April: 9-13 (240) goes, the office hours 14-18 (240) stay.
    add_override(session, data.experts[0], date(2025, 4, 8), kind=OverrideKind.ABSENCE, channel=Channel.VIDEO)
    assert available_minutes(session, gas) == 3120 - 240
    assert available_minutes(session, replace(gas, channel="in_person")) == 1200
    assert available_minutes(session, replace(gas, location_id=data.office.id)) == 1200


def test_available_minutes_end_an_hour_early_on_a_pre_holiday_day(session: Any, data: Dataset) -> None:
    """Tuesday 3 November 2026 (before 4 November): e3's 9-18 counts as 9-17, like the slots offered."""
    short_day = StatsFilter(date(2026, 11, 3), date(2026, 11, 3), department_ids=(data.water.id,))
    assert available_minutes(session, short_day) == 480
    assert available_minutes(session, replace(short_day, first=date(2026, 11, 2), last=date(2026, 11, 2))) == 540


def test_a_long_periods_available_minutes_are_the_sum_of_its_days(session: Any, data: Dataset) -> None:
    """Alike days are counted once (booking.analytics.queries.available_minutes); the sum over single days,
    each counted on its own, must agree, across overrides, rows that start and end, holidays and their eves."""
    add_override(session, data.experts[2], date(2025, 4, 8), kind=OverrideKind.HOURS, intervals=[["10:00", "12:00"]])
    add_override(session, data.experts[0], date(2025, 4, 29), kind=OverrideKind.ABSENCE, channel=Channel.VIDEO)
    e4 = make_expert(session, data.water, [data.pipe])
    add_weekly(session, e4, starts=time(9), ends=time(10), valid_to=date(2025, 4, 16))
    add_weekly(session, e4, starts=time(10), ends=time(11), valid_from=date(2025, 4, 10))
    first, last = date(2025, 3, 31), date(2025, 5, 14)  # the May holidays and their eves included
    for narrowed in ({}, {"channel": "video"}, {"location_id": data.office.id}):
        period = StatsFilter(first, last, department_ids=(data.gas.id, data.water.id), **narrowed)
        days = [replace(period, first=date.fromordinal(n), last=date.fromordinal(n))
                for n in range(first.toordinal(), last.toordinal() + 1)]
        assert available_minutes(session, period) == sum(available_minutes(session, day) for day in days) > 0


def _dst_week(session: Any, zone_key: str, first: date, last: date,
              starts: list[datetime]) -> tuple[StatsFilter, Any]:
    department = make_department(session, timezone=zone_key)
    topic = make_topic(session, department)
    expert = make_expert(session, department, [topic])
    bookings = [add_booking(session, topic, expert, start, BookingStatus.COMPLETED) for start in starts]
    return StatsFilter(first, last, department_ids=(department.id,)), (department, bookings)


def _days(session: Any, filters: StatsFilter) -> list[tuple[str, int]]:
    return [(r.key, r.made) for r in by_day(session, filters)]


@pytest.fixture
def postgresql_only(session: Any) -> None:
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("SQLite has no zone data: it reads each zone at its offset at the start of the period")


@pytest.mark.usefixtures("postgresql_only")
def test_local_days_follow_the_autumn_clock_change(session: Any) -> None:
    # Berlin, Monday 20 to Sunday 26 October 2025; at 03:00 on the Sunday the clocks go back to 02:00 (UTC+1).
    berlin = ZoneInfo("Europe/Berlin")

    def local(day: int, hour: int, minute: int = 0, fold: int = 0) -> datetime:
        return datetime(2025, 10, day, hour, minute, fold=fold, tzinfo=berlin)

    filters, (department, bookings) = _dst_week(session, "Europe/Berlin", date(2025, 10, 20), date(2025, 10, 26), [
        local(19, 23, 30),  # Sunday before: outside
        local(20, 0, 30),  # the first day, 22:30 UTC on the 19th: inside
        local(26, 2, 30, fold=0), local(26, 2, 30, fold=1),  # the hour that happens twice: both on the 26th
        local(26, 23, 30),  # 23:30 on the day of the change (22:30 UTC): still the 26th
        local(27, 0, 30),  # Monday after: outside
    ])
    assert _days(session, filters) == [("2025-10-20", 1), ("2025-10-26", 3)]
    assert summarise(session, filters, NOW).counts.made == 4
    add_ticket(session, bookings[4], department, local(26, 23, 45), local(30, 18), TicketStatus.OPEN)
    add_ticket(session, bookings[5], department, local(27, 0, 15), local(31, 18), TicketStatus.OPEN)
    assert followups_opened(session, filters) == 1


@pytest.mark.usefixtures("postgresql_only")
def test_local_days_follow_the_spring_clock_change_in_several_zones(session: Any) -> None:
    # Monday 24 to Sunday 30 March 2025: Berlin moves to UTC+2 on the Sunday, New York has been on UTC-4 since
    # 9 March, Moscow stays at UTC+3; one query reads each department in its own zone.
    berlin, new_york = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")
    first, last = date(2025, 3, 24), date(2025, 3, 30)
    in_berlin, _ = _dst_week(session, "Europe/Berlin", first, last, [
        datetime(2025, 3, 30, 23, 30, tzinfo=berlin),  # 21:30 UTC: the 30th
        datetime(2025, 3, 31, 0, 30, tzinfo=berlin),  # 22:30 UTC on the 30th, but the 31st in Berlin: outside
    ])
    in_new_york, _ = _dst_week(session, "America/New_York", first, last, [
        datetime(2025, 3, 23, 23, 30, tzinfo=new_york),  # 03:30 UTC on the 24th: outside
        datetime(2025, 3, 30, 20, 30, tzinfo=new_york),  # 00:30 UTC on the 31st: the 30th
    ])
    in_moscow, _ = _dst_week(session, "Europe/Moscow", first, last, [
        datetime(2025, 3, 24, 0, 30, tzinfo=MOSCOW),  # 21:30 UTC on the 23rd: the 24th
    ])
    ids = (*in_berlin.department_ids, *in_new_york.department_ids, *in_moscow.department_ids)  # type: ignore[misc]
    every = StatsFilter(first, last, department_ids=ids)
    assert _days(session, every) == [("2025-03-24", 1), ("2025-03-30", 2)]
    assert [(r.made, r.held) for r in by_topic(session, every)] == [(1, 1), (1, 1), (1, 1)]
    assert summarise(session, every, NOW).counts.made == 3


@pytest.mark.usefixtures("postgresql_only")
def test_an_hour_repeated_across_midnight_stays_on_its_local_day(session: Any) -> None:
    # Santiago: at midnight between Saturday 5 and Sunday 6 April 2025 the clocks go back to 23:00 on the 5th.
    santiago = ZoneInfo("America/Santiago")
    saturday, _ = _dst_week(session, "America/Santiago", date(2025, 3, 31), date(2025, 4, 5), [
        datetime(2025, 4, 5, 23, 30, tzinfo=santiago),  # 02:30 UTC on the 6th
        datetime(2025, 4, 5, 23, 30, fold=1, tzinfo=santiago),  # 03:30 UTC: the same wall time again
        datetime(2025, 4, 6, 0, 30, tzinfo=santiago),  # 04:30 UTC: Sunday
    ])
    assert _days(session, saturday) == [("2025-04-05", 2)]
    sunday = replace(saturday, first=date(2025, 4, 6), last=date(2025, 4, 6))
    assert _days(session, sunday) == [("2025-04-06", 1)]


def test_a_follow_up_of_a_pending_hold_is_not_counted_with_or_without_filters(session: Any, data: Dataset) -> None:
    hold = add_booking(session, data.stove, data.experts[0], _at(11, 12), BookingStatus.PENDING)
    add_ticket(session, hold, data.gas, _at(11, 12, 30), _at(15, 18), TicketStatus.OPEN)
    assert followups_opened(session, everything(data)) == EXPECTED["followups_opened"]
    assert followups_opened(session, everything(data, channel="video")) == 2  # b1 (gas) and b11 (water)
