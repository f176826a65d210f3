"""Background and periodic jobs on huey: embedded SQLite storage by default, Redis to scale out.

huey runs the consumer in ``flask --app wsgi worker``. Tasks are registered at import on an
instance whose storage is chosen later by ``init_jobs``, so importing this module reads no
configuration and opens no file.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, current_app
from huey import Huey, RedisHuey, SqliteHuey, crontab
from huey.storage import MemoryStorage

huey = Huey("okno", storage_class=MemoryStorage)

_app: Flask | None = None

# Every periodic job of the product registers here with its schedule; the deadline sweeps and
# no-show sweeps of later features add theirs the same way.
PeriodicJob = Callable[[Flask], Any]


def init_jobs(app: Flask) -> None:
    """Point huey at this app's storage and remember the app for tasks run by the consumer."""
    global _app
    _app = app
    if app.config.get("TESTING"):
        huey.storage_class = MemoryStorage
        huey.storage_kwargs = {}
    elif app.config.get("REDIS_URL"):
        huey.storage_class = RedisHuey.storage_class
        huey.storage_kwargs = {"url": app.config["REDIS_URL"]}
    else:
        huey.storage_class = SqliteHuey.storage_class
        huey.storage_kwargs = {"filename": app.config["JOBS_SQLITE_PATH"]}
    huey.storage = huey.create_storage()


def bound_app() -> Flask:
    if _app is None:
        raise RuntimeError("init_jobs() has not been called: create the app first")
    return _app


@huey.task()
def deliver_outbox_task() -> int:
    """Deliver every due outbox message now, then wake up again when the next retry is due.

    Enqueued after each commit that wrote mail; the per-minute sweep is the safety net.
    Two runs at once are harmless: messages are claimed one by one (see ``claim_due``).
    """
    from scheduler.db import utcnow
    from scheduler.extensions import db
    from scheduler.mail.delivery import next_attempt_at

    with bound_app().app_context():
        sent = run_outbox_delivery()
        upcoming = next_attempt_at(db.session)
        db.session.remove()
    if upcoming is not None and not huey.immediate:
        delay = max((upcoming - utcnow()).total_seconds(), 0.0) + 0.05
        if delay < 60:  # later retries are the minute sweep's
            deliver_outbox_task.schedule(delay=delay)
    return sent


@huey.periodic_task(crontab(minute="*"))
def sweep_outbox_task() -> int:
    """Every minute: retries whose backoff has passed, and messages of a crashed worker."""
    with bound_app().app_context():
        return run_outbox_delivery()


def run_outbox_delivery() -> int:
    """Deliver due messages with the configured transport; returns how many were sent."""
    from scheduler.db import utcnow
    from scheduler.extensions import db
    from scheduler.mail.delivery import RetryPolicy, deliver_due, transport_from_config

    config = current_app.config
    report = deliver_due(
        db.session, transport_from_config(config), config["MAIL_FROM"], utcnow(), RetryPolicy.from_config(config)
    )
    return report.sent
