"""A reception day for reception tests: an office, an in-person topic, two experts on duty that day."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from booking.citizens import validate_citizen
from booking.models import Booking
from booking.services import BookingPolicy, confirm_booking, hold_slot
from scheduler.audit import Actor
from scheduler.departments.models import Department, Location, Topic
from scheduler.experts.models import Expert
from scheduler.schedules.models import Channel, OverrideKind
from tests.factories import add_override, add_reception_day, make_department, make_expert, make_location, make_topic

POLICY = BookingPolicy(secret_key="k" * 40)


@dataclass
class ReceptionSetup:
    department: Department
    topic: Topic
    location: Location
    experts: list[Expert]
    day: date
    zone: ZoneInfo
    phones: list[str] = field(default_factory=list)

    def at(self, hour: int, minute: int = 0) -> datetime:
        return datetime.combine(self.day, time(hour, minute), tzinfo=self.zone)


def reception_setup(session: Any, day: date, *, zone: str = "Europe/Moscow", starts: time = time(10),
                    ends: time = time(13), experts: int = 2, slug: str | None = None) -> ReceptionSetup:
    """Reception on ``day`` from ``starts`` to ``ends`` (office time), whatever the production calendar says.

    The reception pattern covers every weekday and the experts get replacement in-person hours on
    that date, so the day receives visitors even on a weekend or a holiday.
    """
    department = make_department(session, timezone=zone)
    topic = make_topic(session, department, title="Подключение к газу", duration_minutes=30, min_notice_minutes=0,
                       allows_video=False, allows_in_person=True)
    named = {"slug": slug} if slug else {}
    location = make_location(session, department, timezone=zone, name="Офис на Ленина", **named)
    people = [make_expert(session, department, [topic], full_name=f"Эксперт {n + 1}") for n in range(experts)]
    for expert in people:
        add_override(session, expert, day, kind=OverrideKind.HOURS, channel=Channel.IN_PERSON,
                     intervals=[[starts.strftime("%H:%M"), ends.strftime("%H:%M")]])
    add_reception_day(session, location, [topic], people, weekdays=list(range(7)), starts=starts, ends=ends)
    return ReceptionSetup(department, topic, location, people, day, ZoneInfo(zone))


_phones = iter(range(10, 10_000))


def book(session: Any, setup: ReceptionSetup, start: datetime, now: datetime, *, expert: Expert | None = None,
         name: str = "Анна Смирнова") -> Booking:
    """A confirmed in-person booking at ``start`` (made at ``now``) for a new citizen."""
    n = next(_phones)
    phone = f"+7 912 345-{n // 100:02d}-{n % 100:02d}"
    citizen = validate_citizen(name=name, email=f"visitor{n}@example.org", phone=phone, applicant_type="individual")
    held = hold_slot(session, topic=setup.topic, channel="in_person", start=start, citizen=citizen,
                     question="Как подключить дом к газу?", now=now, policy=POLICY, actor=Actor.system("test"),
                     expert_id=(expert or setup.experts[0]).id)
    confirm_booking(session, held.booking, now, Actor.system("test"))
    session.flush()
    return held.booking


def a_day_ahead(days: int = 3) -> date:
    return datetime.now(ZoneInfo("Europe/Moscow")).date() + timedelta(days=days)


VISIT_STATES = ("expected", "checked_in", "called", "in_consultation", "completed", "no_show")


def visit(session: Any, setup: ReceptionSetup, state: str) -> Booking:
    """A 10:00 in-person booking brought to a desk state the real way: checked in at 9:50, called at 9:55,
    started at 9:56, completed at 10:20; a no-show marked at 10:20."""
    from booking import consultation
    from booking.models import Outcome
    from booking.reception import services

    desk = Actor.system("desk")
    booking = book(session, setup, setup.at(10), setup.at(8))
    if state == "no_show":
        consultation.mark_no_show(session, booking, setup.at(10, 20), desk)
        return booking
    steps = VISIT_STATES.index(state)
    if steps >= 1:
        services.check_in(session, booking.code, setup.location, setup.at(9, 50), services.Windows(), desk)
    if steps >= 2:
        services.call_next(session, setup.location, setup.at(9, 55), "1", desk)
    if steps >= 3:
        services.start_consultation(session, booking, setup.at(9, 56), desk)
    if steps >= 4:
        consultation.complete(session, booking, Outcome.RESOLVED, setup.at(10, 20), desk)
    return booking
