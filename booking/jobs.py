"""Periodic booking jobs: releasing holds whose email code never came."""

from __future__ import annotations

from huey import crontab

from scheduler.db import utcnow
from scheduler.extensions import db
from scheduler.jobs import bound_app, huey


def release_expired_holds() -> int:
    """Cancel expired holds (recorded in their history); their time was already free to others."""
    from booking.services import expire_holds

    released = expire_holds(db.session, utcnow())
    db.session.commit()
    return released


@huey.periodic_task(crontab(minute="*"))
def release_expired_holds_task() -> int:
    with bound_app().app_context():
        return release_expired_holds()
