"""The audit log: who changed what, and when, for every booking, ticket and setting."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from scheduler.db import Base, UTCDateTime, utcnow


class AuditEntry(Base):
    """One recorded change. ``changes`` holds field → [old, new]; never secrets.

    ``department_id`` is the department the changed record belonged to when the change was made, written
    with the entry (not looked up later: the record may since have moved, been anonymised or deleted, and
    the log's listing stays one indexed filter). None for what belongs to no department (accounts of no
    department, API keys, the outbox, set-up imports): those entries are for admins only.
    """

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_entity", "entity_type", "entity_id"),
                      Index("ix_audit_entries_department_at", "department_id", "at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor_type: Mapped[str] = mapped_column(String(20))  # staff, citizen, partner, system
    actor_id: Mapped[int | None]
    actor_label: Mapped[str] = mapped_column(String(200), default="")
    action: Mapped[str] = mapped_column(String(80))
    entity_type: Mapped[str] = mapped_column(String(80))
    entity_id: Mapped[str] = mapped_column(String(80))
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id", ondelete="SET NULL"))
    # Set when the personal data was anonymised under the retention policy (scheduler/privacy).
    anonymised_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Actor:
    """Who is acting: passed into services so that they never read the request themselves."""

    __slots__ = ("id", "kind", "label")

    def __init__(self, kind: str, id: int | None = None, label: str = "") -> None:
        self.kind = kind
        self.id = id
        self.label = label

    @classmethod
    def system(cls, label: str = "system") -> Actor:
        return cls("system", None, label)

    @classmethod
    def staff(cls, user: Any) -> Actor:
        return cls("staff", user.id, user.email)

    def __repr__(self) -> str:
        return f"<Actor {self.kind}:{self.id} {self.label}>"


def record(
    session: Session,
    actor: Actor,
    action: str,
    entity_type: str,
    entity_id: object,
    changes: dict[str, Any] | None = None,
    *,
    department_id: int | None = None,
) -> AuditEntry:
    """Add an audit entry to the caller's transaction (committed, or not, with the change).

    ``department_id``: the department the record belongs to, whose supervisors may read the entry."""
    entry = AuditEntry(
        actor_type=actor.kind,
        actor_id=actor.id,
        actor_label=actor.label,
        action=action,
        entity_type=entity_type,
        entity_id=str(entity_id),
        changes=changes or {},
        department_id=department_id,
    )
    session.add(entry)
    return entry
