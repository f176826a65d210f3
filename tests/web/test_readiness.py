"""/readyz: each check's states, the overall answer a load balancer acts on, and the document it follows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from scheduler.app import create_app
from scheduler.config import ConfigError, build_config
from scheduler.extensions import db, limiter
from scheduler.heartbeat import WorkerHeartbeat, last_heartbeat, record_heartbeat
from scheduler.jobs import init_jobs, worker_heartbeat
from scheduler.mail.compose import queue_email
from scheduler.mail.models import OutboxStatus
from scheduler.readiness import ReadinessCheck, overall_status
from tests.conftest import app_config
from tests.web.test_openapi import assert_documented

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock(time_machine: Any) -> Any:
    time_machine.move_to(NOW, tick=False)
    return time_machine


def ready(client: Any, status: int = 200) -> dict[str, Any]:
    response = client.get("/readyz")
    assert response.status_code == status, response.get_json()
    assert_documented(response, "GET", "/readyz")
    return response.get_json()  # type: ignore[no-any-return]


def mail(session: Any, count: int = 1) -> list[Any]:
    messages = [queue_email(session, to=f"c{i}@example.org", template="test_message", context={"name": "Анна"})
                for i in range(count)]
    session.flush()
    return messages


def test_everything_up_is_ok(client: Any, session: Any, clock: Any) -> None:
    record_heartbeat(session, NOW - timedelta(seconds=30))
    mail(session)
    clock.shift(timedelta(seconds=12))
    body = ready(client)
    assert body["status"] == "ok"
    checks = body["checks"]
    assert checks["database"]["status"] == "ok" and checks["database"]["latency_ms"] >= 0
    # The tests' app runs embedded: no Redis, which is no fault.
    assert checks["redis"] == {"status": "not_configured", "age_seconds": None, "latency_ms": None,
                               "rate_limits": "per_process",
                               "detail": "embedded mode: jobs on SQLite, rate limits in this process's memory"}
    assert checks["worker"] == {"status": "ok", "age_seconds": 42.0, "detail": None}
    assert checks["outbox"] == {"status": "ok", "age_seconds": 12.0, "pending": 1, "abandoned": 0, "detail": None}


def test_a_node_without_a_worker_yet_is_degraded_not_drained(client: Any, session: Any) -> None:
    body = ready(client)
    assert body["status"] == "degraded"
    assert body["checks"]["worker"] == {"status": "failing", "age_seconds": None, "detail": "no worker has run yet"}


@pytest.mark.parametrize(("seconds_since_beat", "status"), [(179, "ok"), (180, "ok"), (181, "failing")])
def test_a_heartbeat_older_than_the_threshold_is_stale(client: Any, session: Any, clock: Any,
                                                       seconds_since_beat: int, status: str) -> None:
    worker_heartbeat()  # the periodic job itself, as the worker runs it
    clock.shift(timedelta(seconds=seconds_since_beat))
    body = ready(client)
    assert body["checks"]["worker"]["status"] == status
    assert body["checks"]["worker"]["age_seconds"] == seconds_since_beat
    assert body["status"] == ("ok" if status == "ok" else "degraded")


def test_the_threshold_is_configurable(client: Any, session: Any, clock: Any, app: Flask,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "READY_WORKER_STALE_SECONDS", 30)
    record_heartbeat(session, NOW - timedelta(seconds=31))
    assert ready(client)["checks"]["worker"] == {"status": "failing", "age_seconds": 31.0,
                                                 "detail": "no heartbeat for more than 30 s"}


def test_the_freshest_of_several_workers_counts_and_long_gone_ones_are_forgotten(session: Any) -> None:
    record_heartbeat(session, NOW - timedelta(days=8), worker="old-host:1")
    record_heartbeat(session, NOW - timedelta(minutes=5), worker="node-a:10")
    record_heartbeat(session, NOW - timedelta(seconds=20), worker="node-b:20")
    assert last_heartbeat(session) == NOW - timedelta(seconds=20)
    record_heartbeat(session, NOW, worker="node-b:20")  # a beat updates its own row and prunes the gone
    assert last_heartbeat(session) == NOW
    assert {row.worker for row in session.query(WorkerHeartbeat)} == {"node-a:10", "node-b:20"}


def test_mail_waiting_too_long_makes_the_outbox_fail(client: Any, session: Any, clock: Any) -> None:
    record_heartbeat(session, NOW)
    mail(session, 2)
    clock.shift(timedelta(seconds=900))
    assert ready(client)["checks"]["outbox"]["status"] == "ok"
    clock.shift(timedelta(seconds=1))
    record_heartbeat(session, NOW + timedelta(seconds=901))
    body = ready(client)
    assert body["status"] == "degraded"
    assert body["checks"]["outbox"] == {
        "status": "failing", "age_seconds": 901.0, "pending": 2, "abandoned": 0,
        "detail": "the oldest unsent message has waited more than 900 s"}


def test_abandoned_mail_shows_with_its_count(client: Any, session: Any, clock: Any) -> None:
    record_heartbeat(session, NOW)
    first, second, sent = mail(session, 3)
    first.status = second.status = OutboxStatus.FAILED
    sent.status = OutboxStatus.SENT
    session.flush()
    body = ready(client)
    assert body["status"] == "degraded"
    assert body["checks"]["outbox"] == {
        "status": "failing", "age_seconds": None, "pending": 0, "abandoned": 2,
        "detail": "2 abandoned after the maximum attempts: an administrator must requeue them"}


def test_a_message_being_sent_still_counts_as_pending(client: Any, session: Any, clock: Any) -> None:
    _waiting, claimed = mail(session, 2)
    claimed.status = OutboxStatus.SENDING
    session.flush()
    clock.shift(timedelta(seconds=5))
    outbox = ready(client)["checks"]["outbox"]
    assert (outbox["pending"], outbox["age_seconds"]) == (2, 5.0)


def test_readiness_is_never_rate_limited(client: Any, app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "API_RATE_LIMIT", "1 per minute")
    assert client.get("/api/v1/topics").status_code == 200
    assert client.get("/api/v1/topics").status_code == 429  # the same client is limited elsewhere...
    assert [client.get("/readyz").status_code for _ in range(5)] == [200] * 5  # ...but not here


# --- the database down: the one check that takes a node out -----------------------------------------

@pytest.fixture
def app_without_database(app: Flask, tmp_path: Path) -> Any:
    unreachable = "postgresql://okno:s3cret-password@127.0.0.1:1/okno"  # nothing listens on port 1
    application = create_app(app_config(unreachable, tmp_path), instance_path=str(tmp_path))
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()
    limiter.init_app(app)
    init_jobs(app)


def test_a_node_without_its_database_is_taken_out(app_without_database: Flask) -> None:
    client = app_without_database.test_client()
    with app_without_database.app_context():
        response = client.get("/readyz")
        assert_documented(response, "GET", "/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "failing"
    assert body["checks"]["database"] == {"status": "failing", "age_seconds": None, "latency_ms": None,
                                         "detail": "unreachable (OperationalError)"}
    assert body["checks"]["worker"]["status"] == body["checks"]["outbox"]["status"] == "failing"
    text = response.get_data(as_text=True)
    assert "s3cret" not in text and "127.0.0.1" not in text and "okno@" not in text
    assert client.get("/healthz").status_code == 503  # liveness keeps its contract


# --- the rule and its settings --------------------------------------------------------------------

@pytest.mark.parametrize(("statuses", "fail_on", "expected"), [
    ({"database": "ok", "redis": "ok", "worker": "ok", "outbox": "ok"}, ("database",), "ok"),
    ({"database": "ok", "redis": "not_configured", "worker": "ok", "outbox": "ok"}, ("database",), "ok"),
    ({"database": "ok", "redis": "failing", "worker": "ok", "outbox": "ok"}, ("database",), "degraded"),
    ({"database": "ok", "redis": "ok", "worker": "failing", "outbox": "failing"}, ("database",), "degraded"),
    ({"database": "failing", "redis": "ok", "worker": "ok", "outbox": "ok"}, ("database",), "failing"),
    ({"database": "ok", "redis": "failing", "worker": "ok", "outbox": "ok"}, ("database", "redis"), "failing"),
    ({"database": "failing", "redis": "ok", "worker": "ok", "outbox": "ok"}, (), "degraded"),
])
def test_which_failures_take_a_node_out(statuses: dict[str, str], fail_on: tuple[str, ...], expected: str) -> None:
    checks = {name: ReadinessCheck(status=status) for name, status in statuses.items()}  # type: ignore[arg-type]
    assert overall_status(checks, fail_on) == expected


def test_settings(tmp_path: Path) -> None:
    config = build_config({}, tmp_path)
    assert config["READY_FAIL_ON"] == ("database",)
    assert (config["READY_WORKER_STALE_SECONDS"], config["READY_OUTBOX_MAX_AGE_SECONDS"]) == (180, 900)
    assert config["RATELIMIT_IN_MEMORY_FALLBACK_ENABLED"] is True
    assert config["RATELIMIT_STORAGE_OPTIONS"] == {}  # memory:// takes no Redis options
    on_redis = build_config({"REDIS_URL": "redis://cache:6379/0", "REDIS_SOCKET_TIMEOUT_SECONDS": "0.5"}, tmp_path)
    assert on_redis["RATELIMIT_STORAGE_OPTIONS"] == {"socket_connect_timeout": 1.0, "socket_timeout": 0.5}
    assert build_config({"READY_FAIL_ON": " database , redis "}, tmp_path)["READY_FAIL_ON"] == ("database", "redis")
    with pytest.raises(ConfigError, match="READY_FAIL_ON names unknown checks"):
        build_config({"READY_FAIL_ON": "database,workers"}, tmp_path)
    with pytest.raises(ConfigError, match="REDIS_CONNECT_TIMEOUT_SECONDS must be a number"):
        build_config({"REDIS_CONNECT_TIMEOUT_SECONDS": "soon"}, tmp_path)
