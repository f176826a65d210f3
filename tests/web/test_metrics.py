"""/metrics: request latency, bookings made and refused, the outbox and the jobs, and who may read them.

Each test scrapes the real endpoint before and after real requests and compares the parsed samples
(prometheus_client's own parser), so the counters are seen as Prometheus would see them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from booking.services import BookingPolicy, confirm_booking, hold_slot
from scheduler.app import create_app
from scheduler.audit import Actor
from scheduler.db import utcnow
from scheduler.extensions import db, limiter
from scheduler.jobs import _tasks, huey
from scheduler.mail.compose import queue_email
from scheduler.mail.models import OutboxMessage, OutboxStatus
from scheduler.metrics import install_job_timing
from tests.booking_fixtures import bookable_setup
from tests.conftest import app_config
from tests.web.test_api_bookings import CITIZEN, QUESTION, bearer, booking_body, other_citizen

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: Any, **headers: str) -> Samples:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.data
    samples: Samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def requests_timed(before: Samples, after: Samples, endpoint: str, method: str, status: str) -> float:
    """How many requests the histogram observed between two scrapes."""
    labels = {"endpoint": endpoint, "method": method, "status": status}
    name = "okno_http_request_duration_seconds_count"
    return value(after, name, **labels) - value(before, name, **labels)


@pytest.fixture
def setup(session: Any) -> Any:
    return bookable_setup(session)


@pytest.fixture
def key(session: Any) -> str:
    from booking.apikeys import create_key

    return create_key(session, "Городской портал", Actor.system("test"))[1]


def test_requests_are_timed_by_endpoint_method_and_status_class(client: Any) -> None:
    before = scrape(client)
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
    assert client.get("/tickets/A-secret-looking-code?token=abc123").status_code == 302
    assert client.get("/no/such/page/secret").status_code == 404
    assert client.post("/healthz").status_code == 405
    after = scrape(client)

    assert requests_timed(before, after, "health.healthz", "GET", "2xx") == 3
    # No route matched (404, or 405 for a wrong method): one bounded label, whatever the path was.
    assert requests_timed(before, after, "unmatched", "GET", "4xx") == 1
    assert requests_timed(before, after, "unmatched", "POST", "4xx") == 1
    assert requests_timed(before, after, "tickets.citizen_view", "GET", "3xx") == 1
    assert requests_timed(before, after, "metrics.metrics", "GET", "2xx") == 1
    assert value(after, "okno_http_request_duration_seconds_sum", endpoint="health.healthz", method="GET",
                 status="2xx") > value(before, "okno_http_request_duration_seconds_sum", endpoint="health.healthz",
                                       method="GET", status="2xx")
    # Labels name endpoints, never paths: no code or token a URL carried reaches the metrics.
    label_values = {v for (_name, labels) in after for _k, v in labels}
    assert not any("/" in v or "secret" in v or "abc123" in v for v in label_values)
    assert value(after, "okno_build_info", version="0.1.0") == 1


def test_a_booking_made_and_the_refusals_are_counted_by_door_and_reason(client: Any, setup: Any, key: str) -> None:
    before = scrape(client)
    made = client.post("/api/v1/bookings", json=booking_body(setup, 10), headers=bearer(key))
    assert made.status_code == 201, made.get_json()
    taken = client.post("/api/v1/bookings", json={**booking_body(setup, 10), "citizen": other_citizen(1),
                                                  "expert": made.get_json()["expert"]["id"]}, headers=bearer(key))
    assert taken.status_code == 409 and taken.get_json()["error"] == "slot_taken"
    limited = client.post("/api/v1/bookings", json=booking_body(setup, 11), headers=bearer(key))
    assert limited.status_code == 409 and limited.get_json()["error"] == "limit_reached"
    # The service's own rule (the API's checks of the body come first and are not the service's refusals).
    no_such_expert = client.post("/api/v1/bookings", json={**booking_body(setup, 11), "expert": 2_000_000_000,
                                                           "citizen": other_citizen(2)}, headers=bearer(key))
    assert no_such_expert.status_code == 422 and "expert" in no_such_expert.get_json()["fields"]
    after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("okno_bookings_made_total", source="api", channel="video") == 1
    assert delta("okno_bookings_refused_total", source="api", reason="slot_taken") == 1
    assert delta("okno_bookings_refused_total", source="api", reason="limit_reached") == 1
    assert delta("okno_bookings_refused_total", source="api", reason="validation") == 1


def test_a_booking_counts_as_made_only_when_its_transaction_commits(app: Flask, session: Any, setup: Any) -> None:
    session.commit()  # the setup stays; only the booking's own transaction is rolled back below
    client = app.test_client()
    policy = BookingPolicy.from_config(app.config)
    citizen = citizen_details()

    def book(hour: int) -> None:
        held = hold_slot(session, topic=setup.topic, channel="video", start=setup.at(hour), citizen=citizen,
                         question=QUESTION, now=utcnow(), policy=policy, actor=Actor.system("test"), source="desk")
        confirm_booking(session, held.booking, utcnow(), Actor.system("test"))

    before = value(scrape(client), "okno_bookings_made_total", source="desk", channel="video")
    book(10)
    session.rollback()  # the request failed after confirming: nothing was made
    assert value(scrape(client), "okno_bookings_made_total", source="desk", channel="video") == before
    book(10)
    session.commit()
    assert value(scrape(client), "okno_bookings_made_total", source="desk", channel="video") == before + 1


def citizen_details() -> Any:
    from booking.citizens import CitizenDetails
    from booking.models import ApplicantType

    return CitizenDetails(CITIZEN["name"], CITIZEN["email"], "+79123456789", ApplicantType.INDIVIDUAL)


def test_outbox_backlog_is_read_from_the_database_at_scrape_time(client: Any, session: Any) -> None:
    now = utcnow()
    before = scrape(client)
    assert value(before, "okno_outbox_messages", status="pending") == 0
    assert value(before, "okno_database_up") == 1
    for n in range(3):
        queue_email(session, to=f"c{n}@example.org", template="test_message", context={"name": "Анна"})
    session.flush()
    rows = list(session.query(OutboxMessage).order_by(OutboxMessage.id))
    rows[0].created_at = now - timedelta(minutes=20)
    rows[0].next_attempt_at = now - timedelta(minutes=7)  # due for seven minutes and not sent: the worker lags
    rows[1].next_attempt_at = now + timedelta(minutes=5)  # a retry waiting for its backoff: not overdue
    rows[2].status = OutboxStatus.FAILED
    session.commit()

    after = scrape(client)
    assert value(after, "okno_outbox_messages", status="pending") == 2
    assert value(after, "okno_outbox_messages", status="failed") == 1
    assert value(after, "okno_outbox_messages", status="sending") == 0
    assert 20 * 60 <= value(after, "okno_outbox_oldest_unsent_age_seconds") < 21 * 60
    assert 7 * 60 <= value(after, "okno_outbox_delivery_lag_seconds") < 8 * 60


def test_a_periodic_job_reports_when_it_ran_and_how_late(client: Any, session: Any) -> None:
    """huey's own enqueue and execute, as the worker's scheduler and threads call them."""
    timing = install_job_timing(huey)
    try:
        sweep = _tasks["scheduler.jobs.sweep_outbox_task"]
        task = sweep.s()
        huey.enqueue(task)  # the scheduler thread's part, at the scheduled minute
        time.sleep(0.3)  # every worker thread busy elsewhere
        started = time.time()
        huey.execute(huey.dequeue())
    finally:
        huey.disconnect_signal(timing.on_enqueued)
        huey.disconnect_signal(timing.on_executing)
    samples = scrape(client)
    assert 0.3 <= value(samples, "okno_job_lag_seconds", job="sweep_outbox_task") < 5
    assert abs(value(samples, "okno_job_last_run_timestamp_seconds", job="sweep_outbox_task") - started) < 5


def test_requests_carry_an_id_in_the_response_and_take_a_trusted_proxys(client: Any, app: Flask,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    first = client.get("/healthz").headers["X-Request-ID"]
    second = client.get("/healthz").headers["X-Request-ID"]
    assert len(first) == 32 and first != second
    # Without a trusted proxy a client's own id is not taken.
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] != "abc-123"
    monkeypatch.setitem(app.config, "TRUSTED_PROXY_COUNT", 1)
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
    injected = client.get("/healthz", headers={"X-Request-ID": "x\" level=ERROR forged"}).headers["X-Request-ID"]
    assert injected != "x\" level=ERROR forged" and len(injected) == 32


# --------------------------------------------------------------------------- who may read /metrics


@pytest.fixture
def production_app(database_url: str, tmp_path: Path, redis_url: str, restore_jobs: None,
                   app: Flask) -> Iterator[Any]:
    def build(**settings: str) -> Flask:
        config = app_config(database_url, tmp_path, OKNO_ENV="production", PUBLIC_BASE_URL="https://okno.example.org",
                            SMTP_HOST="127.0.0.1", REDIS_URL=redis_url, RATELIMIT_STORAGE_URI=redis_url, **settings)
        application = create_app(config, instance_path=str(tmp_path))
        built.append(application)
        return application

    built: list[Flask] = []
    # The extension is shared: give the session app its own rate-limit storage back afterwards.
    storage, strategy = limiter._storage, limiter._limiter
    yield build
    for application in built:
        with application.app_context():
            db.session.remove()
            db.engine.dispose()
    limiter._storage, limiter._limiter = storage, strategy
    limiter.reset()


TOKEN = "metrics-token-0123456789abcdef"


def test_production_metrics_need_the_bearer_token(production_app: Any) -> None:
    client = production_app(METRICS_TOKEN=TOKEN).test_client()
    anonymous = client.get("/metrics")
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", headers={"Authorization": "Bearer not-the-token"}).status_code == 403
    assert client.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
    samples = scrape(client, Authorization=f"Bearer {TOKEN}")
    assert value(samples, "okno_database_up") == 1


def test_production_metrics_stay_closed_without_a_token_unless_allowed(production_app: Any) -> None:
    assert production_app().test_client().get("/metrics").status_code == 403
    open_client = production_app(METRICS_ALLOW_ANONYMOUS="1").test_client()
    assert value(scrape(open_client), "okno_database_up") == 1


def test_metrics_are_not_in_the_api_document(client: Any) -> None:
    assert "/metrics" not in client.get("/api/v1/openapi.json").get_json()["paths"]
