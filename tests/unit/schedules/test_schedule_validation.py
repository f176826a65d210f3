"""Pure validation helpers of schedule management (no app, no database)."""

from __future__ import annotations

from datetime import date, time

import pytest

from scheduler.schedules.services import (
    WeeklyRow,
    describe_weekly,
    interval_errors,
    periods_meet,
    times_overlap,
    weekly_row_errors,
)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ((time(9), time(12)), (time(11), time(13)), True),
        ((time(9), time(12)), (time(12), time(13)), False),  # touching is allowed
        ((time(9), time(12)), (time(10), time(11)), True),  # contained
        ((time(13), time(14)), (time(9), time(12)), False),
    ],
)
def test_times_overlap_is_half_open(a: tuple[time, time], b: tuple[time, time], expected: bool) -> None:
    assert times_overlap(a, b) is expected
    assert times_overlap(b, a) is expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ((None, None), (None, None), True),
        ((date(2025, 1, 1), date(2025, 1, 31)), (date(2025, 2, 1), None), False),
        ((date(2025, 1, 1), date(2025, 1, 31)), (date(2025, 1, 31), None), True),  # inclusive ends
        ((None, date(2025, 1, 31)), (date(2025, 2, 1), date(2025, 3, 1)), False),
        ((None, date(2025, 1, 31)), (None, date(2024, 1, 1)), True),
    ],
)
def test_periods_meet_treats_none_as_open(a: tuple[date | None, date | None], b: tuple[date | None, date | None],
                                          expected: bool) -> None:
    assert periods_meet(*a, *b) is expected
    assert periods_meet(*b, *a) is expected


def test_interval_errors_check_each_pair_and_overlaps() -> None:
    assert interval_errors([(time(9), time(12)), (time(12), time(13)), (None, None)]) == {}
    errors = interval_errors([(time(9), time(12)), (time(11), time(14)), (time(15), time(15)), (time(8), None)])
    assert errors == {
        "intervals-1-starts": "Overlaps 09:00–12:00.",
        "intervals-2-ends": "The end must be after the start.",
        "intervals-3-ends": "Enter the end time.",
    }
    assert interval_errors([(None, time(10))], prefix="x") == {"x-0-starts": "Enter the start time."}


def test_weekly_row_errors_name_the_offending_field() -> None:
    rows = [
        WeeklyRow(0, time(9), time(12)),
        WeeklyRow(0, time(10), time(11)),  # overlaps row 0
        WeeklyRow(1, time(10), time(11)),  # another weekday: fine
        WeeklyRow(7, time(9), time(10)),  # no such weekday
        WeeklyRow(2, time(9), time(10), date(2025, 2, 1), date(2025, 1, 1)),
        WeeklyRow(3, None, None),  # blank line: ignored
        WeeklyRow(4, time(12), time(9)),
    ]
    assert weekly_row_errors(rows) == {
        "rows-1-starts": "Overlaps 09:00–12:00 on the same day of the week.",
        "rows-3-weekday": "Choose a day of the week.",
        "rows-4-valid_to": "The last day must not be before the first day.",
        "rows-6-ends": "The end must be after the start.",
    }


def test_weekly_rows_with_disjoint_validity_may_overlap_in_time() -> None:
    winter = WeeklyRow(0, time(9), time(12), None, date(2025, 3, 31))
    summer = WeeklyRow(0, time(10), time(13), date(2025, 4, 1), None)
    assert weekly_row_errors([winter, summer]) == {}
    spring = WeeklyRow(0, time(10), time(13), date(2025, 3, 31), None)
    assert set(weekly_row_errors([winter, spring])) == {"rows-1-starts"}


def test_describe_weekly_is_compact_and_language_neutral() -> None:
    assert describe_weekly(0, time(9), time(12)) == "mon 09:00-12:00"
    assert describe_weekly(6, time(9, 30), time(10), date(2025, 1, 1), date(2025, 2, 1), 4) == (
        "sun 09:30-10:00 from 2025-01-01 to 2025-02-01 at location 4"
    )
