"""Metrics and JSON logs from a real gunicorn with two worker processes, as deployed.

gunicorn runs with the deployment's hooks (``-c python:scheduler.gunicorn_conf``),
``PROMETHEUS_MULTIPROC_DIR`` and ``LOG_FORMAT=json``. A booking race is spread over both workers; one
scrape, answered by one of them, must report every worker's requests and bookings, and keep them
when a worker is killed and replaced. Every line gunicorn and the app log is one JSON object, and
the access line of a request carries the id returned in its ``X-Request-ID``.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import app_config
from tests.integration.test_concurrent_booking import QUESTION, citizen, seeded  # noqa: F401 (a fixture)
from tests.processes import race, start_process, stop_process, wait_for, wait_until_serving
from tests.smtp_server import free_port

pytestmark = pytest.mark.slow

CLIENTS = 8
TOKEN = "scrape-token-0123456789abcdef"


@pytest.fixture
def server(fresh_database_url: str, tmp_path: Path, seeded: dict[str, Any]) -> Iterator[dict[str, Any]]:  # noqa: F811
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    multiproc = tmp_path / "prometheus"
    multiproc.mkdir()
    stale = multiproc / "counter_4242.db"
    stale.write_bytes(b"left over from the previous run")  # unreadable: a scrape would fail on it
    settings = app_config(fresh_database_url, tmp_path, OKNO_ENV="development", RATELIMIT_ENABLED="0",
                          OUTBOX_NOTIFY_WORKER="0", PUBLIC_BASE_URL=url, JOBS_SQLITE_PATH=str(tmp_path / "jobs.sqlite"),
                          LOG_FORMAT="json", METRICS_TOKEN=TOKEN)
    env = {**os.environ, **settings, "OKNO_INSTANCE_PATH": str(tmp_path), "PROMETHEUS_MULTIPROC_DIR": str(multiproc)}
    log = tmp_path / "gunicorn.log"
    process = start_process(
        [sys.executable, "-m", "gunicorn", "-c", "python:scheduler.gunicorn_conf", "--workers", "2",
         "--worker-class", "sync", "--bind", f"127.0.0.1:{port}", "--graceful-timeout", "5",
         "--access-logfile", "-", "wsgi:app"],
        env, log,
    )
    try:
        wait_until_serving(url, process, [log])
        yield {**seeded, "port": port, "log": log, "multiproc": multiproc, "stale": stale, "process": process}
    finally:
        stop_process(process)


def post_booking(port: int, key: str, body: dict[str, Any]) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("POST", "/api/v1/bookings", body=json.dumps(body).encode(),
                           headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        return response.status, response.headers["X-Request-ID"]
    finally:
        connection.close()


def scrape(port: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        text = response.read().decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def worker_pids(master: int) -> set[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return {int(pid) for pid in children}


def pids_with_files(directory: Path, kind: str) -> set[int]:
    return {int(m.group(1)) for f in directory.iterdir() if (m := re.fullmatch(rf"{kind}_(\d+)\.db", f.name))}


def test_two_workers_report_one_sum_and_log_json_with_request_ids(server: dict[str, Any]) -> None:
    port, start = server["port"], server["start"]
    assert not server["stale"].exists(), "on_starting must empty the metrics directory"

    def client(n: int) -> tuple[int, str]:
        body = {"topic": server["topic"], "channel": "video", "start": start.isoformat(), "expert": server["expert"],
                "citizen": citizen(n), "question": QUESTION, "consent_personal_data": True}
        return post_booking(port, server["key"], body)

    results = race(CLIENTS, client)
    answers = [r for r in results if not isinstance(r, BaseException)]
    assert len(answers) == CLIENTS, results
    statuses = sorted(status for status, _id in answers)
    assert statuses == [201] + [409] * (CLIENTS - 1)

    # Both workers served (each wrote its own files), and one scrape sums them. The race nearly always
    # reaches both; when one worker was quick enough to take every booking, a few cheap requests on new
    # connections reach the other (which worker accepts a connection is the kernel's choice).
    for _ in range(200):
        if len(pids_with_files(server["multiproc"], "histogram")) == 2:
            break
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as answer:
            assert answer.status == 200
    assert len(pids_with_files(server["multiproc"], "histogram")) == 2
    samples = scrape(port)

    def value(name: str, **labels: str) -> float:
        return samples.get((name, frozenset(labels.items())), 0.0)

    posts = {"endpoint": "api.create_booking", "method": "POST"}
    assert value("okno_http_request_duration_seconds_count", **posts, status="2xx") == 1
    assert value("okno_http_request_duration_seconds_count", **posts, status="4xx") == CLIENTS - 1
    assert value("okno_bookings_made_total", source="api", channel="video") == 1
    assert value("okno_bookings_refused_total", source="api", reason="slot_taken") == CLIENTS - 1
    assert value("okno_build_info", version="0.1.0") == 1

    # A killed worker is replaced (child_exit runs); what it counted stays in the totals.
    victims = worker_pids(server["process"].pid)
    assert len(victims) == 2
    victim = next(iter(victims))
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: len(worker_pids(server["process"].pid) - {victim}) == 2, 30, "a replacement worker")
    again = scrape(port)
    assert again[("okno_bookings_refused_total", frozenset({"source": "api", "reason": "slot_taken"}.items()))] == \
        CLIENTS - 1
    assert again[("okno_http_request_duration_seconds_count", frozenset({**posts, "status": "4xx"}.items()))] == \
        CLIENTS - 1

    # Every line is one JSON object; the access line of each booking carries its request id.
    lines = [line for line in server["log"].read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    assert all(r["time"].endswith("+00:00") for r in records)
    assert any(r["logger"] == "gunicorn.error" and "Booting worker" in r["message"] for r in records)
    access = {r.get("request_id"): r for r in records if r["logger"] == "gunicorn.access"}
    for status, request_id in answers:
        assert request_id in access, f"no access line for request {request_id}"
        assert f"POST /api/v1/bookings HTTP/1.1\" {status}" in access[request_id]["message"]
