"""Follow-up deadlines: N working days from the day after opening, due at close of business."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from scheduler.calendar import (
    WorkingCalendar,
    calendar_for,
    closing_time_from_hours,
    followup_due_at,
)

MSK = ZoneInfo("Europe/Moscow")
ALMATY = ZoneInfo("Asia/Almaty")
OPENS = time(9, 0)
# A different close per weekday, so using the wrong weekday's hours shows up in the result.
MOSCOW_HOURS = {
    0: (OPENS, time(18, 0)),
    1: (OPENS, time(17, 50)),
    2: (OPENS, time(17, 40)),
    3: (OPENS, time(17, 30)),
    4: (OPENS, time(16, 45)),
}

RU = calendar_for("RU")
ru_close = closing_time_from_hours(MOSCOW_HOURS, RU)


def msk(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=MSK)


@pytest.mark.parametrize(
    ("opened", "n", "due"),
    [
        # New Year 2026: 31 Dec 2025 and 1-11 Jan 2026 are off.
        ("2025-12-28 10:00", 1, "2025-12-29 18:00"),  # opened on a Sunday: counts from Monday
        ("2025-12-28 10:00", 2, "2025-12-30 17:50"),  # 30 Dec precedes a *transferred* day: full
        ("2025-12-28 10:00", 3, "2026-01-12 18:00"),
        ("2025-12-30 12:00", 1, "2026-01-12 18:00"),
        # May 2025: 1-4 and 8-11 May off; 30 April is a shortened day.
        ("2025-04-29 15:00", 1, "2025-04-30 16:40"),
        ("2025-04-29 15:00", 2, "2025-05-05 18:00"),
        ("2025-04-29 15:00", 5, "2025-05-12 18:00"),  # 30 Apr, 5, 6, 7, 12 May
        # 4 November 2025: Sat 1 Nov is worked for Mon 3 Nov and shortened (Monday hours - 1h).
        ("2025-10-31 11:00", 1, "2025-11-01 17:00"),
        ("2025-10-31 11:00", 2, "2025-11-05 17:40"),
        # 4 November 2026 is a Wednesday; Tue 3 Nov is shortened.
        ("2026-11-02 11:00", 1, "2026-11-03 16:50"),
        ("2026-11-02 11:00", 2, "2026-11-05 17:30"),
        # Working Saturdays 2024 count and close with Monday's hours, not shortened.
        ("2024-04-26 11:00", 1, "2024-04-27 18:00"),
        ("2024-04-26 11:00", 2, "2024-05-02 17:30"),
        ("2024-12-27 11:00", 1, "2024-12-28 18:00"),
        ("2024-12-27 11:00", 2, "2025-01-09 17:30"),
        # The local date decides: two minutes apart, a day apart in the result.
        ("2026-03-03 23:59", 1, "2026-03-04 17:40"),
        ("2026-03-04 00:01", 1, "2026-03-05 17:30"),
    ],
)
def test_due_at_follows_the_moscow_production_calendar(opened: str, n: int, due: str) -> None:
    """The due instant is close of business on the n-th working day after the local opening
    date, over holidays, transfers and shortened days."""
    result = followup_due_at(msk(opened), n, RU, MSK, ru_close)
    assert result == msk(due)
    assert result.tzinfo is UTC


def test_due_at_is_reported_in_utc() -> None:
    """18:00 Moscow (UTC+3) is 15:00 UTC."""
    result = followup_due_at(msk("2025-12-30 12:00"), 1, RU, MSK, ru_close)
    assert (result.tzinfo, result.replace(tzinfo=None)) == (UTC, datetime(2026, 1, 12, 15, 0))


@pytest.mark.parametrize(
    ("opened_utc", "due"),
    [
        ("2026-03-01T21:30:00+00:00", "2026-03-03 17:50"),  # 00:30 Mon 2 Mar in Moscow
        ("2026-03-01T20:30:00+00:00", "2026-03-02 18:00"),  # 23:30 Sun 1 Mar in Moscow
    ],
)
def test_opening_date_is_taken_in_the_department_zone(opened_utc: str, due: str) -> None:
    """An instant given in UTC counts from its Moscow date, not its UTC date."""
    opened = datetime.fromisoformat(opened_utc)
    assert followup_due_at(opened, 1, RU, MSK, ru_close) == msk(due)


def test_department_without_days_off_counts_every_day() -> None:
    """code=None with all weekdays open: New Year's days and Sundays count as working days."""
    calendar = calendar_for(None, range(7))
    close = closing_time_from_hours({wd: (OPENS, time(20, 0)) for wd in range(7)}, calendar)
    assert followup_due_at(msk("2026-01-03 10:00"), 1, calendar, MSK, close) == msk(
        "2026-01-04 20:00"
    )
    assert followup_due_at(msk("2026-01-03 10:00"), 3, calendar, MSK, close) == msk(
        "2026-01-06 20:00"
    )


