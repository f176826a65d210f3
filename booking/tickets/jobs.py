"""Periodic ticket jobs: the deadline watch and closing answers the citizen never judged."""

from __future__ import annotations

from flask import current_app
from huey import Huey, crontab

from scheduler.db import utcnow
from scheduler.extensions import db
from scheduler.jobs import register_periodic


def watch_deadlines() -> dict[str, int]:
    """Remind about tickets due soon and overdue (once per threshold), then close stale answers."""
    from booking.tickets.services import close_unconfirmed, sweep_deadlines

    now = utcnow()
    counts = sweep_deadlines(db.session, now, current_app.config)
    counts["closed_unconfirmed"] = close_unconfirmed(db.session, now, current_app.config)
    db.session.commit()
    return counts


def register_jobs(queue: Huey) -> None:
    """Called by the composition root: the worker runs ``watch_deadlines`` on its schedule."""
    register_periodic(queue, crontab(minute="*/5"), watch_deadlines)
