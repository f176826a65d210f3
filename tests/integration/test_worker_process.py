"""The real worker process: a commit nudges it, and a killed and restarted worker sends nothing twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from scheduler.app import create_app
from scheduler.extensions import db, limiter
from scheduler.mail.compose import queue_email
from scheduler.mail.models import OutboxMessage, OutboxStatus
from tests.conftest import app_config
from tests.processes import STARTUP_SECONDS, start_process, stop_process, wait_for
from tests.smtp_server import smtp_server

pytestmark = pytest.mark.slow


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return start_process([sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--workers", "2"], env, log)


def queue(count: int) -> None:
    for i in range(count):
        queue_email(db.session, to=f"c{i}@example.org", template="test_message", context={"name": "Анна"})
    db.session.commit()  # the after-commit nudge enqueues a delivery job


def all_recorded_sent() -> bool:
    db.session.rollback()  # a fresh snapshot each time
    try:
        return set(db.session.scalars(select(OutboxMessage.status))) == {OutboxStatus.SENT}
    finally:
        # Ended at once: work outside a request begins IMMEDIATE on SQLite, and a poll that kept its
        # transaction open between looks would hold the write lock the worker needs to record a send.
        db.session.rollback()


def worker_settings(database_url: str, instance: Path, smtp_port: int,
                    **overrides: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The app's settings for a worker process delivering to the test's SMTP server, and its environment."""
    settings = app_config(database_url, instance, OKNO_ENV="development", SMTP_HOST="127.0.0.1",
                          SMTP_PORT=str(smtp_port), SMTP_STARTTLS="0",
                          JOBS_SQLITE_PATH=str(instance / "jobs.sqlite"), **overrides)
    return settings, {**os.environ, **settings, "OKNO_INSTANCE_PATH": str(instance)}


def test_worker_delivers_on_commit_and_survives_a_kill(fresh_database_url: str, tmp_path: Path,
                                                       restore_jobs: None) -> None:
    with smtp_server() as (handler, port):
        settings, env = worker_settings(fresh_database_url, tmp_path, port, OUTBOX_NOTIFY_WORKER="1")
        log = tmp_path / "worker.log"
        app = create_app(settings, instance_path=str(tmp_path))
        with app.app_context():
            try:
                db.create_all()
                queue(2)  # waiting before any worker runs
                worker = start_worker(env, log)
                try:
                    wait_for(lambda: len(handler.messages) == 2, timeout=STARTUP_SECONDS)
                    queue(3)  # delivered by the nudge, well before the minute sweep
                    wait_for(lambda: len(handler.messages) == 5, timeout=15)
                    # Killed once every delivery is recorded. (Killed between the SMTP server's
                    # acceptance and that record, a message is sent again when its lease runs out:
                    # delivery is at-least-once, as test_outbox's lease test shows.)
                    wait_for(all_recorded_sent, timeout=STARTUP_SECONDS, what="every message recorded as sent")
                finally:
                    os.killpg(worker.pid, signal.SIGKILL)
                    worker.wait()
                queue(1)
                restarted = start_worker(env, log)
                try:
                    wait_for(lambda: len(handler.messages) == 6, timeout=STARTUP_SECONDS)
                    time.sleep(1.0)  # room for a duplicate to show up, if the worker were to send one
                finally:
                    stop_process(restarted)
                ids = handler.message_ids()
                assert len(ids) == 6 and len(set(ids)) == 6, log.read_text()
                assert all_recorded_sent()
            finally:
                db.session.remove()
                db.engine.dispose()


