"""Primitives that remove personal data kept by the scheduler layer: outbox emails and audit details.

Each takes a list of row ids (or the entities an audit entry names) and the instant, so the
retention job, the CLI and a later "erase this citizen now" share them. They never commit:
the caller decides the transaction (the retention job commits each bounded batch).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, Select, or_, select, update
from sqlalchemy.orm import Session

from scheduler.audit import AuditEntry
from scheduler.mail.models import OutboxMessage, OutboxStatus
from scheduler.privacy.policy import PLACEHOLDER, Kind, RetentionPolicy

# Audit entries keep who acted among staff (their accountability); other actors' labels go.
ACCOUNTABLE_ACTOR = "staff"


def outbox_due(policy: RetentionPolicy, now: datetime) -> Select[tuple[int]]:
    """Emails delivered, or given up on, longer ago than the outbox period and not yet purged."""
    cutoff = policy.cutoff(Kind.OUTBOX, now)
    return select(OutboxMessage.id).where(
        OutboxMessage.anonymised_at.is_(None),
        or_(
            (OutboxMessage.status == OutboxStatus.SENT) & (OutboxMessage.sent_at < cutoff),
            (OutboxMessage.status == OutboxStatus.FAILED) & (OutboxMessage.next_attempt_at < cutoff),
        ),
    )


def purge_outbox(session: Session, ids: Sequence[int], now: datetime) -> int:
    """Forget the address, subject, bodies, attachments and last error of these emails.

    The row stays (its template, status, attempts and times), so delivery figures keep their counts.
    """
    if not ids:
        return 0
    result = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(ids), OutboxMessage.anonymised_at.is_(None))
        .values(to_address="", subject=PLACEHOLDER, sealed_body=None,
                last_error="", anonymised_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


def audit_due(policy: RetentionPolicy, now: datetime) -> Select[tuple[int]]:
    """Audit entries older than the audit period whose details have not been removed yet."""
    return select(AuditEntry.id).where(
        AuditEntry.anonymised_at.is_(None), AuditEntry.at < policy.cutoff(Kind.AUDIT, now)
    )


def scrub_audit(session: Session, ids: Sequence[int], now: datetime) -> int:
    """Empty these entries' details (and a non-staff actor's label); action, entity and time stay."""
    if not ids:
        return 0
    return _scrub(session, AuditEntry.id.in_(ids), now)


def scrub_audit_of(session: Session, entity_type: str, entity_ids: Sequence[object], now: datetime) -> int:
    """Empty the details of every audit entry about these entities (anonymised with them)."""
    if not entity_ids:
        return 0
    return _scrub(session, (AuditEntry.entity_type == entity_type)
                  & AuditEntry.entity_id.in_([str(entity_id) for entity_id in entity_ids]), now)


def _scrub(session: Session, condition: ColumnElement[bool], now: datetime) -> int:
    changed = 0
    for label_kept in (True, False):
        is_staff = AuditEntry.actor_type == ACCOUNTABLE_ACTOR
        values: dict[str, object] = {"changes": {}, "anonymised_at": now}
        if not label_kept:
            values["actor_label"] = ""
        result = session.execute(
            update(AuditEntry)
            .where(condition, AuditEntry.anonymised_at.is_(None), is_staff if label_kept else ~is_staff)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        changed += int(result.rowcount or 0)
    return changed
