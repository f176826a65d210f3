"""What the outbox holds right now: mail waiting to go out and mail abandoned, for readiness and monitoring."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from scheduler.mail.models import OutboxMessage, OutboxStatus

# Not yet delivered, and still to be tried: waiting for an attempt, or claimed by a worker.
UNSENT = (OutboxStatus.PENDING, OutboxStatus.SENDING)


@dataclass(frozen=True)
class OutboxBacklog:
    pending: int  # waiting or being sent
    oldest_pending_at: datetime | None  # when the longest-waiting of them was written
    abandoned: int  # failed for good after the maximum attempts

    def oldest_age_seconds(self, now: datetime) -> float | None:
        if self.oldest_pending_at is None:
            return None
        return max((now - self.oldest_pending_at).total_seconds(), 0.0)


def outbox_backlog(session: Session) -> OutboxBacklog:
    """Count unsent and abandoned messages and find the oldest unsent one (one grouped query)."""
    rows = session.execute(
        select(OutboxMessage.status, func.count(), func.min(OutboxMessage.created_at))
        .where(OutboxMessage.status.in_((*UNSENT, OutboxStatus.FAILED)))
        .group_by(OutboxMessage.status)
    ).all()
    pending = sum(count for status, count, _oldest in rows if status in UNSENT)
    oldest = min((first for status, _count, first in rows if status in UNSENT and first is not None), default=None)
    abandoned = sum(count for status, count, _oldest in rows if status == OutboxStatus.FAILED)
    return OutboxBacklog(pending=pending, oldest_pending_at=oldest, abandoned=abandoned)
