"""The demo data: loads twice without duplicates, and every demo topic can be booked soon."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from booking.availability import search_slots
from scheduler.app import create_app
from scheduler.auth.models import User
from scheduler.db import utcnow
from scheduler.demo import DEMO_PASSWORD, DEPARTMENTS, STAFF, TOPICS, load_demo_data
from scheduler.departments.models import Department, Topic
from scheduler.extensions import db
from scheduler.schedules.models import ReceptionDay, WeeklyAvailability
from tests.conftest import app_config


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


def test_demo_data_refuses_to_run_in_production(fresh_database_url: str, tmp_path: Path,
                                                restore_jobs: None) -> None:
    """The demo admin's password is published: production must never get it, nor any other demo row."""
    production = create_app(app_config(
        fresh_database_url, tmp_path, OKNO_ENV="production", SECRET_KEY="x" * 48,
        PUBLIC_BASE_URL="https://okno.example.org", SMTP_HOST="smtp.example.org",
        REDIS_URL="redis://127.0.0.1:6379/0", RATELIMIT_STORAGE_URI="",
    ), instance_path=str(tmp_path))
    assert production.config["OKNO_ENV"] == "production"
    with production.app_context():
        db.create_all()
        try:
            result = production.test_cli_runner().invoke(args=["demo-data"])
            assert result.exit_code != 0
            assert "production" in result.output
            assert DEMO_PASSWORD not in result.output
            assert counts(db.session) == (0, 0, 0, 0, 0)
        finally:
            db.session.remove()
            db.engine.dispose()
