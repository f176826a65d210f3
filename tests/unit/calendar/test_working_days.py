"""WorkingCalendar against the official RU production calendars 2024-2027, KZ and edge cases."""

from __future__ import annotations

import re
from datetime import date, timedelta

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.calendar import WorkingCalendar, calendar_for
from scheduler.calendar import working_days as working_days_module
from scheduler.calendar.overrides import (
    DAY_OFF_TRANSFERS,
    OBSERVED_DAYS_OFF,
    REGIONAL_HOLIDAYS,
    RU_NON_WORKING_HOLIDAYS,
)

MON_FRI = (0, 1, 2, 3, 4)


def d(text: str) -> date:
    return date.fromisoformat(text)


def days_of(year: int) -> list[date]:
    first = date(year, 1, 1)
    return [first + timedelta(days=i) for i in range((date(year + 1, 1, 1) - first).days)]


# Official RU calendars for a five-day week.  Sources: decrees № 1314 (2024), № 1335 (2025),
# № 1466 (2026), № 1187 (2027) and Labour Code art. 112; shortened days as published with the
# official calendars (e.g. 2026: 30.04, 08.05, 11.06, 03.11).
OFFICIAL_RU = {
    2024: {
        "weekdays_off": [
            "01-01", "01-02", "01-03", "01-04", "01-05", "01-08", "02-23", "03-08",
            "04-29", "04-30", "05-01", "05-09", "05-10", "06-12", "11-04", "12-30", "12-31",
        ],
        # working Saturday -> weekday whose hours apply (the weekday of the day off it gave)
        "working_weekend": {"04-27": 0, "11-02": 1, "12-28": 0},
        "short_days": ["02-22", "03-07", "05-08", "06-11", "11-02"],
        "working_days": 248,
        "hours_40": 1979,
    },
    2025: {
        "weekdays_off": [
            "01-01", "01-02", "01-03", "01-06", "01-07", "01-08", "05-01", "05-02",
            "05-08", "05-09", "06-12", "06-13", "11-03", "11-04", "12-31",
        ],
        "working_weekend": {"11-01": 0},
        "short_days": ["03-07", "04-30", "06-11", "11-01"],
        "working_days": 247,
        "hours_40": 1972,
    },
    2026: {
        "weekdays_off": [
            "01-01", "01-02", "01-05", "01-06", "01-07", "01-08", "01-09", "02-23",
            "03-09", "05-01", "05-11", "06-12", "11-04", "12-31",
        ],
        "working_weekend": {},
        "short_days": ["04-30", "05-08", "06-11", "11-03"],
        "working_days": 247,
        "hours_40": 1972,
    },
    2027: {
        "weekdays_off": [
            "01-01", "01-04", "01-05", "01-06", "01-07", "01-08", "02-22", "02-23",
            "03-08", "05-03", "05-10", "06-14", "11-04", "11-05", "12-31",
        ],
        "working_weekend": {"02-20": 0},
        "short_days": ["02-20", "04-30", "06-11", "11-03"],
        "working_days": 247,
        "hours_40": 1972,
    },
}  # fmt: skip


def on(year: int, month_days: list[str] | dict[str, int]) -> set[date]:
    return {d(f"{year}-{md}") for md in month_days}


@pytest.fixture
def ru() -> WorkingCalendar:
    return WorkingCalendar("RU", MON_FRI)


# -- official RU calendars ------------------------------------------------------------------


@pytest.mark.parametrize("year", sorted(OFFICIAL_RU))
def test_weekdays_off_match_the_official_calendar(ru: WorkingCalendar, year: int) -> None:
    """Every Mon-Fri day off (holidays, decree transfers, art. 112 carry-overs) and no other."""
    closed = {day for day in days_of(year) if day.weekday() < 5 and not ru.is_working_day(day)}
    assert closed == on(year, OFFICIAL_RU[year]["weekdays_off"])
    assert all(ru.is_holiday(day) for day in closed)


