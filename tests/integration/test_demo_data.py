"""The demo data: loads twice without duplicates, and every demo topic can be booked soon."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from booking.availability import search_slots
from scheduler.auth.models import User
from scheduler.db import utcnow
from scheduler.demo import DEPARTMENTS, STAFF, TOPICS, load_demo_data
from scheduler.departments.models import Department, Topic
from scheduler.schedules.models import ReceptionDay, WeeklyAvailability


def counts(session: Any) -> tuple[int, ...]:
    return tuple(
        session.scalar(select(func.count()).select_from(model))
        for model in (Department, Topic, User, WeeklyAvailability, ReceptionDay)
    )


def test_demo_data_is_idempotent_and_complete(session: Any) -> None:
    load_demo_data(session)
    first = counts(session)
    load_demo_data(session)
    assert counts(session) == first
    assert first[:3] == (len(DEPARTMENTS), len(TOPICS), len(STAFF))


def test_every_demo_topic_has_free_times_within_two_weeks(session: Any) -> None:
    load_demo_data(session)
    now = utcnow()
    for topic in session.scalars(select(Topic)):
        today = now.astimezone(topic.department.zone).date()
        for channel in topic.channels:
            found = search_slots(session, topic, channel, today, today + timedelta(days=14), now)
            assert found, f"{topic.slug} has no {channel} slots"
            assert all(slot.start >= now + timedelta(minutes=topic.min_notice_minutes) for slot in found)


def test_in_person_connection_reception_is_on_tuesdays_and_thursdays(session: Any) -> None:
    load_demo_data(session)
    topic = session.scalar(select(Topic).where(Topic.slug == "gas-network-connection"))
    now = utcnow()
    today = now.astimezone(topic.department.zone).date()
    found = search_slots(session, topic, "in_person", today, today + timedelta(days=14), now)
    assert {slot.start.weekday() for slot in found} <= {1, 3}
    assert all(slot.location is not None and 10 <= slot.start.hour < 13 for slot in found)
