"""Reviewed production-calendar facts (decrees and statutes) that complement the `holidays` package.

Why this table exists although `holidays` 0.109 already knows every RU transfer for 2024-2027:

* pyproject allows ``holidays>=0.60``; releases that old predate the 2026 and 2027 decrees, so a
  deployment on an older wheel would silently treat 9 January 2026 as a working day.  The
  calendar takes the UNION of the package's days off and this table, so the table fills such gaps;
  ``tests/unit/calendar/test_working_days.py`` asserts that the installed package agrees with
  every entry, so the redundancy cannot drift unnoticed.
* The package exposes which weekday a working Saturday stands in for only inside holiday names
  (which we never parse); ``DAY_OFF_TRANSFERS`` records the pair exactly as the decree words it.
* The package has no Russian subdivisions, so regional days off live here.

Maintenance: when the Government publishes the decree for a new year ("О переносе выходных дней в
<year> году", usually in August-October of the previous year), add its lines to
``DAY_OFF_TRANSFERS`` and any Labour Code art. 112 part 2 carry-overs to ``OBSERVED_DAYS_OFF``,
then extend the official-calendar tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

__all__ = [
    "DAY_OFF_TRANSFERS",
    "OBSERVED_DAYS_OFF",
    "REGIONAL_HOLIDAYS",
    "RU_NON_WORKING_HOLIDAYS",
    "RU_NON_WORKING_HOLIDAYS_SINCE",
    "DayOffTransfer",
    "ObservedDayOff",
    "RegionalHoliday",
]

DECREE_2024 = (
    "Постановление Правительства РФ от 10.08.2023 № 1314 «О переносе выходных дней в 2024 году»"
)
DECREE_2025 = (
    "Постановление Правительства РФ от 04.10.2024 № 1335 «О переносе выходных дней в 2025 году»"
)
DECREE_2026 = (
    "Постановление Правительства РФ от 24.09.2025 № 1466 «О переносе выходных дней в 2026 году»"
)
DECREE_2027 = (
    "Постановление Правительства РФ от 17.09.2026 № 1187 «О переносе выходных дней в 2027 году»"
)
LABOUR_CODE_112_2 = (
    "Трудовой кодекс РФ, ст. 112 ч. 2: праздник, совпавший с выходным, переносится "
    "на следующий рабочий день"
)
KOMI_LAW_2014 = "Закон Республики Коми от 05.05.2014 № 30-РЗ (День Республики Коми)"


@dataclass(frozen=True, slots=True)
class DayOffTransfer:
    """One line of a transfer decree: "перенести выходной день с <from_day> на <to_day>".

    ``to_day`` becomes a day off.  If ``from_day`` is an ordinary weekend day it becomes a working
    day worked *in place of* ``to_day`` (so it takes ``to_day``'s weekday hours); if it is itself
    a holiday (e.g. 6 January on a Saturday) it stays a day off and only its rest is moved.
    """

    code: str
    from_day: date
    to_day: date
    source: str


@dataclass(frozen=True, slots=True)
class ObservedDayOff:
    """A weekday off because a holiday fell on a weekend (Labour Code art. 112 part 2)."""

    code: str
    day: date
    holiday: date
    source: str


@dataclass(frozen=True, slots=True)
class RegionalHoliday:
    """A recurring non-working holiday set by a subject of the Federation for its territory."""

    code: str
    month: int
    day: int
    since: int
    source: str


# Labour Code art. 112 part 1 in its 2013 wording: the statutory non-working holidays.  Only
# these (not transferred days off) make the preceding working day shorter under art. 95.
RU_NON_WORKING_HOLIDAYS_SINCE = 2013
RU_NON_WORKING_HOLIDAYS: tuple[tuple[int, int], ...] = (
    (1, 1),
    (1, 2),
    (1, 3),
    (1, 4),
    (1, 5),
    (1, 6),
    (1, 7),
    (1, 8),
    (2, 23),
    (3, 8),
    (5, 1),
    (5, 9),
    (6, 12),
    (11, 4),
)

DAY_OFF_TRANSFERS: tuple[DayOffTransfer, ...] = (
    # 2024
    DayOffTransfer("RU", date(2024, 1, 6), date(2024, 5, 10), DECREE_2024),
    DayOffTransfer("RU", date(2024, 1, 7), date(2024, 12, 31), DECREE_2024),
    DayOffTransfer("RU", date(2024, 4, 27), date(2024, 4, 29), DECREE_2024),
    DayOffTransfer("RU", date(2024, 11, 2), date(2024, 4, 30), DECREE_2024),
    DayOffTransfer("RU", date(2024, 12, 28), date(2024, 12, 30), DECREE_2024),
    # 2025
    DayOffTransfer("RU", date(2025, 1, 4), date(2025, 5, 2), DECREE_2025),
    DayOffTransfer("RU", date(2025, 1, 5), date(2025, 12, 31), DECREE_2025),
    DayOffTransfer("RU", date(2025, 2, 23), date(2025, 5, 8), DECREE_2025),
    DayOffTransfer("RU", date(2025, 3, 8), date(2025, 6, 13), DECREE_2025),
    DayOffTransfer("RU", date(2025, 11, 1), date(2025, 11, 3), DECREE_2025),
    # 2026
    DayOffTransfer("RU", date(2026, 1, 3), date(2026, 1, 9), DECREE_2026),
    DayOffTransfer("RU", date(2026, 1, 4), date(2026, 12, 31), DECREE_2026),
    # 2027
    DayOffTransfer("RU", date(2027, 1, 2), date(2027, 11, 5), DECREE_2027),
    DayOffTransfer("RU", date(2027, 1, 3), date(2027, 12, 31), DECREE_2027),
    DayOffTransfer("RU", date(2027, 2, 20), date(2027, 2, 22), DECREE_2027),
)

# The decrees leave these to the statute, so they are not "transfers"; listed because packages
# older than the 2026/2027 data do not have them either.
OBSERVED_DAYS_OFF: tuple[ObservedDayOff, ...] = (
    ObservedDayOff("RU", date(2026, 3, 9), date(2026, 3, 8), LABOUR_CODE_112_2),
    ObservedDayOff("RU", date(2026, 5, 11), date(2026, 5, 9), LABOUR_CODE_112_2),
    ObservedDayOff("RU", date(2027, 5, 3), date(2027, 5, 1), LABOUR_CODE_112_2),
    ObservedDayOff("RU", date(2027, 5, 10), date(2027, 5, 9), LABOUR_CODE_112_2),
    ObservedDayOff("RU", date(2027, 6, 14), date(2027, 6, 12), LABOUR_CODE_112_2),
)

# Komi's Republic Day is a non-working day for state bodies and state/municipal institutions of
# the republic (what public-service contact centres usually are); other employers decide for
# themselves.  No weekend carry-over is modelled (22 August 2026 is a Saturday, 2027 a Sunday):
# we found no rule moving it, and a wrongly closed Monday would refuse bookings.
REGIONAL_HOLIDAYS: tuple[RegionalHoliday, ...] = (
    RegionalHoliday("RU-KO", 8, 22, 2014, KOMI_LAW_2014),
)
