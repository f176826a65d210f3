"""Idempotency-Key against a real multi-process server: parallel retries and a cut connection book once.

The server is the gunicorn of test_concurrent_booking (4 processes × 4 threads, a fresh database
of the suite's kind). Parallel copies of one request are released at once by a barrier; on
PostgreSQL the unique constraint makes every copy but one wait for the first transaction and
replay its answer, on SQLite the serialised writers do.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select

from booking.api.idempotency import IdempotentRequest
from booking.models import Booking
from scheduler.config import normalise_database_url
from scheduler.mail.models import OutboxMessage
from tests.integration import test_concurrent_booking as rush
from tests.integration.test_concurrent_booking import QUESTION, citizen
from tests.processes import race

pytestmark = pytest.mark.slow

CLIENTS = 12
KEY = "0b8f2c52-7d1e-4a3b-9c55-3e1f6a7d8b90"
seeded = rush.seeded  # the same committed expert, topic and partner key
server = rush.server  # the same gunicorn


def booking_request(facts: dict[str, Any]) -> bytes:
    return json.dumps({"topic": facts["topic"], "channel": "video", "start": facts["start"].isoformat(),
                       "expert": facts["expert"], "citizen": citizen(1), "question": QUESTION,
                       "consent_personal_data": True}).encode()


def request_headers(facts: dict[str, Any], body: bytes) -> dict[str, str]:
    return {"Authorization": f"Bearer {facts['key']}", "Content-Type": "application/json",
            "Content-Length": str(len(body)), "Idempotency-Key": KEY}


def post(port: int, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("POST", "/api/v1/bookings", body=body, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def counts(database_url: str) -> tuple[int, int, int]:
    """Bookings, confirmation emails and stored answers in the server's database."""
    engine = create_engine(normalise_database_url(database_url))
    try:
        with engine.connect() as connection:
            return (int(connection.scalar(select(func.count(Booking.id))) or 0),
                    int(connection.scalar(select(func.count(OutboxMessage.id))
                                          .where(OutboxMessage.template == "booking_confirmed")) or 0),
                    int(connection.scalar(select(func.count(IdempotentRequest.id))) or 0))
    finally:
        engine.dispose()


def test_parallel_copies_of_one_request_book_once(server: dict[str, Any], fresh_database_url: str) -> None:
    body = booking_request(server)
    headers = request_headers(server, body)
    results = race(CLIENTS, lambda _n: post(server["port"], headers, body))
    failures = [r for r in results if isinstance(r, BaseException)]
    assert not failures, failures

    log = server["log"].read_text(errors="replace")[-4000:]
    statuses = sorted(status for status, _headers, _body in results)
    assert statuses == [201] * CLIENTS, f"{statuses}\n{log}"
    bodies = {raw for _status, _headers, raw in results}
    assert len(bodies) == 1, "every copy got the same answer"
    replayed = [h for _status, h, _body in results if h.get("Idempotent-Replayed") == "true"]
    assert len(replayed) == CLIENTS - 1
    assert counts(fresh_database_url) == (1, 1, 1)


def test_a_retry_after_a_cut_connection_gets_the_booking_that_was_made(server: dict[str, Any],
                                                                       fresh_database_url: str) -> None:
    """The client sends the booking and drops the connection before the answer; the server books anyway."""
    body = booking_request(server)
    headers = request_headers(server, body)
    raw = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    with socket.create_connection(("127.0.0.1", server["port"]), timeout=10) as cut:
        cut.sendall(f"POST /api/v1/bookings HTTP/1.1\r\nHost: 127.0.0.1\r\n{raw}\r\n".encode() + body)
        cut.shutdown(socket.SHUT_WR)  # gone before reading a byte of the answer

    deadline = time.monotonic() + 30
    while counts(fresh_database_url)[0] == 0:
        assert time.monotonic() < deadline, server["log"].read_text(errors="replace")[-4000:]
        time.sleep(0.1)

    status, answer_headers, answer = post(server["port"], headers, body)
    assert status == 201, answer
    assert answer_headers["Idempotent-Replayed"] == "true"
    booking = json.loads(answer)
    assert answer_headers["Location"] == f"/api/v1/bookings/{booking['code']}"
    assert booking["status"] == "confirmed" and booking["expert"]["id"] == server["expert"]
    assert counts(fresh_database_url) == (1, 1, 1)  # one booking, one confirmation email
