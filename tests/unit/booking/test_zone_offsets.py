"""A zone's UTC offsets over a period, as the analytics put them into SQL: every change at its exact instant."""

from __future__ import annotations

from bisect import bisect_right
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from booking.analytics.queries import zone_offsets

H = timedelta(hours=1)


def test_a_zone_without_daylight_saving_time_has_one_offset() -> None:
    lower, upper = datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    assert zone_offsets("Asia/Yekaterinburg", lower, upper) == ((lower, 5 * H),)


def test_each_change_is_at_the_instant_the_clocks_change() -> None:
    lower, upper = datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    assert zone_offsets("Europe/Berlin", lower, upper) == (
        (lower, H), (datetime(2025, 3, 30, 1, tzinfo=UTC), 2 * H), (datetime(2025, 10, 26, 1, tzinfo=UTC), H))


@pytest.mark.parametrize("key", ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu",
                                 "America/Santiago", "Pacific/Chatham", "Europe/Moscow"])
def test_the_offsets_agree_with_the_zone_at_every_quarter_hour(key: str) -> None:
    lower, upper = datetime(2024, 12, 30, 13, 7, tzinfo=UTC), datetime(2026, 1, 3, tzinfo=UTC)
    pieces = zone_offsets(key, lower, upper)
    starts = [start for start, _ in pieces]
    zone = ZoneInfo(key)
    at = lower
    while at < upper:
        for instant in (at, at - timedelta(microseconds=1)) if at > lower else (at,):
            assert pieces[bisect_right(starts, instant) - 1][1] == instant.astimezone(zone).utcoffset(), instant
        at += timedelta(minutes=15)
