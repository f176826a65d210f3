"""The worker's periodic jobs are the ones the composition root registers, each once."""

from __future__ import annotations

from datetime import datetime

from flask import Flask

from scheduler.app import register_jobs
from scheduler.jobs import huey

EVERY_JOB = {
    "scheduler.jobs.sweep_outbox_task",
    "scheduler.jobs.worker_heartbeat_task",
    "booking.jobs.release_expired_holds_task",
    "booking.jobs.purge_idempotent_answers_task",
    "booking.reception.jobs.sweep_no_shows_task",
    "booking.tickets.jobs.watch_deadlines_task",
}


def due_at(at: datetime) -> list[str]:
    return sorted(huey._registry.task_to_string(type(task)) for task in huey.read_periodic(at))


def test_the_composition_root_registers_every_periodic_job_once(app: Flask) -> None:
    assert due_at(datetime(2026, 12, 2, 9, 0)) == sorted(EVERY_JOB)
    assert set(due_at(datetime(2026, 12, 2, 9, 1))) == EVERY_JOB - {"booking.tickets.jobs.watch_deadlines_task",
                                                                 "booking.jobs.purge_idempotent_answers_task"}
    assert "booking.privacy.jobs.purge_personal_data_task" in due_at(datetime(2026, 12, 2, 9, 17))  # hourly
    register_jobs()  # a second app in the same process (tests, the CLI) adds nothing
    assert due_at(datetime(2026, 12, 2, 9, 0)) == sorted(EVERY_JOB)
