"""The retention job: anonymise every kind of record whose period has passed, in short batches.

For each kind of the policy (scheduler.privacy.policy) a query names the rows that are due and a
primitive anonymises (or deletes) them by id. Rows are taken in id order, a bounded batch at a
time, each batch in its own short transaction, so a million due rows never hold one long lock and
a run stopped half-way simply continues next time (done rows are no longer due). The run is
recorded in the audit log with counts only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, exists, func, select
from sqlalchemy.orm import Session

from booking.api.idempotency import IdempotentRequest
from booking.models import Booking, BookingStatus, CitizenLink
from booking.privacy.anonymise import anonymise_bookings, anonymise_tickets, anonymise_walk_ins, delete_links
from booking.reception.models import WaitingEntry, WaitingStatus
from booking.tickets.models import CLOSED_STATUSES, Ticket
from scheduler.audit import Actor, record
from scheduler.privacy.policy import Kind, RetentionPolicy
from scheduler.privacy.purge import audit_due, outbox_due, purge_outbox, scrub_audit

DEFAULT_BATCH_SIZE = 1000
UNCONFIRMED_STATUSES = (BookingStatus.PENDING, BookingStatus.CANCELLED)
ENDED_VISITS = (WaitingStatus.SERVED, WaitingStatus.LEFT)


def _holds_due(policy: RetentionPolicy, now: datetime) -> Select[tuple[int]]:
    """Holds never confirmed whose time ran out longer ago than the holds period (released or not yet)."""
    return select(Booking.id).where(
        Booking.anonymised_at.is_(None), Booking.status.in_(UNCONFIRMED_STATUSES),
        Booking.confirmed_at.is_(None), Booking.hold_expires_at < policy.cutoff(Kind.HOLDS, now),
    )


def _bookings_due(policy: RetentionPolicy, now: datetime) -> Select[tuple[int]]:
    """Bookings whose time ended longer ago than the bookings period, unless a follow-up is still open.

    Whatever their status: a booking nobody marked held or missed is long over all the same.
    """
    ticket_open = exists().where(Ticket.booking_id == Booking.id, Ticket.status.not_in(CLOSED_STATUSES))
    return select(Booking.id).where(
        Booking.anonymised_at.is_(None),
        Booking.ends_at < policy.cutoff(Kind.BOOKINGS, now), ~ticket_open,
    )


def _walk_ins_due(policy: RetentionPolicy, now: datetime) -> Select[tuple[int]]:
    return select(WaitingEntry.id).where(
        WaitingEntry.anonymised_at.is_(None), WaitingEntry.status.in_(ENDED_VISITS),
        WaitingEntry.registered_at < policy.cutoff(Kind.WALK_INS, now),
    )


def _tickets_due(policy: RetentionPolicy, now: datetime) -> Select[tuple[int]]:
    return select(Ticket.id).where(
        Ticket.anonymised_at.is_(None), Ticket.status.in_(CLOSED_STATUSES),
        Ticket.closed_at < policy.cutoff(Kind.TICKETS, now),
    )


def _links_due(policy: RetentionPolicy, now: datetime) -> Select[tuple[int]]:
    return select(CitizenLink.id).where(CitizenLink.expires_at < policy.cutoff(Kind.LINKS, now))


def _idempotency_due(policy: RetentionPolicy, now: datetime) -> Select[tuple[int]]:
    return select(IdempotentRequest.id).where(IdempotentRequest.created_at <= policy.cutoff(Kind.IDEMPOTENCY, now))


def _delete_idempotent(session: Session, ids: Sequence[int], now: datetime) -> int:
    result = session.execute(delete(IdempotentRequest).where(IdempotentRequest.id.in_(ids))
                             .execution_options(synchronize_session=False))
    return int(result.rowcount or 0)


@dataclass(frozen=True)
class Step:
    """One kind: which rows are due, and how to anonymise a batch of them by id."""

    kind: Kind
    due: Callable[[RetentionPolicy, datetime], Select[tuple[int]]]
    apply: Callable[[Session, Sequence[int], datetime], int]


# Tickets before bookings: a booking waits for its closed follow-up, never the other way round.
STEPS: tuple[Step, ...] = (
    Step(Kind.HOLDS, _holds_due, anonymise_bookings),
    Step(Kind.TICKETS, _tickets_due, anonymise_tickets),
    Step(Kind.BOOKINGS, _bookings_due, anonymise_bookings),
    Step(Kind.WALK_INS, _walk_ins_due, anonymise_walk_ins),
    Step(Kind.OUTBOX, outbox_due, purge_outbox),
    Step(Kind.LINKS, _links_due, lambda session, ids, now: delete_links(session, ids)),
    Step(Kind.AUDIT, audit_due, scrub_audit),
    Step(Kind.IDEMPOTENCY, _idempotency_due, _delete_idempotent),
)


@dataclass
class PurgeReport:
    """What a run did (or, dry, would do): rows per kind, batches, the longest batch's transaction."""

    dry_run: bool
    counts: dict[Kind, int] = field(default_factory=dict)
    batches: int = 0
    longest_batch_seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def as_audit_changes(self) -> dict[str, Any]:
        return {kind.value: [None, count] for kind, count in self.counts.items() if count}


def purge(session: Session, policy: RetentionPolicy, now: datetime, *, dry_run: bool = False,
          batch_size: int = DEFAULT_BATCH_SIZE, kinds: Sequence[Kind] | None = None) -> PurgeReport:
    """Anonymise everything due at ``now``; each batch commits on its own (dry: count, change nothing)."""
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    report = PurgeReport(dry_run=dry_run)
    for step in STEPS:
        if kinds is not None and step.kind not in kinds:
            continue
        due = step.due(policy, now)
        if dry_run:
            report.counts[step.kind] = int(session.scalar(select(func.count()).select_from(due.subquery())) or 0)
            continue
        report.counts[step.kind] = _run_batches(session, step, due, now, batch_size, report)
    if dry_run:
        session.rollback()
    elif report.total:
        record(session, Actor.system("retention"), "privacy.purged", "retention", "policy", report.as_audit_changes())
        session.commit()
    return report


def _run_batches(session: Session, step: Step, due: Select[tuple[int]], now: datetime, batch_size: int,
                 report: PurgeReport) -> int:
    id_column = due.selected_columns[0]
    done, after = 0, None
    while True:
        started = time.monotonic()
        query = due if after is None else due.where(id_column > after)
        ids = list(session.scalars(query.order_by(id_column).limit(batch_size)))
        if not ids:
            session.rollback()
            return done
        done += step.apply(session, ids, now)
        session.commit()
        report.batches += 1
        report.longest_batch_seconds = max(report.longest_batch_seconds, time.monotonic() - started)
        after = ids[-1]
