"""Prometheus metrics: request latency, the outbox and the jobs, served at ``/metrics`` for the operations team.

Counters and histograms live in prometheus_client's registry. Under gunicorn with several worker
processes, ``PROMETHEUS_MULTIPROC_DIR`` (set in the environment before the server starts) makes every
process write its values to files there, and a scrape of any process sums them all
(``scheduler.gunicorn_conf`` empties the directory at start and marks exited workers dead). Without it
(``flask run``, one process) the ordinary in-memory registry serves.

What lives in the shared database or job queue (outbox backlog, the periodic jobs' last runs) is read
at scrape time, so every node reports the same values: aggregate those across nodes with ``max``,
not ``sum``. Labels are bounded: endpoint names (never paths, which carry tokens and codes), methods,
status classes, job names; never anything about a person.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from collections.abc import Iterable, Iterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, abort, current_app, g, request
from flask.wrappers import Response
from huey import Huey
from huey.api import PeriodicTask, Task
from huey.signals import SIGNAL_ENQUEUED, SIGNAL_EXECUTING
from prometheus_client import REGISTRY, CollectorRegistry, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from sqlalchemy.exc import SQLAlchemyError

from scheduler.extensions import db
from scheduler.ratelimits import unlimited

log = logging.getLogger(__name__)

MULTIPROC_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REQUEST_LATENCY = Histogram(
    "okno_http_request_duration_seconds",
    "Time from the request's arrival in the app to its response, by Flask endpoint, method and status class.",
    ["endpoint", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

bp = Blueprint("metrics", __name__)


# --------------------------------------------------------------------------- requests


def register_metrics(app: Flask) -> None:
    """Time every request and serve ``/metrics``.

    Registered before the other features, so the timer starts first and its ``after_request``
    runs last: the time includes the transaction's commit.
    """

    @app.before_request
    def _start_timer() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _observe(response: Response) -> Response:
        started = g.pop("metrics_started", None)
        if started is not None:
            REQUEST_LATENCY.labels(
                request.endpoint or "unmatched",
                request.method if request.method in HTTP_METHODS else "other",
                f"{response.status_code // 100}xx",
            ).observe(time.perf_counter() - started)
        return response

    app.register_blueprint(bp)


def _authorised() -> None:
    """``METRICS_TOKEN`` as a bearer token; without one, open in development and closed in production
    unless ``METRICS_ALLOW_ANONYMOUS`` says the network in front guards it."""
    token = current_app.config["METRICS_TOKEN"]
    if not token:
        if current_app.config["OKNO_ENV"] == "production" and not current_app.config["METRICS_ALLOW_ANONYMOUS"]:
            abort(403, "Set METRICS_TOKEN (or METRICS_ALLOW_ANONYMOUS) to serve metrics in production.")
        return
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        abort(Response("Metrics need a bearer token.\n", 401, {"WWW-Authenticate": 'Bearer realm="metrics"'}))
    if not hmac.compare_digest(given.strip().encode(), token.encode()):
        abort(403, "Wrong metrics token.")


@bp.route("/metrics")
@unlimited
def metrics() -> Response:
    """Prometheus exposition (text, or OpenMetrics when the scraper asks for it)."""
    _authorised()
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    body = encoder(scrape_registry())
    return Response(body, 200, {"Content-Type": content_type, "Cache-Control": "no-store"})


class _Scrape:
    """What one scrape reads: this process's (or all processes') metrics, then the shared state."""

    def __init__(self, *sources: Any) -> None:
        self.sources = sources

    def collect(self) -> Iterator[Metric]:
        for source in self.sources:
            yield from source.collect()


def scrape_registry() -> _Scrape:
    """The process registry, or every gunicorn process's files in multiprocess mode, plus the shared state."""
    path = os.environ.get(MULTIPROC_DIR_VARIABLE)
    if path:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=path)
        return _Scrape(registry, SharedStateCollector())
    return _Scrape(REGISTRY, SharedStateCollector())


# --------------------------------------------------------------------------- state read at scrape time


def app_version() -> str:
    try:
        return version("okno")
    except PackageNotFoundError:
        return "unknown"


class SharedStateCollector:
    """Gauges computed when scraped from what every node shares: the database and the job queue."""

    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily("okno_build_info", "The running okno version (always 1).", labels=["version"])
        info.add_metric([app_version()], 1)
        yield info
        yield from outbox_metrics()
        yield from job_metrics()


