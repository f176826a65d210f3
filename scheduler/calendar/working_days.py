"""Working calendars: public holidays, decree transfers and a department's open weekdays."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import MAXYEAR, MINYEAR, date, timedelta

import holidays
from holidays import HolidayBase

from scheduler.calendar.overrides import (
    DAY_OFF_TRANSFERS,
    OBSERVED_DAYS_OFF,
    REGIONAL_HOLIDAYS,
    RU_NON_WORKING_HOLIDAYS,
    RU_NON_WORKING_HOLIDAYS_SINCE,
)

__all__ = ["DEFAULT_OPEN_WEEKDAYS", "WorkingCalendar", "calendar_for"]

DEFAULT_OPEN_WEEKDAYS: tuple[int, ...] = (0, 1, 2, 3, 4)

_ONE_DAY = timedelta(days=1)
_WEEKEND = frozenset({5, 6})
_FRIDAY = 4
# Longest run of consecutive closed days we accept before declaring the calendar broken; the
# longest real one (New Year holidays plus a closed weekday pattern) is far shorter.
_MAX_CLOSED_RUN = 400


@dataclass(frozen=True, slots=True)
class _YearFacts:
    """Everything the calendar needs about one year, frozen so lookups need no lock."""

    days_off: frozenset[date]
    # Working weekend day -> the weekday date whose day off it gave (None when nobody knows).
    working_weekend_days: Mapping[date, date | None]
    # Non-working holidays in the art. 95 sense (statutory and regional), RU only.
    pre_holiday_triggers: frozenset[date]


def _split_code(code: str | None) -> tuple[str | None, str | None]:
    """Normalise "ru-ko " to ("RU", "KO"); None/"" means a calendar without public holidays."""
    if code is None or not code.strip():
        return None, None
    country, separator, subdiv = code.strip().upper().partition("-")
    if len(country) != 2 or not country.isalpha():
        raise ValueError(f"calendar code {code!r} is not 'CC' or 'CC-SUB' (ISO 3166)")
    if separator and not (subdiv and subdiv.isalnum() and len(subdiv) <= 3):
        raise ValueError(f"calendar code {code!r} has an invalid ISO 3166-2 subdivision")
    return country, subdiv or None


def _package_transfers(hol: HolidayBase, years: Iterable[int]) -> dict[date, date]:
    """The package's own "from weekend day -> to weekday" pairs, read from its decree table.

    `holidays` stores each decree line as ``(to_month, to_day, from_month, from_day[, from_year])``
    in ``special_public_holidays``; it uses the pair internally but publishes it only inside the
    holiday name.  Reading the tuple gives us the exact pair for years our own table does not
    cover (e.g. Kazakhstan).  A format change degrades to "unknown" rather than crashing, and the
    tests pin the known pairs so such a change is noticed on upgrade.
    """
    table = getattr(hol, "special_public_holidays", None)
    pairs: dict[date, date] = {}
    if not isinstance(table, Mapping):
        return pairs
    for year in years:
        entries = table.get(year, ())
        if entries and not isinstance(entries[0], tuple):
            entries = (entries,)
        for entry in entries:
            if len(entry) not in (4, 5) or not all(isinstance(part, int) for part in entry):
                continue  # (month, day, name): a one-off holiday, not a transfer
            to_month, to_day, from_month, from_day, *from_year = entry
            try:
                from_date = date(from_year[0] if from_year else year, from_month, from_day)
                pairs[from_date] = date(year, to_month, to_day)
            except ValueError:
                continue
    return pairs


class WorkingCalendar:
    """A department's working days: a public-holiday calendar plus the weekdays it is open.

    Sources: the `holidays` package (public holidays, observed days, decree transfers and the
    weekend days made working), united with :mod:`scheduler.calendar.overrides` (the statutory
    art. 112 list, the reviewed decree table that fills gaps of older package releases and gives
    the exact weekday a working Saturday stands in for, and regional days off).  Subdivisions the
    package does not model (all of Russia's) are accepted and only add regional days.

    Working Saturday rule.  A decree line "перенести выходной с субботы X на понедельник Y" means
    X is worked *instead of* Y.  So on X a department that normally closes on Saturdays opens
    with Y's weekday hours (``effective_weekday(X) == Y.weekday()``), and only if it normally
    works that weekday: a department closed on Mondays does not open for a Saturday that stands
    in for a Monday.  A department that opens on Saturdays anyway keeps its own Saturday hours.
    If neither source knows Y (no such case in 2024-2027) Friday's hours are used, being the
    weekday adjacent to the weekend.

    Instances are immutable from the outside and safe to share between threads; per-year facts
    are computed lazily once.
    """

    def __init__(
        self, code: str | None, open_weekdays: Iterable[int] = DEFAULT_OPEN_WEEKDAYS
    ) -> None:
        weekdays = frozenset(open_weekdays)
        if not weekdays:
            raise ValueError("a department open on no weekday never has a working day")
        if not all(isinstance(day, int) and 0 <= day <= 6 for day in weekdays):
            raise ValueError(f"open weekdays must be 0 (Monday) .. 6 (Sunday), got {weekdays}")
        self._open = weekdays
        self._country, self._subdiv = _split_code(code)
        self._code = f"{self._country}-{self._subdiv}" if self._subdiv else self._country
        self._holidays = self._load_package()
        self._years: dict[int, _YearFacts] = {}
        self._lock = threading.Lock()

    @property
    def code(self) -> str | None:
        """The normalised calendar code ("RU", "RU-KO", ...), None without public holidays."""
        return self._code

    @property
    def open_weekdays(self) -> frozenset[int]:
        """The weekdays (Mon=0) the department normally works."""
        return self._open

    def __repr__(self) -> str:
        return f"WorkingCalendar({self.code!r}, open_weekdays={sorted(self._open)})"

    def _load_package(self) -> HolidayBase | None:
        if self._country is None:
            return None
        try:
            entity = holidays.country_holidays(self._country)
        except NotImplementedError as exc:
            raise ValueError(f"no public-holiday data for country {self._country!r}") from exc
        # Pass the subdivision only where the package models subdivisions (it has none for
        # Russia); otherwise regional days come from our override table alone.
        if self._subdiv and entity.subdivisions:
            try:
                return holidays.country_holidays(self._country, subdiv=self._subdiv)
            except NotImplementedError as exc:
                raise ValueError(f"unknown subdivision {self.code!r}") from exc
        return entity

    # -- per-year facts ---------------------------------------------------------------------

    def _facts(self, year: int) -> _YearFacts:
        facts = self._years.get(year)
        if facts is None:
            with self._lock:
                facts = self._years.get(year)
                if facts is None:
                    facts = self._build_year(year)
                    self._years[year] = facts
        return facts

    def _build_year(self, year: int) -> _YearFacts:
        if self._country is None:
            return _YearFacts(frozenset(), {}, frozenset())
        days_off: set[date] = set()
        package_working: set[date] = set()
        package_pairs: dict[date, date] = {}
        hol = self._holidays
        if hol is not None:
            # A transfer may cross New Year (a December Saturday worked for a January day), so
            # the neighbouring years are loaded too; with expand=True a lookup loads its year.
            neighbours = [y for y in (year - 1, year, year + 1) if MINYEAR <= y <= MAXYEAR]
            for y in neighbours:
                _ = date(y, 1, 1) in hol
            days_off.update(day for day in hol if day.year == year)
            package_working.update(day for day in hol.weekend_workdays if day.year == year)
            package_pairs = _package_transfers(hol, neighbours)

        table_pairs: dict[date, date] = {}
        for transfer in DAY_OFF_TRANSFERS:
            if transfer.code != self._country:
                continue
            if transfer.to_day.year == year:
                days_off.add(transfer.to_day)
            if transfer.from_day.year == year:
                table_pairs[transfer.from_day] = transfer.to_day
        for observed in OBSERVED_DAYS_OFF:
            if observed.code in (self._country, self.code) and observed.day.year == year:
                days_off.add(observed.day)
        regional = {
            date(year, holiday.month, holiday.day)
            for holiday in REGIONAL_HOLIDAYS
            if holiday.code == self.code and year >= holiday.since
        }
        days_off |= regional

        triggers: frozenset[date] = frozenset()
        if self._country == "RU" and year >= RU_NON_WORKING_HOLIDAYS_SINCE:
            statutory = {date(year, month, day) for month, day in RU_NON_WORKING_HOLIDAYS}
            # Redundant with the package, but keeps a decree's "from 6 January (Saturday)" line
            # from turning a holiday into a working Saturday should the package lack the year.
            days_off |= statutory
            triggers = frozenset(statutory | regional)

        # A transfer "from" a weekend holiday (6 January on a Saturday) leaves that day off, and
        # a regional holiday beats a national working Saturday, hence the days_off check.
        working: dict[date, date | None] = {
            day: table_pairs.get(day) or package_pairs.get(day)
            for day in package_working | {d for d in table_pairs if d.weekday() in _WEEKEND}
            if day not in days_off
        }
        return _YearFacts(frozenset(days_off), working, triggers)

    # -- public API -------------------------------------------------------------------------

    def is_holiday(self, day: date) -> bool:
        """Whether ``day`` is a public holiday or an official day off (transferred days included).

        Weekday-independent: a holiday on a Sunday is still a holiday, so departments that work
        weekends close on it too.
        """
        return day in self._facts(day.year).days_off

    def is_transferred_working_day(self, day: date) -> bool:
        """Whether ``day`` is a weekend day made working by decree (e.g. Saturday 2025-11-01).

        This is the national fact; whether *this* department opens then depends on its weekdays
        (see :meth:`effective_weekday`).
        """
        return day in self._facts(day.year).working_weekend_days

    def _stand_in_for(self, day: date) -> date | None:
        """The weekday date a working weekend day replaces, if ``day`` is one."""
        facts = self._facts(day.year)
        if day not in facts.working_weekend_days:
            return None
        return facts.working_weekend_days[day]

    def effective_weekday(self, day: date) -> int | None:
        """Which weekday's business hours apply on ``day``; None when the department is closed.

        Business hours are stored per weekday, so this is the single place that turns the legal
        calendar into "which row of hours to use": the date's own weekday normally, the replaced
        weekday on a working Saturday (see the class docstring for the rule).
        """
        if self.is_holiday(day):
            return None
        weekday = day.weekday()
        if weekday in self._open:
            return weekday
        if not self.is_transferred_working_day(day):
            return None
        replaced = self._stand_in_for(day)
        stand_in = replaced.weekday() if replaced is not None else _FRIDAY
        return stand_in if stand_in in self._open else None

    def is_working_day(self, day: date) -> bool:
        """Whether the department is open on ``day`` (not a day off, and an open weekday or a
        working Saturday standing in for an open weekday)."""
        return self.effective_weekday(day) is not None

    def is_pre_holiday(self, day: date) -> bool:
        """Whether ``day`` is a working day shortened by one hour (RU Labour Code art. 95).

        Art. 95 shortens the working day *immediately preceding* a non-working holiday (art. 112
        list, plus regional ones); transferred days off do not count.  Official calendars apply it
        to the working day whose next calendar day is such a holiday, and to a working Saturday
        when the weekday it replaces is such a day: 2024-11-02 (for Tue 30 April, before 1 May)
        and 2025-11-01 (for Mon 3 November, before 4 November) are short, 2024-12-28 (for
        30 December) and 2025-05-07 (before the transferred 8 May) are not.  This matches every
        official RU calendar 2024-2027.  Other countries: always False.
        """
        if self._country != "RU" or not self.is_working_day(day):
            return False
        anchor = day
        if day.weekday() not in self._open:
            anchor = self._stand_in_for(day) or day
        following = anchor + _ONE_DAY
        return following in self._facts(following.year).pre_holiday_triggers

    def next_working_day(self, day: date) -> date:
        """The first working day strictly after ``day``."""
        candidate = day
        for _ in range(_MAX_CLOSED_RUN):
            candidate += _ONE_DAY
            if self.is_working_day(candidate):
                return candidate
        raise ValueError(f"{self!r} has no working day within {_MAX_CLOSED_RUN} days of {day}")

    def add_working_days(self, day: date, n: int) -> date:
        """The ``n``-th working day strictly after ``day``; for ``n == 0`` ``day`` itself if it is
        a working day, else the next one.

        Terms run from the day after the triggering event (Civil Code art. 191), which is why
        counting starts strictly after ``day`` regardless of whether ``day`` itself is working.
        """
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        if n == 0:
            return day if self.is_working_day(day) else self.next_working_day(day)
        current = day
        for _ in range(n):
            current = self.next_working_day(current)
        return current

    def working_days_between(self, start: date, end: date) -> int:
        """The number of working days in ``(start, end]``; negative when ``end < start``.

        Half-open on the left so that ``working_days_between(d, add_working_days(d, n)) == n``;
        antisymmetric like date subtraction, so an "overdue by" computation keeps its sign.
        """
        if end < start:
            return -self.working_days_between(end, start)
        count = 0
        current = start
        while current < end:
            current += _ONE_DAY
            count += self.is_working_day(current)
        return count


@functools.lru_cache(maxsize=256)
def _cached_calendar(code: str | None, open_weekdays: frozenset[int]) -> WorkingCalendar:
    return WorkingCalendar(code, open_weekdays)


def calendar_for(
    code: str | None, open_weekdays: Iterable[int] = DEFAULT_OPEN_WEEKDAYS
) -> WorkingCalendar:
    """A shared, cached calendar for ``code`` and ``open_weekdays``.

    Building the package's holiday tables costs milliseconds per year, and a request may ask about
    many days of many departments, so identical calendars are shared.  The key is normalised
    ("ru" == "RU", weekday order irrelevant) so equal calendars are not built twice.
    """
    country, subdiv = _split_code(code)
    normalised = f"{country}-{subdiv}" if subdiv else country
    return _cached_calendar(normalised, frozenset(open_weekdays))