@pytest.mark.parametrize("queue_on", ["sqlite", "redis"])
def test_readiness_sees_the_real_workers_heartbeat_and_the_outbox_drain(
        queue_on: str, fresh_database_url: str, tmp_path: Path, app: Flask, restore_jobs: None,
        request: pytest.FixtureRequest) -> None:
    """Embedded (the queue in SQLite) and as several nodes run it (the queue in Redis)."""
    redis = request.getfixturevalue("redis_url") if queue_on == "redis" else ""
    request.addfinalizer(lambda: limiter.init_app(app))  # the rate limits back on the session app's storage
    with smtp_server() as (handler, port):
        settings, env = worker_settings(fresh_database_url, tmp_path, port, REDIS_URL=redis,
                                        RATELIMIT_STORAGE_URI=redis or "memory://")
        log = tmp_path / "worker.log"
        app = create_app(settings, instance_path=str(tmp_path))
        client = app.test_client()

        def readiness() -> dict[str, Any]:
            response = client.get("/readyz")
            assert response.status_code == 200, response.get_json()  # never drained for want of a worker
            return response.get_json()  # type: ignore[no-any-return]

        with app.app_context():
            try:
                db.create_all()
                queue(1)
                before = readiness()
                assert before["status"] == "degraded"
                assert before["checks"]["worker"]["detail"] == "no worker has run yet"
                assert before["checks"]["outbox"]["pending"] == 1
                worker = start_worker(env, log)
                try:
                    after = wait_for(lambda: (r := readiness())["status"] == "ok" and r, timeout=STARTUP_SECONDS,
                                     what="the worker's heartbeat and an empty outbox on /readyz")
                finally:
                    stop_process(worker)
                assert after["checks"]["worker"]["status"] == "ok"
                assert after["checks"]["worker"]["age_seconds"] < 60, after  # beats when it starts, then every minute
                assert after["checks"]["outbox"] == {"status": "ok", "age_seconds": None, "pending": 0, "abandoned": 0,
                                                     "detail": None}
                assert len(handler.messages) == 1
                assert after["checks"]["redis"]["status"] == ("ok" if redis else "not_configured")
            finally:
                db.session.remove()
                db.engine.dispose()


def test_a_killed_workers_messages_go_out_about_one_lease_later(fresh_database_url: str, tmp_path: Path,
                                                                restore_jobs: None) -> None:
    """Killed mid-send (SIGKILL), a worker leaves its messages leased; with the default lease a restarted
    worker delivers them about one lease after the claim (it wakes up when the lease runs out), once each."""
    with smtp_server() as (handler, port):
        settings, env = worker_settings(fresh_database_url, tmp_path, port, OUTBOX_NOTIFY_WORKER="1")
        log = tmp_path / "worker.log"
        app = create_app(settings, instance_path=str(tmp_path))
        lease = app.config["OUTBOX_LEASE_SECONDS"]
        assert lease == 30  # the default, which this test is about
        with app.app_context():
            try:
                db.create_all()
                handler.delay = 3600.0  # the server takes the data and never answers: the worker hangs in a send
                worker = start_worker(env, log)
                try:
                    queue(2)
                    wait_for(lambda: handler.receiving >= 1, timeout=STARTUP_SECONDS, what="a send under way")
                finally:
                    os.killpg(worker.pid, signal.SIGKILL)
                    worker.wait()
                killed_at = time.monotonic()
                handler.delay = 0.0
                db.session.rollback()
                assert OutboxStatus.SENDING in set(db.session.scalars(select(OutboxMessage.status)))
                db.session.rollback()  # on SQLite even a read holds the write lock until it ends
                restarted = start_worker(env, log)
                try:
                    # Under the old five-minute lease this waited five minutes.
                    wait_for(lambda: len(handler.messages) == 2, timeout=lease + STARTUP_SECONDS,
                             what="the killed worker's messages delivered")
                    waited = time.monotonic() - killed_at
                    wait_for(all_recorded_sent, timeout=STARTUP_SECONDS, what="every message recorded as sent")
                    db.session.rollback()
                    time.sleep(1.0)  # room for a duplicate to show up
                finally:
                    stop_process(restarted)
                print(f"delivered {waited:.1f} s after the kill (lease {lease} s)")
                ids = handler.message_ids()
                assert len(ids) == 2 and len(set(ids)) == 2, log.read_text()
                assert waited < lease + STARTUP_SECONDS
            finally:
                db.session.remove()
                db.engine.dispose()