def outbox_metrics() -> Iterable[Metric]:
    """The outbox's backlog: messages by status, the oldest unsent one's age, how overdue the most overdue is."""
    from scheduler.db import utcnow
    from scheduler.mail.backlog import outbox_backlog
    from scheduler.transaction import discard_changes

    now = utcnow()
    up = GaugeMetricFamily("okno_database_up", "Whether the scrape could read the database.")
    try:
        backlog = outbox_backlog(db.session, now)
    except SQLAlchemyError:
        discard_changes()
        log.warning("metrics: the outbox could not be read", exc_info=True)
        up.add_metric([], 0)
        return [up]
    up.add_metric([], 1)
    messages = GaugeMetricFamily("okno_outbox_messages", "Outbox messages not yet sent, by status "
                                 "(failed: abandoned after the last attempt).", labels=["status"])
    messages.add_metric(["pending"], backlog.waiting)
    messages.add_metric(["sending"], backlog.sending)
    messages.add_metric(["failed"], backlog.abandoned)
    oldest = GaugeMetricFamily("okno_outbox_oldest_unsent_age_seconds",
                               "Age of the oldest message still waiting to be sent (0 when none waits).")
    oldest.add_metric([], backlog.oldest_age_seconds(now) or 0.0)
    overdue = GaugeMetricFamily("okno_outbox_delivery_lag_seconds",
                                "How long the most overdue message has been due without being sent: "
                                "grows when the worker is down or behind (0 when nothing is due).")
    overdue.add_metric([], backlog.delivery_lag_seconds(now) or 0.0)
    return [up, messages, oldest, overdue]


# --------------------------------------------------------------------------- the worker's periodic jobs

JOB_RUN_KEY = "okno:metrics:job:"
JOB_ENQUEUED_KEY = "okno:metrics:enqueued:"


def job_metrics() -> Iterable[Metric]:
    """Each periodic job's last start and how late it started, as the worker recorded them in the job queue."""
    from scheduler.jobs import huey, periodic_job_names

    last_run = GaugeMetricFamily("okno_job_last_run_timestamp_seconds",
                                 "When the worker last started the periodic job (Unix time).", labels=["job"])
    lag = GaugeMetricFamily("okno_job_lag_seconds",
                            "How late the periodic job's last run started after it was scheduled.", labels=["job"])
    try:
        for name in periodic_job_names():
            run = huey.get(JOB_RUN_KEY + name, peek=True)
            if run:
                last_run.add_metric([name], run["started_at"])
                lag.add_metric([name], run["lag"])
    except Exception:  # the job queue's storage (Redis) being down must not fail the whole scrape
        log.warning("metrics: the job queue could not be read", exc_info=True)
        return []
    return [last_run, lag]


class JobTiming:
    """In the worker: how long each periodic job waited between its schedule and its start.

    huey's scheduler enqueues a periodic job when its minute comes; a worker thread, of this worker
    or another one sharing the queue, runs it when it is free. The wait between the two is the job
    lag an operator alerts on. The enqueue time is kept in the queue's storage under the task's id,
    so whichever worker runs the job can read it (and takes it out).
    """

    def __init__(self, queue: Huey) -> None:
        self.queue = queue

    def on_enqueued(self, _signal: str, task: Task) -> None:
        if isinstance(task, PeriodicTask):
            self._record(JOB_ENQUEUED_KEY + task.id, time.time())

    def on_executing(self, _signal: str, task: Task) -> None:
        if not isinstance(task, PeriodicTask):
            return
        started = time.time()
        try:
            scheduled = self.queue.get(JOB_ENQUEUED_KEY + task.id)
        except Exception:
            log.warning("metrics: could not read when %s was scheduled", task.name, exc_info=True)
            return
        if scheduled is not None:
            self._record(JOB_RUN_KEY + task.name, {"started_at": started, "lag": max(started - scheduled, 0.0)})

    def _record(self, key: str, data: Any) -> None:
        try:
            self.queue.put(key, data)
        except Exception:  # a metric must never stop the job itself
            log.warning("metrics: could not record %s", key, exc_info=True)


def install_job_timing(queue: Huey) -> JobTiming:
    """Record the periodic jobs' lag; called by the worker before its consumer starts."""
    timing = JobTiming(queue)
    queue.signal(SIGNAL_ENQUEUED)(timing.on_enqueued)
    queue.signal(SIGNAL_EXECUTING)(timing.on_executing)
    return timing


# --------------------------------------------------------------------------- gunicorn's processes


def prepare_multiprocess_dir() -> None:
    """Empty ``PROMETHEUS_MULTIPROC_DIR`` before the server starts: files of a previous run would be counted again."""
    path = os.environ.get(MULTIPROC_DIR_VARIABLE)
    if not path:
        return
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()


def mark_worker_dead(pid: int) -> None:
    """A gunicorn worker exited: drop its live gauges (its counters stay, as totals do)."""
    if os.environ.get(MULTIPROC_DIR_VARIABLE):
        mark_process_dead(pid)
