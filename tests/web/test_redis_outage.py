"""Redis down: every request is still served, rate limits fall back to per-process memory, and the logs say so.

The app here is configured as deployed with Redis (development mode, so the job queue is on Redis too,
not the tests' in-memory queue) against a port nobody listens on, or behind a proxy the test cuts mid-way.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from booking.apikeys import create_key
from scheduler import ratelimits
from scheduler.app import create_app
from scheduler.audit import Actor
from scheduler.extensions import db, limiter
from scheduler.jobs import init_jobs
from scheduler.mail.models import OutboxMessage, OutboxStatus
from tests.booking_fixtures import bookable_setup
from tests.conftest import IsolatedClient, app_config, rolled_back_session
from tests.helpers import csrf_token
from tests.tcp_proxy import tcp_proxy
from tests.web.test_api_bookings import bearer, booking_body
from tests.web.test_booking_journey import book_through_pages
from tests.web.test_openapi import assert_documented

CLOSED_PORT_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1: connections are refused at once
TIGHT = "2 per minute"


@pytest.fixture
def app_on_redis(app: Flask, database_url: str, tmp_path: Path,
                 monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Flask]]:
    """Build the app on a given Redis (rate limits and job queue); afterwards give both back to the session app."""
    built: list[Flask] = []
    monkeypatch.setattr(ratelimits, "storage_watch", ratelimits.StorageWatch())

    def build(redis: str, **overrides: str) -> Flask:
        settings = app_config(database_url, tmp_path, OKNO_ENV="development", REDIS_URL=redis,
                              RATELIMIT_STORAGE_URI="", OUTBOX_NOTIFY_WORKER="1", **overrides)
        application = create_app(settings, instance_path=str(tmp_path))
        application.test_client_class = IsolatedClient
        built.append(application)
        return application

    yield build
    for application in built:
        with application.app_context():
            db.session.remove()
            db.engine.dispose()
    limiter.init_app(app)
    limiter._storage_dead = False  # Flask-Limiter clears its fallback flag only when it sees its storage again
    limiter.reset()
    init_jobs(app)


def sign_in_attempts(client: FlaskClient, count: int, email: str = "nobody@example.org") -> list[int]:
    token = csrf_token(client, "/staff/login")
    return [client.post("/staff/login", data={"email": email, "password": "guess", "csrf_token": token}).status_code
            for _ in range(count)]


def errors_from(caplog: pytest.LogCaptureFixture, logger: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == logger and r.levelno >= logging.ERROR]


def test_sign_in_is_served_and_still_limited_per_process(app_on_redis: Callable[..., Flask],
                                                          caplog: pytest.LogCaptureFixture) -> None:
    application = app_on_redis(CLOSED_PORT_REDIS, LOGIN_RATE_LIMIT=TIGHT)
    with rolled_back_session(application):
        assert sign_in_attempts(application.test_client(), 3) == [200, 200, 429]
    assert errors_from(caplog, "scheduler.ratelimits") == [
        "rate-limit storage unreachable: rate limits are per process (in memory) until it is back"]


def test_a_citizen_holds_a_slot_and_the_code_waits_in_the_outbox(app_on_redis: Callable[..., Flask],
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    application = app_on_redis(CLOSED_PORT_REDIS)
    with rolled_back_session(application) as session:
        setup = bookable_setup(session)
        response = book_through_pages(application.test_client(), session, setup, setup.at(10))
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        waiting = session.scalars(select(OutboxMessage).where(OutboxMessage.status == OutboxStatus.PENDING)).all()
        assert [m.to_address for m in waiting] == ["anna.smirnova@example.org"]
    nudges = errors_from(caplog, "scheduler.jobs")
    assert nudges and all(m.startswith("job queue unreachable (ConnectionError") for m in nudges), nudges
    assert errors_from(caplog, "scheduler.ratelimits")


def test_a_partner_books_through_the_api(app_on_redis: Callable[..., Flask], caplog: pytest.LogCaptureFixture) -> None:
    application = app_on_redis(CLOSED_PORT_REDIS)
    with rolled_back_session(application) as session:
        setup = bookable_setup(session)
        key = create_key(session, "Городской портал", Actor.system("test"))[1]
        with application.app_context():
            response = application.test_client().post("/api/v1/bookings", json=booking_body(setup),
                                                      headers=bearer(key))
            assert response.status_code == 201, response.get_json()
            assert_documented(response, "POST", "/api/v1/bookings")
    assert errors_from(caplog, "scheduler.ratelimits") and errors_from(caplog, "scheduler.jobs")


def test_a_redis_that_never_answers_costs_a_request_only_the_configured_timeout(
        app_on_redis: Callable[..., Flask], caplog: pytest.LogCaptureFixture) -> None:
    """A hung Redis (or a dropped route) accepts the connection and then says nothing.

    redis-py's own default would hold each such request 5 s; REDIS_SOCKET_TIMEOUT_SECONDS bounds it.
    """
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel completes the handshakes; nobody ever reads or answers
        application = app_on_redis(f"redis://127.0.0.1:{silent.getsockname()[1]}/0",
                                   REDIS_SOCKET_TIMEOUT_SECONDS="0.5", REDIS_CONNECT_TIMEOUT_SECONDS="0.5")
        with rolled_back_session(application):
            client = application.test_client()
            token = csrf_token(client, "/staff/login")
            started = time.monotonic()
            status = client.post("/staff/login", data={"email": "a@example.org", "password": "guess",
                                                       "csrf_token": token}).status_code
            seconds = time.monotonic() - started
    assert status == 200
    assert seconds < 3.0, f"the sign-in waited {seconds:.1f} s on the silent Redis"
    assert errors_from(caplog, "scheduler.ratelimits")


def test_redis_stopping_and_coming_back(app_on_redis: Callable[..., Flask], redis_url: str,
                                        caplog: pytest.LogCaptureFixture) -> None:
    """Limits are shared while Redis runs, per process while it is gone, and shared again once it is back."""
    real = urlsplit(redis_url)
    with tcp_proxy(real.hostname or "127.0.0.1", real.port or 6379) as proxy:
        application = app_on_redis(f"redis://127.0.0.1:{proxy.port}{real.path}", LOGIN_RATE_LIMIT="3 per minute")
        with rolled_back_session(application):
            client = application.test_client()
            assert sign_in_attempts(client, 2, "a@example.org") == [200, 200]  # counted in Redis
            assert not errors_from(caplog, "scheduler.ratelimits")
            redis_check = client.get("/readyz").get_json()["checks"]["redis"]
            assert (redis_check["status"], redis_check["rate_limits"]) == ("ok", "shared")
            assert redis_check["latency_ms"] >= 0

            proxy.stop()  # Redis goes away mid-way
            assert sign_in_attempts(client, 3, "a@example.org") == [200, 200, 200]  # a fresh count in memory...
            assert sign_in_attempts(client, 1, "a@example.org") == [429]  # ...still limited
            assert client.get("/readyz").get_json()["checks"]["redis"] == {
                "status": "failing", "age_seconds": None, "latency_ms": None, "rate_limits": "per_process",
                "detail": "unreachable (ConnectionError): rate limits per process, mail waits in the outbox"}
            assert len(errors_from(caplog, "scheduler.ratelimits")) == 1

            proxy.start()  # back, on the same address
            # Flask-Limiter looks for its storage again after 1, 2, 4 ... seconds.
            deadline = time.monotonic() + 20
            while ratelimits.rate_limits_degraded() and time.monotonic() < deadline:
                sign_in_attempts(client, 1, f"probe-{time.monotonic()}@example.org")
                time.sleep(0.5)
            assert not ratelimits.rate_limits_degraded()
            assert sign_in_attempts(client, 2, "a@example.org") == [200, 429]  # Redis's count of 2 went on
    assert any("reachable again" in r.getMessage() for r in caplog.records if r.name == "scheduler.ratelimits")


def test_readiness_is_degraded_not_unavailable(app_on_redis: Callable[..., Flask]) -> None:
    application = app_on_redis(CLOSED_PORT_REDIS)
    with rolled_back_session(application), application.app_context():
        response = application.test_client().get("/readyz")
        assert response.status_code == 200
        body: dict[str, Any] = response.get_json()
        assert body["status"] == "degraded"
        assert body["checks"]["database"]["status"] == "ok"
        assert body["checks"]["redis"]["status"] == "failing"
        assert_documented(response, "GET", "/readyz")


def test_an_operator_may_take_nodes_out_when_redis_fails(app_on_redis: Callable[..., Flask]) -> None:
    application = app_on_redis(CLOSED_PORT_REDIS, READY_FAIL_ON="database,redis")
    with rolled_back_session(application):
        response = application.test_client().get("/readyz")
        assert response.status_code == 503
        assert response.get_json()["status"] == "failing"


def test_the_shared_limits_name_no_citizen(app_on_redis: Callable[..., Flask], redis_url: str) -> None:
    """The per-person limits' keys in the shared Redis are keyed hashes, not the citizen's email or phone."""
    import redis

    application = app_on_redis(redis_url)
    with rolled_back_session(application) as session:
        setup = bookable_setup(session)
        response = book_through_pages(application.test_client(), session, setup, setup.at(10))
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
    client = redis.Redis.from_url(redis_url)
    try:
        keys = [key.decode() for key in client.scan_iter("*")]
    finally:
        client.close()
    limits = [key for key in keys if "citizen-" in key]
    assert any("citizen-email:" in key for key in limits) and any("citizen-phone:" in key for key in limits), keys
    stored = " ".join(keys)
    for detail in ("anna.smirnova", "example.org", "79123456789", "912"):
        assert detail not in stored, stored


def test_a_limited_request_costs_one_round_trip_to_the_rate_limit_storage_and_a_refusal_says_when(
        app_on_redis: Callable[..., Flask], redis_url: str) -> None:
    """The counting is one call; no X-RateLimit-* headers (each would need the window's state again)."""
    import redis

    application = app_on_redis(redis_url, API_RATE_LIMIT=TIGHT)
    server = redis.Redis.from_url(redis_url)

    def calls() -> dict[str, int]:
        return {k: int(v["calls"]) for k, v in server.info("commandstats").items()}

    with rolled_back_session(application):
        client = application.test_client()
        client.get("/api/v1/topics")  # scripts loaded, connections made
        before = calls()
        answer = client.get("/api/v1/topics")
        after = calls()
        spent = {k: n - before.get(k, 0) for k, n in after.items() if n != before.get(k, 0) and k != "cmdstat_info"}
        refused = client.get("/api/v1/topics")
    server.close()
    assert answer.status_code == 200 and not [h for h in answer.headers.keys() if h.lower().startswith("x-ratelimit")]
    # One script call (its INCRBY, and on a window's first hit its EXPIRE, run inside Redis).
    assert spent.get("cmdstat_evalsha") == 1 and set(spent) <= {
        "cmdstat_evalsha", "cmdstat_incrby", "cmdstat_expire"}, spent
    assert refused.status_code == 429 and 0 < int(refused.headers["Retry-After"]) <= 60
