"""Background and periodic jobs on huey: embedded SQLite storage by default, Redis to scale out.

huey runs the consumer in ``flask --app wsgi worker``. Importing a module registers nothing:
each feature hands its jobs to ``register_jobs``-style functions that the composition root calls
(``scheduler.app``), on an instance whose storage ``init_jobs`` chooses, so importing this module
reads no configuration and opens no file.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from flask import Flask, current_app, has_app_context
from huey import Huey, RedisHuey, SqliteHuey, crontab
from huey.api import PeriodicTask, TaskWrapper
from huey.storage import MemoryStorage
from redis import ConnectionPool, Redis
from sqlalchemy.orm import Session

from scheduler.config import redis_client_options

log = logging.getLogger(__name__)

huey = Huey("okno", storage_class=MemoryStorage)

_app: Flask | None = None
# Registered tasks by name: building a second app in the same process (tests, the CLI) registers nothing twice.
_tasks: dict[str, TaskWrapper] = {}
DELIVER_OUTBOX = "scheduler.jobs.deliver_outbox_task"


def init_jobs(app: Flask) -> None:
    """Point huey at this app's storage and remember the app for tasks run by the consumer."""
    global _app
    _app = app
    if app.config.get("TESTING"):
        huey.storage_class = MemoryStorage
        huey.storage_kwargs = {}
    elif app.config.get("REDIS_URL"):
        huey.storage_class = RedisHuey.storage_class
        huey.storage_kwargs = {"connection_pool": _redis_pool(app.config)}
    else:
        huey.storage_class = SqliteHuey.storage_class
        huey.storage_kwargs = {"filename": app.config["JOBS_SQLITE_PATH"]}
    huey.storage = huey.create_storage()


# How long the consumer blocks on an empty Redis queue (huey's default); a socket timeout must outlast it.
QUEUE_READ_TIMEOUT = 1.0


def _redis_pool(config: Mapping[str, Any]) -> ConnectionPool:
    """Connections with timeouts, so that enqueueing during a request fails fast when Redis is down."""
    options = redis_client_options(config)
    options["socket_timeout"] = max(options["socket_timeout"], QUEUE_READ_TIMEOUT + 1)
    return ConnectionPool.from_url(config["REDIS_URL"], **options)


def bound_app() -> Flask:
    if _app is None:
        raise RuntimeError("init_jobs() has not been called: create the app first")
    return _app


def _in_app(job: Callable[[], Any]) -> Callable[[], Any]:
    """``job`` run inside the bound app, named as huey knows it (``<module>.<job>_task``)."""

    def run() -> Any:
        with bound_app().app_context():
            return job()

    run.__name__ = run.__qualname__ = f"{job.__name__}_task"
    run.__module__ = job.__module__
    run.__doc__ = job.__doc__
    return run


def register_periodic(queue: Huey, schedule: Callable[[Any], bool], job: Callable[[], Any], *,
                      every_worker: bool = False) -> TaskWrapper:
    """Run ``job`` (inside the app) whenever ``schedule`` matches; a feature's ``register_jobs`` calls this.

    Every consumer enqueues the periodic jobs itself, so with several workers on one Redis each
    minute's job would run once per worker: unless ``every_worker``, a run first claims its minute in
    the shared queue and a copy that finds it claimed does nothing.
    """
    task = _in_app(job if every_worker else _once_per_minute(queue, job))
    key = f"{task.__module__}.{task.__name__}"
    if key not in _tasks:
        _tasks[key] = queue.periodic_task(schedule)(task)
    return _tasks[key]


# A claim outlives any delay between the copies of one minute's run, and then expires.
PERIODIC_CLAIM_SECONDS = 600
PERIODIC_CLAIM_KEY = "okno:periodic:"


def claim_periodic_run(queue: Huey, name: str, now: datetime) -> bool:
    """Whether this worker is the first to run ``name`` in ``now``'s minute (always, on a queue of its own).

    Only a Redis queue is shared between workers; the embedded queue (SQLite) serves the one worker
    ``make run`` starts.
    """
    connection = getattr(queue.storage, "conn", None)
    if not isinstance(connection, Redis):
        return True
    key = f"{PERIODIC_CLAIM_KEY}{queue.name}:{name}:{now.astimezone(UTC):%Y%m%d%H%M}"
    return bool(connection.set(key, b"1", nx=True, ex=PERIODIC_CLAIM_SECONDS))


