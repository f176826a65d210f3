"""A seeded analytics dataset whose every figure the tests know (see the totals in ``EXPECTED``).

Two departments: "gas" in Moscow (UTC+3) with topics stove (video and in person) and meter, and
"water" in Yekaterinburg (UTC+5) with topic pipe. The period is Monday 7 to Sunday 13 April 2025
(five working days, no holidays). Bookings straddle the local midnight on both ends of the
period, so a query that counts UTC dates instead of local ones gets different totals.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from booking.models import ApplicantType, Booking, BookingStatus
from booking.tickets.models import Ticket, TicketStatus
from scheduler.departments.models import Department, Location, Topic
from scheduler.experts.models import Expert
from scheduler.schedules.models import Channel, OverrideKind
from tests.factories import add_override, add_weekly, make_department, make_expert, make_location, make_topic

MOSCOW = ZoneInfo("Europe/Moscow")
YEKATERINBURG = ZoneInfo("Asia/Yekaterinburg")
FIRST = date(2025, 4, 7)
LAST = date(2025, 4, 13)
NOW = datetime(2025, 4, 20, 9, 0, tzinfo=UTC)


@dataclass
class Dataset:
    gas: Department
    water: Department
    stove: Topic
    meter: Topic
    pipe: Topic
    office: Location
    experts: list[Expert]


def _at(day: int, hour: int, minute: int = 0, zone: ZoneInfo = MOSCOW, year: int = 2025) -> datetime:
    return datetime.combine(date(year, 4, day), time(hour, minute), tzinfo=zone)


_codes = iter(range(1, 10_000))


def add_booking(session: Any, topic: Topic, expert: Expert, start: datetime, status: BookingStatus, *,
                channel: str = "video", applicant: str = "individual", location: Location | None = None,
                walk_in: bool = False, wait: tuple[int, int] | None = None, minutes: int = 30) -> Booking:
    """A booking as it ends up in the table; ``wait`` = (minutes checked in before the start, minutes called after)."""
    n = next(_codes)
    booking = Booking(
        code=f"AN{n:06d}{secrets.token_hex(2).upper()}", topic_id=topic.id, channel=Channel(channel),
        expert_id=expert.id, location_id=location.id if location else None, starts_at=start,
        ends_at=start + timedelta(minutes=minutes), status=status, created_at=start - timedelta(days=3),
        citizen_name=f"Гражданин {n}", citizen_email=f"a{n}@example.org", citizen_phone="+79120000000",
        applicant_type=ApplicantType(applicant), consent_at=start - timedelta(days=3), is_walk_in=walk_in,
        manage_token_salt=secrets.token_hex(8), manage_token_hash=secrets.token_hex(32),
    )
    if status == BookingStatus.COMPLETED:
        booking.completed_at = start + timedelta(minutes=minutes)
    if status == BookingStatus.CANCELLED:
        booking.cancelled_at = start - timedelta(days=1)
    if status == BookingStatus.NO_SHOW:
        booking.no_show_at = start + timedelta(minutes=15)
    if wait is not None:
        booking.checked_in_at = start - timedelta(minutes=wait[0])
        booking.called_at = start + timedelta(minutes=wait[1])
    session.add(booking)
    session.flush()
    return booking


def add_ticket(session: Any, booking: Booking, department: Department, opened_at: datetime, due_at: datetime,
               status: TicketStatus, *, first_answered_at: datetime | None = None, reopen_count: int = 0) -> Ticket:
    n = next(_codes)
    ticket = Ticket(
        number=f"2025-{n:06d}", booking_id=booking.id, department_id=department.id,
        origin_department_id=department.id, summary="Ответ по вопросу", status=status, opened_at=opened_at,
        due_at=due_at, first_answered_at=first_answered_at, answered_at=first_answered_at,
        reopen_count=reopen_count, citizen_token_salt=secrets.token_hex(8), citizen_token_hash=secrets.token_hex(32),
    )
    session.add(ticket)
    session.flush()
    return ticket


def seed_dataset(session: Any) -> Dataset:
    """The dataset; figures in ``EXPECTED``."""
    tag = secrets.token_hex(3)
    gas = make_department(session, slug=f"gas-{tag}", title="Газ", timezone="Europe/Moscow")
    water = make_department(session, slug=f"water-{tag}", title="Вода", timezone="Asia/Yekaterinburg")
    stove = make_topic(session, gas, slug=f"stove-{tag}", title="Плита", allows_in_person=True)
    meter = make_topic(session, gas, slug=f"meter-{tag}", title="Счётчик", allows_in_person=True)
    pipe = make_topic(session, water, slug=f"pipe-{tag}", title="Труба")
    office = make_location(session, gas, slug=f"office-{tag}")
    # Available minutes (weekly hours ∩ business hours 9-18, five working days):
    # e1 video 9-13 (240) + in person 14-20 at the office (240) = 480 a day = 2400;
    # e2 video 8-12 (180 a day) = 900, less an absence on Wednesday 9 April = 720;
    # e3 video 9-18 = 540 a day = 2700.
    e1 = make_expert(session, gas, [stove, meter])
    add_weekly(session, e1, starts=time(9), ends=time(13))
    add_weekly(session, e1, starts=time(14), ends=time(20), channel=Channel.IN_PERSON, location_id=office.id)
    e2 = make_expert(session, gas, [meter])
    add_weekly(session, e2, starts=time(8), ends=time(12))
    add_override(session, e2, date(2025, 4, 9), kind=OverrideKind.ABSENCE)
    e3 = make_expert(session, water, [pipe])
    add_weekly(session, e3, starts=time(9), ends=time(18))

    s = BookingStatus
    b1 = add_booking(session, stove, e1, _at(7, 10), s.COMPLETED)
    add_booking(session, stove, e1, _at(7, 11), s.CANCELLED, applicant="legal_entity")
    b3 = add_booking(session, stove, e1, _at(8, 14), s.COMPLETED, channel="in_person", location=office, wait=(10, 2))
    add_booking(session, stove, e1, _at(8, 15), s.NO_SHOW, channel="in_person", applicant="legal_entity",
                location=office)
    b5 = add_booking(session, meter, e1, _at(9, 16), s.COMPLETED, channel="in_person", location=office,
                     walk_in=True, wait=(20, 0))
    add_booking(session, meter, e2, _at(10, 9), s.CONFIRMED)
    add_booking(session, meter, e2, _at(13, 23, 30), s.COMPLETED)  # Sunday 23:30 Moscow: 20:30 UTC
    add_booking(session, stove, e1, _at(7, 1), s.COMPLETED)  # 1:00 Moscow on the 7th: still the 6th in UTC
    add_booking(session, stove, e1, _at(14, 1), s.CANCELLED)  # the 14th locally, the 13th in UTC: outside
    add_booking(session, stove, e1, _at(9, 12), s.PENDING)  # an unconfirmed hold: not a booking
    add_booking(session, stove, e1, _at(6, 23, 30), s.COMPLETED)  # Sunday 6 April: outside
    b11 = add_booking(session, pipe, e3, _at(8, 10, zone=YEKATERINBURG), s.COMPLETED, applicant="legal_entity")
    add_booking(session, pipe, e3, _at(9, 10, zone=YEKATERINBURG), s.COMPLETED)
    add_booking(session, pipe, e3, _at(10, 10, zone=YEKATERINBURG), s.NO_SHOW, applicant="legal_entity")
    # A year earlier, the same week of April 2024.
    add_booking(session, stove, e1, _at(8, 10, year=2024), s.COMPLETED)
    add_booking(session, pipe, e3, _at(9, 10, zone=YEKATERINBURG, year=2024), s.CANCELLED, applicant="legal_entity")

    t = TicketStatus
    add_ticket(session, b1, gas, _at(7, 10, 30), _at(11, 18), t.CLOSED, first_answered_at=_at(9, 12))
    add_ticket(session, b3, gas, _at(8, 14, 30), _at(10, 18), t.ANSWERED, first_answered_at=_at(11, 12),
               reopen_count=1)
    add_ticket(session, b5, gas, _at(9, 16, 30), _at(15, 18), t.OPEN)  # due after the period
    add_ticket(session, b11, water, _at(8, 10, 30, zone=YEKATERINBURG), _at(10, 18, zone=YEKATERINBURG), t.OPEN)
    return Dataset(gas, water, stove, meter, pipe, office, [e1, e2, e3])


# What the whole dataset (both departments, no other filter) shows for 7-13 April 2025.
EXPECTED: dict[str, Any] = {
    "made": 11, "held": 7, "cancelled": 1, "no_show": 2, "walk_ins": 1, "online": 8, "in_person": 3,
    "individuals": 7, "legal_entities": 4, "booked_minutes": 300, "available_minutes": 5820, "waits": 2,
    "avg_wait_minutes": 16.0, "followups_opened": 4, "followups_due": 3, "followups_on_time": 1,
    "followups_overdue": 2, "confirmation_rate": 0.5, "reopen_rate": 0.5,
}
