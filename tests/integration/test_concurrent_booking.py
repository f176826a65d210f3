"""Thirty partners race for one slot against a real multi-process server: exactly one wins.

The server is gunicorn (4 processes × 4 threads) on a fresh database with a partner key made by
``booking.apikeys.create_key``, and all clients are released at once by a barrier. On PostgreSQL the
expert's row lock serialises the check and the insert; on SQLite ``BEGIN IMMEDIATE`` serialises all
writers; either way one request gets 201 and every other one 409 ``slot_taken``, and the database
holds one active booking for that expert and start.
"""

from __future__ import annotations

import http.client
import json
import os
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import phonenumbers
import pytest
from sqlalchemy import create_engine, func, select

from booking.apikeys import create_key
from booking.models import ACTIVE_STATUSES, Booking
from scheduler.app import create_app
from scheduler.audit import Actor
from scheduler.config import normalise_database_url
from scheduler.extensions import db
from tests.booking_fixtures import bookable_setup
from tests.conftest import app_config
from tests.processes import race, start_process, stop_process, wait_until_serving
from tests.smtp_server import free_port

pytestmark = pytest.mark.slow

CLIENTS = 30
QUESTION = "Хочу заменить старую газовую плиту на новую с газ-контролем."


def citizen(n: int) -> dict[str, str]:
    """A distinct citizen per client: the per-topic limit counts by email and by phone."""
    phone = f"+7 916 123-{40 + n // 100:02d}-{n % 100:02d}"
    assert phonenumbers.is_valid_number(phonenumbers.parse(phone, "RU"))
    return {"name": f"Гражданин {n}", "email": f"rush{n}@example.org", "phone": phone,
            "applicant_type": "individual"}


@pytest.fixture
def seeded(fresh_database_url: str, tmp_path: Path, restore_jobs: None) -> dict[str, Any]:
    """One expert, one video topic and a partner key, committed to a fresh database."""
    app = create_app(app_config(fresh_database_url, tmp_path), instance_path=str(tmp_path))
    with app.app_context():
        db.create_all()
        setup = bookable_setup(db.session, experts=1)
        _row, key = create_key(db.session, "Rush test", Actor.system("test"))
        facts = {"topic": setup.topic.slug, "expert": setup.experts[0].id, "start": setup.at(10), "key": key}
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return facts


@pytest.fixture
def server(fresh_database_url: str, tmp_path: Path, seeded: dict[str, Any]) -> Iterator[dict[str, Any]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = app_config(fresh_database_url, tmp_path, OKNO_ENV="development", RATELIMIT_ENABLED="0",
                          OUTBOX_NOTIFY_WORKER="0", PUBLIC_BASE_URL=url,
                          JOBS_SQLITE_PATH=str(tmp_path / "jobs.sqlite"))
    env = {**os.environ, **settings, "OKNO_INSTANCE_PATH": str(tmp_path)}
    log = tmp_path / "gunicorn.log"
    process = start_process(
        [sys.executable, "-m", "gunicorn", "--workers", "4", "--worker-class", "gthread", "--threads", "4",
         "--bind", f"127.0.0.1:{port}", "--graceful-timeout", "5", "wsgi:app"],
        env, log,
    )
    try:
        wait_until_serving(url, process, [log])
        yield {**seeded, "port": port, "log": log}
    finally:
        stop_process(process)


def post_booking(port: int, key: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("POST", "/api/v1/bookings", body=json.dumps(body).encode(),
                           headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
        response = connection.getresponse()
        raw = response.read()
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = {"raw": raw[:300].decode(errors="replace")}
        return response.status, payload
    finally:
        connection.close()


def test_thirty_clients_racing_for_one_slot_get_one_booking(server: dict[str, Any], fresh_database_url: str) -> None:
    start: datetime = server["start"]

    def client(n: int) -> tuple[int, dict[str, Any]]:
        body = {"topic": server["topic"], "channel": "video", "start": start.isoformat(), "expert": server["expert"],
                "citizen": citizen(n), "question": QUESTION, "consent_personal_data": True}
        return post_booking(server["port"], server["key"], body)

    results = race(CLIENTS, client)

    failures = [r for r in results if isinstance(r, BaseException)]
    assert not failures, failures
    answers = [r for r in results if not isinstance(r, BaseException)]
    created = [body for status, body in answers if status == 201]
    taken = [body for status, body in answers if status == 409 and body.get("error") == "slot_taken"]
    others = [(status, body) for status, body in answers if status != 201 and not (status == 409 and
                                                                                     body.get("error") == "slot_taken")]
    log = server["log"].read_text(errors="replace")[-4000:]
    assert not others, f"unexpected answers: {others[:3]}\n{log}"
    assert len(created) == 1, f"{len(created)} bookings created\n{log}"
    assert len(taken) == CLIENTS - 1
    assert datetime.fromisoformat(created[0]["start"]) == start
    assert created[0]["expert"]["id"] == server["expert"] and created[0]["status"] == "confirmed"
    for body in taken:  # the alternatives offered never include the time that was just taken
        assert all(datetime.fromisoformat(a["start"]) != start for a in body["alternatives"])

    engine = create_engine(normalise_database_url(fresh_database_url))
    try:
        with engine.connect() as connection:
            active = connection.scalar(select(func.count(Booking.id)).where(
                Booking.expert_id == server["expert"], Booking.starts_at == start,
                Booking.status.in_([s.value for s in ACTIVE_STATUSES])))
            rows = connection.scalar(select(func.count(Booking.id)))
    finally:
        engine.dispose()
    assert active == 1
    assert rows == 1, "a losing request left a row behind"
