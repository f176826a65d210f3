"""Follow-up deadlines against the official RU production calendars of 2024-2027, through the ticket
services (a department's zone, calendar and hours) and through ``flask workdays due``.

Every expected value was counted by hand from the Government's transfer decrees: counting starts
the day after the opening's *local* date, non-working days are skipped, and the term ends at the
department's close of business, one hour earlier on a pre-holiday day (Labour Code art. 95).
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask

from booking.availability import search_slots
from booking.tickets.cli import workdays_cli
from booking.tickets.services import due_at_for
from tests.factories import add_weekly, make_department, make_expert, make_topic

MOSCOW = ZoneInfo("Europe/Moscow")

# (opened, local Moscow time; expected due, local) for a Mon-Fri 9:00-18:00 department on the RU calendar.
CASES = [
    # New Year: 31 Dec 2025 is a transferred day off, 1-8 January holidays, 9 January 2026 transferred.
    pytest.param("2025-12-30T12:00", "2026-01-15T18:00", id="new-year-2026"),
    pytest.param("2026-12-30T23:59", "2027-01-14T18:00", id="new-year-2027-at-23:59"),
    # 28 Dec 2024 is a working Saturday (for 30 December), then the holidays until 8 January.
    pytest.param("2024-12-27T10:00", "2025-01-13T18:00", id="new-year-2025-working-saturday"),
    # 23:59 and 00:01 are two minutes apart but on different local dates: a whole working day apart.
    pytest.param("2026-04-06T23:59", "2026-04-10T18:00", id="opened-at-23:59"),
    pytest.param("2026-04-07T00:01", "2026-04-13T18:00", id="opened-at-00:01"),
    # May holidays 2026: 1 May (Fri), 9 May (Sat) → 11 May off; 8 May is a short pre-holiday day.
    pytest.param("2026-04-30T10:00", "2026-05-07T18:00", id="may-day-2026"),
    pytest.param("2026-05-04T10:00", "2026-05-08T17:00", id="may-8-pre-holiday"),
    pytest.param("2026-05-05T10:00", "2026-05-12T18:00", id="victory-day-observed"),
    # 2024: Sat 27 April worked for Mon 29 April; 29, 30 April and 1 May off.
    pytest.param("2024-04-24T10:00", "2024-05-02T18:00", id="may-2024-working-saturday"),
    # 4 November 2026 (Wed): 3 November is short.
    pytest.param("2026-10-28T10:00", "2026-11-03T17:00", id="november-3-pre-holiday"),
    pytest.param("2026-10-30T10:00", "2026-11-06T18:00", id="november-4-2026"),
    # 2025: Sat 1 November worked for Mon 3 November (with Monday's hours, shortened before the 4th).
    pytest.param("2025-10-28T10:00", "2025-11-01T17:00", id="due-on-working-saturday-2025-11-01"),
    pytest.param("2025-10-29T10:00", "2025-11-05T18:00", id="november-4-2025"),
    # 2027: Sat 20 February worked for Mon 22 February, before Defender of the Fatherland Day.
    pytest.param("2027-02-16T10:00", "2027-02-20T17:00", id="due-on-working-saturday-2027-02-20"),
    pytest.param("2027-02-17T10:00", "2027-02-24T18:00", id="february-2027"),
    # 2027: 4 November (Thu) and the transferred 5 November off.
    pytest.param("2027-11-02T10:00", "2027-11-10T18:00", id="november-4-2027"),
]


def local(value: str, zone: ZoneInfo = MOSCOW) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=zone)


@pytest.mark.parametrize(("opened", "due"), CASES)
def test_due_time_of_an_ordinary_office_follows_the_official_calendar(session: Any, opened: str, due: str) -> None:
    department = make_department(session)
    assert due_at_for(department, local(opened), 4) == local(due)


def test_a_department_with_no_days_off_counts_every_calendar_day(session: Any) -> None:
    zone = ZoneInfo("Asia/Yekaterinburg")
    department = make_department(session, timezone=zone.key, holiday_calendar="",
                                 hours={d: [(time(8), time(20))] for d in range(7)})
    # Opened on New Year's Eve: 1, 2, 3, 4 January all count, due at 20:00 local.
    assert due_at_for(department, local("2026-12-31T23:30", zone), 4) == local("2027-01-04T20:00", zone)


def test_the_local_date_of_the_department_decides_not_moscows(session: Any) -> None:
    zone = ZoneInfo("Asia/Vladivostok")
    department = make_department(session, timezone=zone.key)
    # Monday 20:00 in Moscow is already Tuesday 03:00 in Vladivostok: counting starts on Wednesday there.
    assert due_at_for(department, local("2026-04-06T20:00"), 4) == local("2026-04-13T18:00", zone)


def test_the_close_of_business_is_the_last_interval_of_the_day(session: Any) -> None:
    department = make_department(session, hours={d: [(time(8), time(12)), (time(13), time(16, 30))] for d in range(5)})
    assert due_at_for(department, local("2026-04-06T10:00"), 1) == local("2026-04-07T16:30")


@pytest.mark.parametrize(("opened", "due"), [
    ("2026-10-28T10:00", "2026-11-03T17:00"),  # Tuesday before 4 November
    ("2025-10-28T10:00", "2025-11-01T17:00"),  # the working Saturday standing in for Monday 3 November
])
def test_a_follow_up_is_due_when_the_last_bookable_slot_of_a_short_day_ends(
        session: Any, opened: str, due: str) -> None:
    """One calendar answer: the deadline and the slot engine agree on when a short day ends."""
    department = make_department(session, hours={d: [(time(9), time(18))] for d in range(5)})
    topic = make_topic(session, department, duration_minutes=60, horizon_days=3650)
    add_weekly(session, make_expert(session, department, [topic]), weekdays=tuple(range(7)),
               starts=time(0), ends=time(23, 59))
    due_at = due_at_for(department, local(opened), 4)
    assert due_at == local(due)
    day = local(due).date()
    slots = search_slots(session, topic, "video", day, day, local(opened))
    assert len(slots) == 8
    assert max(s.end for s in slots) == due_at


@pytest.mark.parametrize(("opened", "due"), [CASES[1], CASES[3], CASES[4], CASES[11]])
def test_the_cli_prints_the_due_instant_for_a_department(app: Flask, session: Any, opened: str, due: str) -> None:
    department = make_department(session, slug="gas-office")
    result = app.test_cli_runner().invoke(workdays_cli, ["due", "--opened", local(opened).isoformat(),
                                                         "--department", department.slug])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == local(due).isoformat()


def test_the_cli_defaults_to_four_days_of_a_moscow_weekday_office(app: Flask, session: Any) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(workdays_cli, ["due", "--opened", "2026-04-06T23:59:00+03:00"])
    assert result.output.strip() == "2026-04-10T18:00:00+03:00"
    two = runner.invoke(workdays_cli, ["due", "--opened", "2026-04-06T20:59:00Z", "--days", "2"])
    assert two.output.strip() == "2026-04-08T18:00:00+03:00"


@pytest.mark.parametrize("bad", ["2026-04-06T10:00", "yesterday"])
def test_the_cli_refuses_an_instant_without_offset_or_unreadable(app: Flask, session: Any, bad: str) -> None:
    result = app.test_cli_runner().invoke(workdays_cli, ["due", "--opened", bad])
    assert result.exit_code == 2 and "--opened" in result.output


def test_the_cli_refuses_an_unknown_department(app: Flask, session: Any) -> None:
    result = app.test_cli_runner().invoke(workdays_cli, ["due", "--opened", "2026-04-06T10:00:00+03:00",
                                                         "--department", "nowhere"])
    assert result.exit_code == 1 and "nowhere" in result.output
