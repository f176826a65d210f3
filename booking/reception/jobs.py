"""Periodic reception jobs: expected visitors who never came become no-shows after a grace period."""

from __future__ import annotations

from flask import current_app
from huey import Huey, crontab

from scheduler.db import utcnow
from scheduler.extensions import db
from scheduler.jobs import register_periodic


def sweep_no_shows() -> int:
    """Mark the no-shows (recorded in their history) and commit once; the freed desk time takes walk-ins."""
    from booking import consultation

    grace = int(current_app.config.get("RECEPTION_NO_SHOW_GRACE_MINUTES", 15))
    marked = consultation.sweep_no_shows(db.session, utcnow(), grace)
    db.session.commit()
    return marked


def register_jobs(queue: Huey) -> None:
    """Called by the composition root: the worker runs ``sweep_no_shows`` on its schedule."""
    register_periodic(queue, crontab(minute="*"), sweep_no_shows)