@pytest.mark.parametrize("year", sorted(OFFICIAL_RU))
def test_working_saturdays_match_the_decree_and_use_the_replaced_weekday(
    ru: WorkingCalendar, year: int
) -> None:
    """Working weekend days are exactly the decree's, each with the hours of the weekday it
    replaces (Sat 2024-11-02 was worked for Tue 2024-04-30, so Tuesday's hours)."""
    expected = {d(f"{year}-{md}"): wd for md, wd in OFFICIAL_RU[year]["working_weekend"].items()}
    weekend = [day for day in days_of(year) if day.weekday() >= 5]
    assert {day for day in weekend if ru.is_working_day(day)} == set(expected)
    assert {day for day in weekend if ru.is_transferred_working_day(day)} == set(expected)
    assert {day: ru.effective_weekday(day) for day in expected} == expected


@pytest.mark.parametrize("year", sorted(OFFICIAL_RU))
def test_pre_holiday_days_and_hour_norm_match_the_official_calendar(
    ru: WorkingCalendar, year: int
) -> None:
    """Shortened days are exactly the official ones (e.g. 2025-05-07 before a *transferred* day
    off is not, 2025-11-01 standing in for Mon 3 Nov before 4 Nov is), and with them the
    official 40-hour norm comes out."""
    short = {day for day in days_of(year) if ru.is_pre_holiday(day)}
    assert short == on(year, OFFICIAL_RU[year]["short_days"])
    working = sum(ru.is_working_day(day) for day in days_of(year))
    assert working == OFFICIAL_RU[year]["working_days"]
    assert working * 8 - len(short) == OFFICIAL_RU[year]["hours_40"]


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        ("2026-01-03", True),  # Saturday, New Year holiday
        ("2026-01-11", False),  # Sunday inside the holiday run: a weekend day, not a holiday
        ("2025-03-08", True),  # Saturday holiday (its rest moved to 13 June)
        ("2025-06-13", True),  # the weekday that received it
        ("2026-03-09", True),  # Monday after Sunday 8 March (art. 112 part 2)
        ("2024-04-27", False),  # working Saturday
        ("2026-03-07", False),  # ordinary Saturday
        ("2026-03-10", False),  # ordinary Tuesday
    ],
)
def test_is_holiday_marks_official_days_off_only(
    ru: WorkingCalendar, day: str, expected: bool
) -> None:
    """is_holiday is about the legal calendar, not about weekends (2026-01-11 is a plain Sunday)."""
    assert ru.is_holiday(d(day)) is expected


def test_pre_holiday_needs_a_statutory_holiday_next_not_a_transferred_day(
    ru: WorkingCalendar,
) -> None:
    """30 Dec 2025 precedes the transferred 31 Dec, not a holiday; 30 Apr 2026 precedes 1 May."""
    assert not ru.is_pre_holiday(d("2025-12-30"))
    assert ru.is_pre_holiday(d("2026-04-30"))
    assert not ru.is_pre_holiday(d("2026-05-01"))  # a holiday is not a shortened working day


# -- department weekday patterns ------------------------------------------------------------


@pytest.mark.parametrize(
    ("weekdays", "day", "expected"),
    [
        # Tue-Sat department: a Saturday is its own working day with Saturday hours.
        ((1, 2, 3, 4, 5), "2024-04-27", 5),
        ((1, 2, 3, 4, 5), "2024-04-29", None),  # transferred day off still closes it
        ((1, 2, 3, 4, 5), "2026-03-07", 5),
        # Tue-Fri department: closed on the Saturday worked for a Monday it never works ...
        ((1, 2, 3, 4), "2024-04-27", None),
        # ... but open on the one worked for a Tuesday, with Tuesday's hours.
        ((1, 2, 3, 4), "2024-11-02", 1),
        # Seven-day department closes on holidays even on Sundays, opens on ordinary Sundays.
        ((0, 1, 2, 3, 4, 5, 6), "2026-03-08", None),
        ((0, 1, 2, 3, 4, 5, 6), "2026-03-15", 6),
        ((0, 1, 2, 3, 4, 5, 6), "2024-04-27", 5),
    ],
)
def test_effective_weekday_respects_the_department_week(
    weekdays: tuple[int, ...], day: str, expected: int | None
) -> None:
    """A transfer opens a department only for a weekday it works; a weekend it already works keeps
    its own hours."""
    calendar = WorkingCalendar("RU", weekdays)
    assert calendar.effective_weekday(d(day)) == expected
    assert calendar.is_working_day(d(day)) is (expected is not None)


