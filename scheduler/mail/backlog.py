"""What the outbox holds right now, for readiness, metrics and the admin's pages: one grouped read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from scheduler.mail.models import OutboxMessage, OutboxStatus

# Not yet delivered, and still to be tried: waiting for an attempt, or claimed by a worker.
UNSENT = (OutboxStatus.PENDING, OutboxStatus.SENDING)


@dataclass(frozen=True)
class OutboxBacklog:
    waiting: int  # pending: due now or later
    sending: int  # claimed by a worker
    abandoned: int  # failed for good after the maximum attempts
    oldest_pending_at: datetime | None  # when the longest-waiting unsent message was written
    most_overdue_at: datetime | None  # the earliest due time of a pending message already due

    @property
    def pending(self) -> int:
        """Unsent messages still to be tried: waiting or being sent."""
        return self.waiting + self.sending

    def oldest_age_seconds(self, now: datetime) -> float | None:
        return _seconds_since(self.oldest_pending_at, now)

    def delivery_lag_seconds(self, now: datetime) -> float | None:
        """How long the most overdue message has been due: grows when no worker runs or it falls behind."""
        return _seconds_since(self.most_overdue_at, now)


def _seconds_since(instant: datetime | None, now: datetime) -> float | None:
    return None if instant is None else max((now - instant).total_seconds(), 0.0)


def outbox_backlog(session: Session, now: datetime) -> OutboxBacklog:
    """Count unsent and abandoned messages, find the oldest unsent one and the most overdue (one query)."""
    overdue = case((OutboxMessage.next_attempt_at <= now, OutboxMessage.next_attempt_at))
    rows = session.execute(
        select(OutboxMessage.status, func.count(), func.min(OutboxMessage.created_at), func.min(overdue))
        .where(OutboxMessage.status.in_((*UNSENT, OutboxStatus.FAILED)))
        .group_by(OutboxMessage.status)
    ).all()
    by_status = {status: (count, oldest, due) for status, count, oldest, due in rows}
    unsent_oldest = [by_status[status][1] for status in UNSENT if status in by_status]
    return OutboxBacklog(
        waiting=by_status.get(OutboxStatus.PENDING, (0, None, None))[0],
        sending=by_status.get(OutboxStatus.SENDING, (0, None, None))[0],
        abandoned=by_status.get(OutboxStatus.FAILED, (0, None, None))[0],
        oldest_pending_at=min((at for at in unsent_oldest if at is not None), default=None),
        most_overdue_at=by_status.get(OutboxStatus.PENDING, (0, None, None))[2],
    )
