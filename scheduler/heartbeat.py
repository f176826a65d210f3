"""The worker's heartbeat: a periodic job records when a worker last ran jobs, for readiness to read.

The beat is a job like any other, enqueued by the consumer's scheduler and run by one of its workers,
so a fresh beat shows the whole path works: the queue (SQLite or Redis), the scheduler, a worker
thread and its database connection. It is kept in the database, which every node shares.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta

from sqlalchemy import String, delete, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from scheduler.db import Base, UTCDateTime

# Rows of workers gone this long are removed (each worker process has its own row).
FORGET_AFTER = timedelta(days=7)


class WorkerHeartbeat(Base):
    """When a worker process last ran its heartbeat job."""

    __tablename__ = "worker_heartbeats"

    worker: Mapped[str] = mapped_column(String(200), primary_key=True)  # host:pid
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime())


def this_worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:200]


def record_heartbeat(session: Session, now: datetime, worker: str | None = None) -> None:
    """Note that ``worker`` (this process by default) ran jobs at ``now``, and forget long-gone workers."""
    name = worker or this_worker()
    row = session.get(WorkerHeartbeat, name)
    if row is None:
        session.add(WorkerHeartbeat(worker=name, beat_at=now))
    else:
        row.beat_at = now
    session.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.beat_at < now - FORGET_AFTER))


def last_heartbeat(session: Session) -> datetime | None:
    """The latest beat of any worker, or None when no worker has ever run."""
    return session.scalar(select(func.max(WorkerHeartbeat.beat_at)))