def test_no_code_and_all_weekdays_works_every_day() -> None:
    """code=None means no public holidays at all: with 7 open weekdays every day is working."""
    calendar = WorkingCalendar(None, range(7))
    assert all(calendar.is_working_day(day) for day in days_of(2026))
    assert not calendar.is_pre_holiday(d("2026-04-30"))
    assert calendar.effective_weekday(d("2026-01-01")) == 3


@pytest.mark.parametrize("code", [None, "", "  "])
def test_no_code_has_no_holidays_but_keeps_weekends_closed(code: str | None) -> None:
    """Without a country New Year's Day is a normal Thursday, Saturdays stay closed."""
    calendar = WorkingCalendar(code, MON_FRI)
    assert calendar.is_working_day(d("2026-01-01"))
    assert not calendar.is_working_day(d("2026-01-03"))
    assert not calendar.is_transferred_working_day(d("2024-04-27"))


# -- navigation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        ("2025-12-30", "2026-01-12"),  # across 31 Dec and the New Year holidays
        ("2024-04-26", "2024-04-27"),  # Friday -> working Saturday
        ("2024-04-27", "2024-05-02"),  # working Saturday -> over 28 Apr-1 May
        ("2025-10-31", "2025-11-01"),
        ("2025-11-01", "2025-11-05"),
        ("2026-11-03", "2026-11-05"),
    ],
)
def test_next_working_day_skips_days_off(ru: WorkingCalendar, start: str, expected: str) -> None:
    """next_working_day is strictly after the day and lands on the first open day."""
    assert ru.next_working_day(d(start)) == d(expected)


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        ("2026-01-11", 0, "2026-01-12"),  # n=0 on a closed day: next working day
        ("2026-01-12", 0, "2026-01-12"),  # n=0 on a working day: the day itself
        ("2026-01-12", 1, "2026-01-13"),  # n>=1 starts strictly after, even from a working day
        ("2025-04-30", 1, "2025-05-05"),
        ("2025-04-30", 4, "2025-05-12"),  # 5, 6, 7 May, then 8-11 May off
        ("2024-12-27", 2, "2025-01-09"),  # Sat 28 Dec, then 29 Dec-8 Jan off
        ("2023-12-29", 248, "2024-12-28"),  # the 248th working day of 2024 is its last
    ],
)
def test_add_working_days(ru: WorkingCalendar, start: str, n: int, expected: str) -> None:
    """add_working_days counts only working days, from the day after ``start``."""
    assert ru.add_working_days(d(start), n) == d(expected)


def test_add_working_days_rejects_negative_terms(ru: WorkingCalendar) -> None:
    """A negative count is a caller bug, not "go backwards"."""
    with pytest.raises(ValueError, match="n must be"):
        ru.add_working_days(d("2026-01-12"), -1)


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        ("2025-12-31", "2026-01-12", 1),
        ("2026-01-12", "2026-01-12", 0),
        ("2024-04-26", "2024-04-27", 1),  # the working Saturday counts
        ("2023-12-31", "2024-12-31", 248),
        ("2024-12-31", "2025-12-31", 247),
        ("2024-04-27", "2024-04-26", -1),  # reversed range keeps the sign
    ],
)
def test_working_days_between(ru: WorkingCalendar, start: str, end: str, expected: int) -> None:
    """Counts working days in (start, end]."""
    assert ru.working_days_between(d(start), d(end)) == expected


