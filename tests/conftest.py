"""Shared fixtures: one app and schema per session, each test inside a rolled-back transaction.

The database is SQLite in a temporary folder unless ``OKNO_TEST_DATABASE_URL`` names another
(CI runs the suite again with PostgreSQL). Tests that need Redis use ``OKNO_TEST_REDIS_URL``
(by default database 15 of the local server), emptied before each such test.
"""

from __future__ import annotations

import contextvars
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from scheduler.app import create_app
from scheduler.config import normalise_database_url
from scheduler.extensions import db, limiter


def test_database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("OKNO_TEST_DATABASE_URL", "")
    if url:
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite'}"


def app_config(database_url: str, instance: Path, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "OKNO_ENV": "testing",
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789",
        "PUBLIC_BASE_URL": "http://okno.example.org",
        "MAIL_FILE_DIR": str(instance / "mail"),
        "OUTBOX_NOTIFY_WORKER": "0",
        "SMTP_HOST": "",
        "REDIS_URL": "",
        "RATELIMIT_STORAGE_URI": "memory://",
    }
    config.update(overrides)
    return config


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return test_database_url(tmp_path_factory)


@pytest.fixture(scope="session")
def app(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    instance = tmp_path_factory.mktemp("instance")
    application = create_app(app_config(database_url, instance), instance_path=str(instance))
    with application.app_context():
        reset_schema()
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


def reset_schema() -> None:
    """An empty schema matching the models (the migrations are tested on their own)."""
    engine = db.engine
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    else:
        db.drop_all()
    db.create_all()


@pytest.fixture
def app_ctx(app: Flask) -> Iterator[Flask]:
    with app.app_context():
        yield app


@pytest.fixture
def session(app: Flask) -> Iterator[Any]:
    with rolled_back_session(app) as bound:
        yield bound


@contextmanager
def rolled_back_session(app: Flask) -> Iterator[Any]:
    """The app's db.session bound to one connection whose transaction is rolled back at the end.

    Code under test may commit freely: with join_transaction_mode="create_savepoint" its
    commits release savepoints inside the outer transaction (flask-sqlalchemy issue 1167).
    """
    with app.app_context():
        engines = db._app_engines[app]
        engine = engines[None]
        connection = engine.connect()
        outer = connection.begin()
        engines[None] = connection  # type: ignore[assignment]
        try:
            yield db.session
        finally:
            db.session.remove()
            engines[None] = engine
            outer.rollback()
            connection.close()


class IsolatedClient(FlaskClient):
    """A test client whose every request runs in fresh context variables.

    Flask reuses an already pushed app context for a request, so without this the test's
    own context (held open by the ``session`` fixture) would carry ``g`` — the cached
    locale, the signed-in user — from one request into the next, unlike production.
    """

    def open(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return contextvars.Context().run(super().open, *args, **kwargs)


@pytest.fixture
def client(app: Flask, session: Any) -> FlaskClient:
    limiter.reset()
    app.test_client_class = IsolatedClient
    return app.test_client()


@pytest.fixture
def fresh_database_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A brand-new, empty database of the same kind as the test database (committed data allowed)."""
    url = make_url(normalise_database_url(database_url))
    if url.get_backend_name() != "postgresql":
        yield f"sqlite:///{tmp_path / 'fresh.sqlite'}"
        return
    name = f"okno_test_{secrets.token_hex(4)}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


DEFAULT_TEST_REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture
def redis_url() -> str:
    """A real, empty Redis database for this test; fail (not skip) when there is none to test against."""
    import redis

    url = os.environ.get("OKNO_TEST_REDIS_URL", DEFAULT_TEST_REDIS_URL)
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    except redis.exceptions.ConnectionError as error:
        pytest.fail(f"Redis at {url} is unreachable ({error}); set OKNO_TEST_REDIS_URL to a server tests may empty")
    finally:
        client.close()
    return url


@pytest.fixture
def restore_jobs(app: Flask) -> Iterator[None]:
    """For tests that build a second app: give the job queue back to the session app."""
    yield
    from scheduler.jobs import init_jobs

    init_jobs(app)
