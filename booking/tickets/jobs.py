"""Periodic ticket jobs: the deadline watch and closing answers the citizen never judged."""

from __future__ import annotations

from flask import current_app
from huey import crontab

from scheduler.db import utcnow
from scheduler.extensions import db
from scheduler.jobs import bound_app, huey


def watch_deadlines() -> dict[str, int]:
    """Remind about tickets due soon and overdue (once per threshold), then close stale answers."""
    from booking.tickets.services import close_unconfirmed, sweep_deadlines

    now = utcnow()
    counts = sweep_deadlines(db.session, now, current_app.config)
    counts["closed_unconfirmed"] = close_unconfirmed(db.session, now, current_app.config)
    db.session.commit()
    return counts


@huey.periodic_task(crontab(minute="*/5"))
def watch_deadlines_task() -> dict[str, int]:
    with bound_app().app_context():
        return watch_deadlines()
