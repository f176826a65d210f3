"""Periodic booking jobs: releasing holds whose email code never came."""

from __future__ import annotations

from huey import Huey, crontab

from scheduler.db import utcnow
from scheduler.extensions import db
from scheduler.jobs import register_periodic


def release_expired_holds() -> int:
    """Cancel expired holds (recorded in their history); their time was already free to others."""
    from booking.services import expire_holds

    released = expire_holds(db.session, utcnow())
    db.session.commit()
    return released


def register_jobs(queue: Huey) -> None:
    """Called by the composition root: the worker runs ``release_expired_holds`` on its schedule."""
    register_periodic(queue, crontab(minute="*"), release_expired_holds)
