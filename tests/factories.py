"""Factories for domain objects with sensible defaults: override only what a test is about."""

from __future__ import annotations

import itertools
from datetime import date, time
from typing import Any

from scheduler.auth.models import Role
from scheduler.departments.models import BusinessHours, Department, Location, Topic
from scheduler.experts.models import Expert
from scheduler.schedules.models import Channel, DateOverride, OverrideKind, ReceptionDay, WeeklyAvailability
from tests.helpers import make_user

_seq = itertools.count(1)

WEEKDAYS = (0, 1, 2, 3, 4)


def make_department(session: Any, *, hours: dict[int, list[tuple[time, time]]] | None = None, **kw: Any) -> Department:
    """Mon-Fri 9:00-18:00 in Moscow on the RU calendar unless told otherwise."""
    n = next(_seq)
    department = Department(
        slug=kw.pop("slug", f"dept-{n}"), title=kw.pop("title", f"Department {n}"),
        timezone=kw.pop("timezone", "Europe/Moscow"), holiday_calendar=kw.pop("holiday_calendar", "RU"), **kw,
    )
    if hours is None:
        hours = {d: [(time(9), time(18))] for d in WEEKDAYS}
    for weekday, intervals in hours.items():
        for opens, closes in intervals:
            department.hours.append(BusinessHours(weekday=weekday, opens=opens, closes=closes))
    session.add(department)
    session.flush()
    return department


def make_topic(session: Any, department: Department | None = None, **kw: Any) -> Topic:
    n = next(_seq)
    topic = Topic(
        slug=kw.pop("slug", f"topic-{n}"), title=kw.pop("title", f"Topic {n}"),
        department=department or make_department(session),
        duration_minutes=kw.pop("duration_minutes", 30), min_notice_minutes=kw.pop("min_notice_minutes", 0),
        horizon_days=kw.pop("horizon_days", 30), **kw,
    )
    session.add(topic)
    session.flush()
    return topic


def make_location(session: Any, department: Department | None = None, **kw: Any) -> Location:
    n = next(_seq)
    location = Location(
        slug=kw.pop("slug", f"office-{n}"), name=kw.pop("name", f"Office {n}"),
        address=kw.pop("address", f"Test street {n}"), timezone=kw.pop("timezone", "Europe/Moscow"),
        desks=kw.pop("desks", 2), department=department, **kw,
    )
    session.add(location)
    session.flush()
    return location


def make_expert(session: Any, department: Department, topics: list[Topic] | None = None, **kw: Any) -> Expert:
    user = make_user(session, role=Role.EXPERT, full_name=kw.pop("full_name", "Test Expert"),
                     department_id=department.id)
    expert = Expert(user=user, department=department, position=kw.pop("position", "Consultant"), **kw)
    expert.topics = list(topics or [])
    session.add(expert)
    session.flush()
    return expert


def add_weekly(session: Any, expert: Expert, weekdays: tuple[int, ...] = WEEKDAYS, starts: time = time(9),
               ends: time = time(18), channel: Channel = Channel.VIDEO, **kw: Any) -> list[WeeklyAvailability]:
    rows = [WeeklyAvailability(expert=expert, channel=channel, weekday=d, starts=starts, ends=ends, **kw)
            for d in weekdays]
    session.add_all(rows)
    session.flush()
    return rows


def add_override(session: Any, expert: Expert, first_day: date, last_day: date | None = None,
                 kind: OverrideKind = OverrideKind.ABSENCE, intervals: list[list[str]] | None = None,
                 channel: Channel | None = None) -> DateOverride:
    row = DateOverride(expert=expert, first_day=first_day, last_day=last_day or first_day, kind=kind,
                       channel=channel, intervals=intervals or [])
    session.add(row)
    session.flush()
    return row


def add_reception_day(session: Any, location: Location, topics: list[Topic], experts: list[Expert],
                      weekdays: list[int], starts: time = time(10), ends: time = time(13), **kw: Any) -> ReceptionDay:
    row = ReceptionDay(location=location, weekdays=weekdays, starts=starts, ends=ends,
                       title=kw.pop("title", "Reception"), **kw)
    row.topics = list(topics)
    row.experts = list(experts)
    session.add(row)
    session.flush()
    return row
