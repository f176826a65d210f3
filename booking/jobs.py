"""Periodic booking jobs: releasing holds whose email code never came, forgetting old idempotent answers."""

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


def purge_idempotent_answers() -> int:
    """Delete the API's stored Idempotency-Key answers once they are 24 hours old."""
    from booking.api.idempotency import purge_expired

    purged = purge_expired(db.session, utcnow())
    db.session.commit()
    return purged


def register_jobs(queue: Huey) -> None:
    """Called by the composition root: the worker runs these jobs on their schedules."""
    register_periodic(queue, crontab(minute="*"), release_expired_holds)
    register_periodic(queue, crontab(minute="*/10"), purge_idempotent_answers)
