"""Looking after the outbox: what needs an admin's eye (abandoned or stuck mail) and requeueing it."""

from __future__ import annotations

import enum
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.orm import Session

from scheduler.audit import Actor, record
from scheduler.errors import DomainError, ErrorCode
from scheduler.mail.compose import mark_outbox_written
from scheduler.mail.models import OutboxMessage, OutboxStatus

# Due for this long and still not sent: no worker is picking mail up (or one keeps dying on it).
STUCK_AFTER = timedelta(minutes=5)
LISTING_LIMIT = 200


class Selection(enum.Enum):
    """A whole class of messages to requeue, instead of a list of ids."""

    ALL_ABANDONED = "all_abandoned"


ALL_ABANDONED = Selection.ALL_ABANDONED


@dataclass(frozen=True)
class Troubled:
    """The mail an admin should look at: given up on (requeue it), or overdue (is the worker running?)."""

    abandoned: list[OutboxMessage]
    stuck: list[OutboxMessage]


def stuck_condition(now: datetime) -> ColumnElement[bool]:
    """Due for more than ``STUCK_AFTER``: waiting past its attempt time, or held by a lease long run out."""
    since = now - STUCK_AFTER
    return or_(
        (OutboxMessage.status == OutboxStatus.PENDING) & (OutboxMessage.next_attempt_at < since),
        (OutboxMessage.status == OutboxStatus.SENDING) & (OutboxMessage.lease_until < since),
    )


def troubled_messages(session: Session, now: datetime, limit: int = LISTING_LIMIT) -> Troubled:
    """Abandoned messages (latest first) and stuck ones (longest waiting first), ``limit`` of each."""
    abandoned = session.scalars(
        select(OutboxMessage).where(OutboxMessage.status == OutboxStatus.FAILED)
        .order_by(OutboxMessage.next_attempt_at.desc(), OutboxMessage.id.desc()).limit(limit)
    ).all()
    stuck = session.scalars(
        select(OutboxMessage).where(stuck_condition(now))
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(limit)
    ).all()
    return Troubled(list(abandoned), list(stuck))


def list_messages(session: Session, status: OutboxStatus | None = None,
                  limit: int = LISTING_LIMIT) -> list[OutboxMessage]:
    """Messages with ``status`` (by default every one not yet sent), latest first."""
    query = select(OutboxMessage)
    if status is None:
        query = query.where(OutboxMessage.status != OutboxStatus.SENT)
    else:
        query = query.where(OutboxMessage.status == status)
    return list(session.scalars(query.order_by(OutboxMessage.id.desc()).limit(limit)))


def requeue(session: Session, selection: Collection[int] | Selection, *, by: Actor, now: datetime) -> list[int]:
    """Give abandoned (failed) messages a fresh set of attempts, due now; returns the ids requeued.

    ``selection`` is some message ids or ``ALL_ABANDONED``. Idempotent: a message already waiting
    or being sent again is left as it is (and not counted). A sent message is refused, as is an
    unknown id, and then nothing changes: requeueing never emails anyone twice. Each requeued
    message gets an audit entry; the worker is nudged after the caller commits.
    """
    from flask_babel import lazy_gettext as _l

    query = select(OutboxMessage.id, OutboxMessage.status, OutboxMessage.attempts)
    if isinstance(selection, Selection):
        query = query.where(OutboxMessage.status == OutboxStatus.FAILED)
    else:
        query = query.where(OutboxMessage.id.in_(set(selection)))
    found = {row.id: row for row in session.execute(query)}
    if not isinstance(selection, Selection):
        missing = sorted(set(selection) - set(found))
        if missing:
            raise DomainError({"message": _l("No such message: %(ids)s.", ids=", ".join(map(str, missing)))},
                              ErrorCode.NOT_FOUND)
        sent = sorted(i for i, row in found.items() if row.status == OutboxStatus.SENT)
        if sent:
            raise DomainError({"message": _l("Already sent, so not sent again: %(ids)s.",
                                             ids=", ".join(map(str, sent)))}, ErrorCode.CONFLICT)
    requeued: list[int] = []
    for message_id in sorted(i for i, row in found.items() if row.status == OutboxStatus.FAILED):
        # Compare-and-set, so two admins requeueing at once record it once; a message already
        # waiting or on its way again is left alone.
        result = session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, OutboxMessage.status == OutboxStatus.FAILED)
            .values(status=OutboxStatus.PENDING, attempts=0, next_attempt_at=now, lease_until=None)
            .execution_options(synchronize_session="fetch")
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            continue
        record(session, by, "outbox.requeued", "outbox_message", message_id,
               {"status": [OutboxStatus.FAILED.value, OutboxStatus.PENDING.value],
                "attempts": [found[message_id].attempts, 0]})
        requeued.append(message_id)
    if requeued:
        mark_outbox_written(session)
    return requeued
