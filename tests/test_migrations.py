"""Migrations: one head, a clean upgrade on an empty database, and no drift from the models."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from scheduler.app import PROJECT_ROOT, create_app
from scheduler.extensions import db
from tests.conftest import app_config

pytestmark = pytest.mark.slow


def test_migrations_have_a_single_head(app: Flask) -> None:
    with app.app_context():
        config = app.extensions["migrate"].migrate.get_config(str(PROJECT_ROOT / "migrations"))
        heads = ScriptDirectory.from_config(config).get_heads()
    assert len(heads) == 1, heads


def test_upgrade_on_an_empty_database_matches_the_models_and_downgrades(
    fresh_database_url: str, tmp_path: Path, restore_jobs: None
) -> None:
    migrated = create_app(app_config(fresh_database_url, tmp_path), instance_path=str(tmp_path))
    with migrated.app_context():
        upgrade()
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True, "render_as_batch": True})
            drift = compare_metadata(context, db.metadata)
        assert drift == [], f"models and migrations differ: {drift}"
        downgrade(revision="base")
        remaining = set(inspect(db.engine).get_table_names()) - {"alembic_version"}
        assert remaining == set()
        db.engine.dispose()


def test_upgrade_keeps_existing_rows(fresh_database_url: str, tmp_path: Path, restore_jobs: None) -> None:
    """Columns added later must have defaults for rows written before them."""
    from sqlalchemy import select, text

    from scheduler.experts.models import Expert

    migrated = create_app(app_config(fresh_database_url, tmp_path), instance_path=str(tmp_path))
    with migrated.app_context():
        upgrade(revision="f64dd589bc41")  # departments, experts and bookings, before feeds and outcomes
        with db.engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO departments (id, slug, title, timezone, holiday_calendar, email, is_active) "
                "VALUES (1, 'd', 'D', 'Europe/Moscow', 'RU', '', true)"))
            connection.execute(text(
                "INSERT INTO users (id, email, full_name, role, password_hash, is_active_account, created_at) "
                "VALUES (1, 'e@example.org', 'E', 'expert', 'x', true, CURRENT_TIMESTAMP)"))
            connection.execute(text(
                "INSERT INTO experts (id, user_id, department_id, position, is_active) VALUES (1, 1, 1, '', true)"))
        upgrade()
        with db.engine.connect() as connection:
            detail = connection.execute(text("SELECT feed_detail FROM experts WHERE id = 1")).scalar_one()
            version, changed_at = connection.execute(
                select(Expert.feed_version, Expert.feed_changed_at).where(Expert.id == 1)).one()
        assert detail == "minimal"
        # the feed's version starts at 0, changed "now" (a client with only If-Modified-Since fetches once more)
        assert version == 0 and changed_at is not None and changed_at.tzinfo is not None
        db.engine.dispose()


def test_audit_entries_get_the_department_of_the_record_they_name(
        fresh_database_url: str, tmp_path: Path, restore_jobs: None) -> None:
    """Entries written before audit entries knew their department get it where the record still says."""
    from sqlalchemy import text

    migrated = create_app(app_config(fresh_database_url, tmp_path), instance_path=str(tmp_path))
    with migrated.app_context():
        upgrade(revision="9947a7e394f5")
        with db.engine.begin() as connection:
            for department in (1, 2):
                connection.execute(text(
                    "INSERT INTO departments (id, slug, title, timezone, holiday_calendar, email, is_active) "
                    f"VALUES ({department}, 'd{department}', 'D', 'Europe/Moscow', 'RU', '', true)"))
            connection.execute(text(
                "INSERT INTO users (id, email, full_name, role, password_hash, is_active_account, created_at, "
                "department_id) VALUES (5, 'e@example.org', 'E', 'expert', 'x', true, CURRENT_TIMESTAMP, 2)"))
            connection.execute(text(
                "INSERT INTO experts (id, user_id, department_id, position, is_active) VALUES (7, 5, 2, '', true)"))
            for n, (entity_type, entity_id) in enumerate(
                    [("expert", "7"), ("user", "5"), ("department", "1"), ("api_key", "k1"), ("expert", "99")]):
                connection.execute(text(
                    "INSERT INTO audit_entries (id, at, actor_type, actor_label, action, entity_type, entity_id, "
                    "changes) VALUES (:id, CURRENT_TIMESTAMP, 'system', '', 'x', :type, :entity, '{}')"),
                    {"id": n + 1, "type": entity_type, "entity": entity_id})
        upgrade()
        with db.engine.connect() as connection:
            found = dict(connection.execute(text("SELECT id, department_id FROM audit_entries")).all())
        # an expert's and a user's entry: their department; a department's: itself; an API key's and a
        # vanished record's: none (admins only)
        assert found == {1: 2, 2: 2, 3: 1, 4: None, 5: None}
        db.session.remove()
        db.engine.dispose()


def test_upgrade_seals_the_bodies_of_unsent_mail_and_drops_those_of_sent_mail(
    fresh_database_url: str, tmp_path: Path, restore_jobs: None
) -> None:
    from sqlalchemy import text

    from scheduler.mail.models import MailContent, mail_sealer

    migrated = create_app(app_config(fresh_database_url, tmp_path), instance_path=str(tmp_path))
    with migrated.app_context():
        upgrade(revision="9947a7e394f5")  # the outbox with bodies in clear
        with db.engine.begin() as connection:
            for id_, status in ((1, "pending"), (2, "sent"), (3, "failed")):
                connection.execute(text(
                    "INSERT INTO outbox_messages (id, created_at, message_id, to_address, subject, text_body, "
                    "html_body, attachments, template, status, attempts, next_attempt_at, last_error) VALUES "
                    f"({id_}, CURRENT_TIMESTAMP, '<{id_}@okno>', 'anna@example.org', 'S', "
                    f"'https://okno.example.org/me/secret-token-{id_}', '<p>html</p>', "
                    "'[{\"filename\": \"invite.ics\", \"content_type\": \"text/calendar\", \"data\": \"QkVHSU4=\"}]', "
                    f"'citizen_link', '{status}', 0, CURRENT_TIMESTAMP, '')"))
        upgrade()
        with db.engine.connect() as connection:
            rows = dict(connection.execute(text("SELECT id, sealed_body FROM outbox_messages")).all())
            dump = " ".join(str(v) for row in connection.execute(text("SELECT * FROM outbox_messages")) for v in row)
        assert rows[2] is None and "secret-token" not in dump
        sealer = mail_sealer(migrated.config)
        for id_ in (1, 3):
            content = MailContent.open(rows[id_], sealer)
            assert content.text_body == f"https://okno.example.org/me/secret-token-{id_}"
            assert content.html_body == "<p>html</p>" and content.attachments[0]["data"] == "QkVHSU4="
        db.engine.dispose()


def test_upgrade_counts_the_working_hours_of_tickets_answered_before(
        fresh_database_url: str, tmp_path: Path, restore_jobs: None) -> None:
    """Tickets answered before tickets.answer_working_hours existed get it, by the app's own rule."""
    from datetime import datetime, time, timedelta
    from zoneinfo import ZoneInfo

    from sqlalchemy import insert, select

    from booking.models import Booking
    from booking.tickets.models import Ticket
    from scheduler.auth.models import User
    from scheduler.departments.models import BusinessHours, Department, Topic
    from scheduler.experts.models import Expert

    moscow = ZoneInfo("Europe/Moscow")
    monday = datetime(2026, 4, 13, 11, 0, tzinfo=moscow)
    migrated = create_app(app_config(fresh_database_url, tmp_path), instance_path=str(tmp_path))
    with migrated.app_context():
        upgrade(revision="b7f3c2a91d04")
        with db.engine.begin() as connection:
            connection.execute(insert(Department.__table__).values(id=1, slug="gas", title="Газ",
                                                                   timezone="Europe/Moscow", holiday_calendar="RU"))
            connection.execute(insert(BusinessHours.__table__), [
                {"department_id": 1, "weekday": day, "opens": time(9), "closes": time(18)} for day in range(5)])
            connection.execute(insert(Topic.__table__).values(id=1, slug="stove", title="Плита", department_id=1))
            connection.execute(insert(User.__table__).values(id=1, email="e@example.org", full_name="E", role="expert",
                                                             password_hash="x"))
            connection.execute(insert(Expert.__table__).values(id=1, user_id=1, department_id=1))
            connection.execute(insert(Booking.__table__).values(
                id=1, code="ABCD2345", topic_id=1, channel="video", expert_id=1, starts_at=monday,
                ends_at=monday + timedelta(minutes=30), citizen_name="A", citizen_email="a@example.org",
                citizen_phone="+79120000000", applicant_type="individual", consent_at=monday, manage_token_salt="s",
                manage_token_hash="h"))
            for n, answered in ((1, monday + timedelta(days=1, hours=1)), (2, None)):
                connection.execute(insert(Ticket.__table__).values(
                    id=n, number=f"2026-00000{n}", booking_id=1, department_id=1, origin_department_id=1, summary="",
                    opened_at=monday, due_at=monday + timedelta(days=4), first_answered_at=answered,
                    answered_at=answered, citizen_token_salt="s", citizen_token_hash=f"h{n}"))
        upgrade()
        with db.engine.connect() as connection:
            found = dict(connection.execute(select(Ticket.id, Ticket.answer_working_hours)).all())
        # Mon 11:00-18:00 and Tue 9:00-12:00 of 9:00-18:00 office hours; the unanswered one has none
        assert found == {1: pytest.approx(10.0), 2: None}
        db.session.remove()
        db.engine.dispose()