def _once_per_minute(queue: Huey, job: Callable[[], Any]) -> Callable[[], Any]:
    def run() -> Any:
        if not claim_periodic_run(queue, f"{job.__module__}.{job.__name__}", datetime.now(UTC)):
            log.debug("periodic job %s: this minute's run belongs to another worker", job.__name__)
            return None
        return job()

    run.__name__ = job.__name__
    run.__module__ = job.__module__
    run.__doc__ = job.__doc__
    return run


def periodic_job_names() -> list[str]:
    """The names huey runs the registered periodic jobs under (``sweep_outbox_task``...)."""
    return sorted(task.task_class.__name__ for task in _tasks.values() if issubclass(task.task_class, PeriodicTask))


def register_jobs(queue: Huey) -> None:
    """The outbox's jobs: delivery on demand and the minute sweep."""
    if DELIVER_OUTBOX not in _tasks:
        _tasks[DELIVER_OUTBOX] = queue.task(name="deliver_outbox_task")(deliver_outbox)
    register_periodic(queue, crontab(minute="*"), sweep_outbox)
    register_periodic(queue, crontab(minute="*"), worker_heartbeat, every_worker=True)  # each worker's own beat


def worker_heartbeat() -> None:
    """Every minute (and when the worker starts): record that a worker runs jobs; ``/readyz`` reads it."""
    from scheduler.db import utcnow
    from scheduler.extensions import db
    from scheduler.heartbeat import record_heartbeat

    record_heartbeat(db.session, utcnow())
    db.session.commit()


def deliver_outbox_soon(delay: float | None = None) -> None:
    """Ask the worker to deliver the outbox now (or after ``delay`` seconds)."""
    task = _tasks.get(DELIVER_OUTBOX)
    if task is None:
        raise RuntimeError("register_jobs() has not been called: create the app first")
    if delay is None:
        task()
    else:
        task.schedule(delay=delay)


def deliver_outbox() -> int:
    """Deliver every due outbox message now, then wake up again when the outbox next has work.

    Enqueued after each commit that wrote mail; the per-minute sweep is the safety net.
    Two runs at once are harmless: messages are claimed one by one (see ``claim_due``).
    The next wake-up is the earliest retry or the earliest lease to run out (``next_due_at``),
    so a killed worker's message goes out about one lease later rather than at a sweep.
    """
    from scheduler.db import utcnow
    from scheduler.extensions import db
    from scheduler.mail.delivery import next_due_at

    with bound_app().app_context():
        sent = run_outbox_delivery()
        upcoming = next_due_at(db.session)
        db.session.remove()
    if upcoming is not None and not huey.immediate:
        delay = max((upcoming - utcnow()).total_seconds(), 0.0) + 0.05
        if delay < 60:  # later retries are the minute sweep's
            deliver_outbox_soon(delay)
    return sent


def sweep_outbox() -> int:
    """Every minute: retries whose backoff has passed, and messages of a crashed worker."""
    return run_outbox_delivery()


def run_outbox_delivery() -> int:
    """Deliver due messages with the configured transport, renewing each lease while it sends."""
    from scheduler.db import utcnow
    from scheduler.extensions import db
    from scheduler.mail.delivery import LeaseKeeper, RetryPolicy, deliver_due, transport_from_config
    from scheduler.mail.models import mail_sealer

    config = current_app.config
    policy = RetryPolicy.from_config(config)
    report = deliver_due(db.session, transport_from_config(config), config["MAIL_FROM"], utcnow, policy,
                         keeper=LeaseKeeper(db.engine, policy), sealer=mail_sealer(config))
    return report.sent


# --------------------------------------------------------------------------- nudging the worker after a commit


def _nudge_after_mail(_session: Session, _written: list[object]) -> None:
    """A commit that wrote mail asks the worker to deliver it now, so email leaves in seconds, not minutes."""
    if not has_app_context() or not current_app.config.get("OUTBOX_NOTIFY_WORKER", True):
        return
    try:
        deliver_outbox_soon()
    except Exception as error:  # the nudge is an optimisation: the minute sweep delivers anyway
        # An error, not a warning: the job queue (Redis) is down, and mail now waits up to a minute for the sweep.
        log.error("job queue unreachable (%s: %s): could not nudge the mail worker; the committed mail stays in "
                  "the outbox and the worker's periodic sweep delivers it once the queue is reachable",
                  type(error).__name__, error)


def install_outbox_notifier() -> None:
    from scheduler.mail.compose import OUTBOX_WRITTEN
    from scheduler.transaction import listen_for_commits

    listen_for_commits(OUTBOX_WRITTEN, _nudge_after_mail)
