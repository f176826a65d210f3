"""A bookable setup for booking tests: a department, a video topic, two experts with weekday hours."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from scheduler.db import utcnow
from scheduler.departments.models import Department, Location, Topic
from scheduler.experts.models import Expert
from scheduler.mail.compose import read_content
from scheduler.mail.models import OutboxMessage
from scheduler.schedules.models import Channel
from tests.factories import add_reception_day, add_weekly, make_department, make_expert, make_location, make_topic

MOSCOW = ZoneInfo("Europe/Moscow")


@dataclass
class Setup:
    department: Department
    topic: Topic
    experts: list[Expert]
    day: date  # a working weekday at least two days ahead

    def at(self, hour: int, minute: int = 0, day: date | None = None) -> datetime:
        return datetime.combine(day or self.day, time(hour, minute), tzinfo=MOSCOW)


def next_working_day(department: Department, min_days_ahead: int = 2) -> date:
    day = utcnow().astimezone(MOSCOW).date() + timedelta(days=min_days_ahead)
    calendar = department.working_calendar
    while not calendar.is_working_day(day) or day.weekday() > 4:
        day += timedelta(days=1)
    return day


def bookable_setup(session: Any, experts: int = 2, **topic_kw: Any) -> Setup:
    department = make_department(session, slug=f"gas-{utcnow().timestamp():.0f}", title="Одно окно")
    topic = make_topic(session, department, title="Замена газовой плиты", duration_minutes=30,
                       **{"slug": "stove", **topic_kw})
    people = []
    for n in range(experts):
        expert = make_expert(session, department, [topic], full_name=f"Эксперт {n + 1}")
        add_weekly(session, expert, starts=time(9), ends=time(13))
        people.append(expert)
    return Setup(department, topic, people, next_working_day(department))


def two_office_setup(session: Any) -> tuple[Setup, list[Location]]:
    """An in-person topic with 2 seats; one expert on duty 09-11 in two offices on ``setup.day``."""
    setup = bookable_setup(session, experts=1, allows_in_person=True, seats=2)
    expert = setup.experts[0]
    add_weekly(session, expert, starts=time(9), ends=time(11), channel=Channel.IN_PERSON)
    offices = [make_location(session, setup.department, slug=f"office-{n}-{setup.topic.id}", name=f"Офис {n}")
               for n in (1, 2)]
    for office in offices:
        add_reception_day(session, office, [setup.topic], [expert], [setup.day.weekday()], starts=time(9),
                          ends=time(11))
    return setup, offices


def last_code_email(session: Any, to: str) -> str:
    from sqlalchemy import select

    message = session.scalars(
        select(OutboxMessage).where(OutboxMessage.to_address == to, OutboxMessage.template == "booking_code")
        .order_by(OutboxMessage.id.desc())
    ).first()
    assert message is not None, "no code email was written"
    match = re.search(r"\b(\d{6})\b", read_content(message).text_body)
    assert match
    return match.group(1)


CITIZEN_FORM = {
    "name": "Анна Петровна Смирнова",
    "email": "anna.smirnova@example.org",
    "phone": "+7 912 345-67-89",
    "applicant_type": "individual",
    "question": "Хочу заменить старую газовую плиту на новую с газ-контролем.",
    "consent": "y",
}
