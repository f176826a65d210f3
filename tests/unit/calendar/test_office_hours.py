"""An office's hours on a date: effective weekday, closed days and the art. 95 shortening."""

from __future__ import annotations

from datetime import date, time

import pytest

from scheduler.calendar import calendar_for, office_hours_on

RU = calendar_for("RU")
NINE_TO_SIX = {d: [(time(9), time(18))] for d in range(5)}
WITH_LUNCH = {d: [(time(9), time(13)), (time(14), time(18))] for d in range(5)}


@pytest.mark.parametrize(
    ("day", "weekly", "expected"),
    [
        pytest.param(date(2026, 11, 2), NINE_TO_SIX, ((time(9), time(18)),), id="ordinary-day"),
        pytest.param(date(2026, 11, 3), NINE_TO_SIX, ((time(9), time(17)),), id="pre-holiday-tuesday"),
        pytest.param(date(2026, 11, 4), NINE_TO_SIX, (), id="holiday"),
        pytest.param(date(2026, 11, 7), NINE_TO_SIX, (), id="saturday"),
        pytest.param(date(2024, 11, 2), NINE_TO_SIX, ((time(9), time(17)),), id="short-working-saturday-2024"),
        pytest.param(date(2025, 11, 1), NINE_TO_SIX, ((time(9), time(17)),), id="short-working-saturday-2025"),
        pytest.param(date(2024, 12, 28), NINE_TO_SIX, ((time(9), time(18)),), id="full-working-saturday"),
        pytest.param(date(2026, 11, 3), WITH_LUNCH, ((time(9), time(13)), (time(14), time(17))), id="break-kept"),
        pytest.param(
            date(2026, 11, 3), {1: [(time(9), time(13)), (time(14), time(14, 30))]}, ((time(9), time(13)),),
            id="earlier-close-inside-the-break",
        ),
        pytest.param(date(2026, 11, 3), {1: [(time(9), time(9, 30))]}, (), id="shorter-than-the-cut"),
        pytest.param(date(2026, 11, 2), {1: [(time(9), time(18))]}, (), id="weekday-without-hours"),
        pytest.param(
            date(2026, 11, 2), {0: [(time(14), time(18)), (time(9), time(12)), (time(12), time(13))]},
            ((time(9), time(13)), (time(14), time(18))), id="sorted-and-merged",
        ),
    ],
)
def test_office_hours_on(day: date, weekly: dict[int, list[tuple[time, time]]], expected: tuple) -> None:
    assert office_hours_on(day, weekly, RU) == expected


def test_other_countries_are_never_shortened() -> None:
    kz = calendar_for("KZ")
    assert office_hours_on(date(2026, 3, 20), NINE_TO_SIX, kz) == ((time(9), time(18)),)
