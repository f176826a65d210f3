"""The periodic retention job: anonymise what the policy says is due, hourly."""

from __future__ import annotations

from flask import current_app
from huey import Huey, crontab

from scheduler.db import utcnow
from scheduler.extensions import db
from scheduler.jobs import register_periodic
from scheduler.privacy.policy import RetentionPolicy


def purge_personal_data() -> dict[str, int]:
    """Anonymise every record past its retention period, in short batches; counts per kind."""
    from booking.privacy.retention import purge

    report = purge(db.session, RetentionPolicy.from_config(current_app.config), utcnow())
    return {kind.value: count for kind, count in report.counts.items()}


def register_jobs(queue: Huey) -> None:
    """Called by the composition root: the worker runs the retention job at minute 17 of every hour."""
    register_periodic(queue, crontab(minute="17"), purge_personal_data)