@settings(database=None, max_examples=200, deadline=None)
@given(
    start=st.dates(min_value=date(2023, 12, 1), max_value=date(2027, 12, 31)),
    n=st.integers(min_value=1, max_value=40),
    weekdays=st.sets(st.integers(min_value=0, max_value=6), min_size=1),
)
def test_add_working_days_lands_on_the_nth_working_day(
    start: date, n: int, weekdays: set[int]
) -> None:
    """The result is a working day, exactly n working days after start, and the day before it
    is only n-1 - so no working day is skipped or double-counted."""
    calendar = calendar_for("RU", weekdays)
    result = calendar.add_working_days(start, n)
    assert result > start
    assert calendar.is_working_day(result)
    assert calendar.working_days_between(start, result) == n
    assert calendar.working_days_between(start, result - timedelta(days=1)) == n - 1


# -- other countries and regions --------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "working"),
    [
        ("2024-03-21", False),  # Nauryz
        ("2024-03-22", False),
        ("2024-03-25", False),  # Nauryz on Saturday 23rd carried to Monday
        ("2024-03-26", True),
        ("2024-12-16", False),  # Independence Day
        ("2025-12-16", False),
        ("2026-03-23", False),
        ("2026-03-26", True),
        ("2024-05-08", False),  # day off transferred from Saturday 4 May
    ],
)
def test_kazakhstan_holidays(day: str, working: bool) -> None:
    """KZ calendar comes from the package: Nauryz 21-23 March, 16 December and carry-overs."""
    assert calendar_for("KZ").is_working_day(d(day)) is working


def test_kazakhstan_working_weekend_days_use_the_package_pairing() -> None:
    """KZ transfers are not in our table; the replaced weekday is read from the package's data
    (Sat 2024-05-04 for Wed 8 May; Sun 2025-01-05 for Fri 3 Jan). KZ has no art. 95 shortening."""
    kz = calendar_for("KZ")
    assert kz.effective_weekday(d("2024-05-04")) == 2
    assert kz.effective_weekday(d("2025-01-05")) == 4
    assert not kz.is_pre_holiday(d("2024-03-20"))


def test_komi_adds_republic_day_on_top_of_the_federal_calendar() -> None:
    """RU-KO closes on 22 August (regional law) and shortens the 21st; plain RU does not."""
    komi, federal = calendar_for("RU-KO"), calendar_for("RU")
    assert not komi.is_working_day(d("2025-08-22"))
    assert federal.is_working_day(d("2025-08-22"))
    assert komi.is_pre_holiday(d("2025-08-21"))
    assert not federal.is_pre_holiday(d("2025-08-21"))
    assert not komi.is_working_day(d("2025-11-03"))  # federal transfers still apply
    assert komi.effective_weekday(d("2025-11-01")) == 0


def test_package_has_no_russian_subdivisions() -> None:
    """Regional RU days come only from REGIONAL_HOLIDAYS; if the package gains subdivisions,
    review that table for duplicates and let the package validate RU-XX codes."""
    assert holidays.country_holidays("RU").subdivisions == ()


# -- construction and caching -----------------------------------------------------------------


def test_calendar_for_shares_instances_for_equivalent_arguments() -> None:
    """The cache key is normalised: case and weekday order do not create new calendars."""
    assert calendar_for("ru", [4, 3, 2, 1, 0]) is calendar_for("RU", MON_FRI)
    assert calendar_for("RU", (0, 1, 2, 3)) is not calendar_for("RU", MON_FRI)
    assert calendar_for("RU-KO") is not calendar_for("RU")


@pytest.mark.parametrize("code", ["RUS", "R1", "RU-", "RU-TOOLONG", "XX"])
def test_invalid_codes_are_rejected(code: str) -> None:
    """A typo must fail loudly, not produce a calendar without holidays."""
    with pytest.raises(ValueError):
        WorkingCalendar(code)