def test_almaty_department_uses_the_kazakh_calendar_and_zone() -> None:
    """Nauryz 2026 (21-23 March, carried to 24-25 March) is skipped; 18:00 Almaty is 13:00 UTC."""
    kz = calendar_for("KZ")
    close = closing_time_from_hours({wd: (OPENS, time(18, 0)) for wd in range(5)}, kz)
    opened = datetime(2026, 3, 20, 15, 0, tzinfo=ALMATY)
    assert followup_due_at(opened, 1, kz, ALMATY, close) == datetime(2026, 3, 26, 13, 0, tzinfo=UTC)
    # No art. 95 shortening outside Russia: Friday before Nauryz closes at the usual time.
    assert close(date(2026, 3, 20)) == time(18, 0)


def test_naive_opening_is_rejected() -> None:
    """A naive datetime has no date in the department zone, so the term cannot be counted."""
    with pytest.raises(ValueError, match="aware"):
        followup_due_at(datetime(2026, 3, 2, 10, 0), 1, RU, MSK, ru_close)


@pytest.mark.parametrize("n", [0, -1])
def test_term_below_one_working_day_is_rejected(n: int) -> None:
    """A term starts the day after opening, so it is at least one working day long."""
    with pytest.raises(ValueError, match="at least one"):
        followup_due_at(msk("2026-03-02 10:00"), n, RU, MSK, ru_close)


# -- closing_time_from_hours ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "close"),
    [
        ("2026-03-02", time(18, 0)),  # ordinary Monday
        ("2026-03-06", time(16, 45)),  # Friday before Sat/Sun/Mon 7-9 March: not shortened
        ("2026-05-08", time(15, 45)),  # Friday before Saturday 9 May: shortened
        ("2024-11-02", time(16, 50)),  # Saturday worked for Tue 30 Apr (before 1 May): shortened
        ("2024-12-28", time(18, 0)),  # Saturday worked for Mon 30 Dec: Monday, full day
    ],
)
def test_closing_time_uses_effective_weekday_and_pre_holiday_shortening(
    day: str, close: time
) -> None:
    """Close of business comes from the effective weekday's hours, one hour earlier on RU
    pre-holiday days."""
    assert ru_close(date.fromisoformat(day)) == close


def test_closing_time_refuses_closed_days_and_missing_hours() -> None:
    """A deadline must never land on a day the department does not work."""
    with pytest.raises(ValueError, match="not a working day"):
        ru_close(date(2026, 1, 5))
    tuesday_only = closing_time_from_hours({1: (OPENS, time(18, 0))}, RU)
    with pytest.raises(ValueError, match="no business hours"):
        tuesday_only(date(2026, 3, 2))


def test_shortening_never_closes_before_opening() -> None:
    """A 30-minute pre-holiday day becomes zero-length, not a close before the opening."""
    calendar = WorkingCalendar("RU")
    close = closing_time_from_hours({3: (time(9, 0), time(9, 30))}, calendar)
    assert close(date(2026, 4, 30)) == time(9, 0)


def test_closing_time_snapshots_the_hours() -> None:
    """Editing the caller's mapping later does not change an already built closing_time."""
    hours = dict(MOSCOW_HOURS)
    close = closing_time_from_hours(hours, RU)
    hours[0] = (OPENS, time(12, 0))
    assert close(date(2026, 3, 2)) == time(18, 0)