@pytest.mark.parametrize("weekdays", [(), (0, 7), (-1,)])
def test_invalid_weekdays_are_rejected(weekdays: tuple[int, ...]) -> None:
    """No open weekday would make next_working_day search forever; out-of-range is a bug."""
    with pytest.raises(ValueError):
        WorkingCalendar("RU", weekdays)


# -- the override table versus the package -------------------------------------------------------


def test_override_entries_cite_their_source() -> None:
    """Every transfer names the decree for its own year; carry-overs name art. 112."""
    decree = re.compile(
        r"Постановление Правительства РФ от \d\d\.\d\d\.\d{4} № \d+ «.+ (\d{4}) году»"
    )
    for transfer in DAY_OFF_TRANSFERS:
        match = decree.fullmatch(transfer.source)
        assert match, transfer
        assert int(match[1]) == transfer.to_day.year
    assert all("ст. 112" in observed.source for observed in OBSERVED_DAYS_OFF)
    assert all(holiday.source for holiday in REGIONAL_HOLIDAYS)


def test_installed_package_agrees_with_the_override_table() -> None:
    """Days off and working Saturdays of the table are in the package too, and the package has no
    RU working weekend day the table lacks - so the union never hides a disagreement."""
    package = holidays.country_holidays("RU", years=range(2024, 2028))
    for transfer in DAY_OFF_TRANSFERS:
        assert transfer.to_day in package, transfer
        if transfer.from_day not in package:
            assert transfer.from_day in package.weekend_workdays, transfer
    for observed in OBSERVED_DAYS_OFF:
        assert observed.day in package and observed.holiday in package, observed
    for year in range(2024, 2028):
        for month, day in RU_NON_WORKING_HOLIDAYS:
            assert date(year, month, day) in package
    table_working = {t.from_day for t in DAY_OFF_TRANSFERS if t.from_day not in package}
    assert set(package.weekend_workdays) >= table_working
    assert {w for w in package.weekend_workdays if 2024 <= w.year <= 2027} == table_working


def test_package_pairing_matches_the_decree_pairing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without our table the package's own data yields the same replaced weekdays."""
    monkeypatch.setattr(working_days_module, "DAY_OFF_TRANSFERS", ())
    package_only = WorkingCalendar("RU", MON_FRI)
    for year, facts in OFFICIAL_RU.items():
        for md, weekday in facts["working_weekend"].items():
            assert package_only.effective_weekday(d(f"{year}-{md}")) == weekday


def test_override_table_fills_gaps_of_an_older_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a package that knows nothing (e.g. an old release without 2026/2027 data) the table
    and the statute still give the decree's days off and working Saturdays."""
    monkeypatch.setattr(holidays, "country_holidays", lambda *a, **k: holidays.HolidayBase())
    bare = WorkingCalendar("RU", MON_FRI)
    assert not bare.is_working_day(d("2026-01-09"))  # decree 2026
    assert not bare.is_working_day(d("2026-03-09"))  # art. 112 carry-over
    assert not bare.is_working_day(d("2027-11-05"))  # decree 2027
    assert not bare.is_working_day(d("2026-01-01"))  # statute
    assert bare.effective_weekday(d("2024-11-02")) == 1
    assert not bare.is_working_day(d("2024-01-06"))  # a transfer "from" a holiday stays off


def test_unknown_replaced_weekday_falls_back_to_friday(monkeypatch: pytest.MonkeyPatch) -> None:
    """A working Saturday the package reports without a pairing uses Friday's hours, and stays
    closed for a department that does not work Fridays."""
    saturday = d("2031-06-07")

    def package(*args: object, **kwargs: object) -> holidays.HolidayBase:
        entity = holidays.HolidayBase()
        entity.weekend_workdays = {saturday}
        return entity

    monkeypatch.setattr(holidays, "country_holidays", package)
    assert WorkingCalendar("RU", MON_FRI).effective_weekday(saturday) == 4
    assert WorkingCalendar("RU", (0, 1, 2, 3)).effective_weekday(saturday) is None
