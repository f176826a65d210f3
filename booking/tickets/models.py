"""Follow-up ticket models: the ticket, its history, and the per-year counter behind its number."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from booking.models import Booking
from scheduler.auth.access import Scope
from scheduler.auth.models import User
from scheduler.db import Base, UTCDateTime, str_enum, utcnow
from scheduler.departments.models import Department


class TicketStatus(enum.StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    ANSWERED = "answered"  # the answer went to the citizen, who may confirm or reject it
    REOPENED = "reopened"  # the citizen rejected the answer
    CLOSED = "closed"  # the citizen confirmed the answer solved the problem
    CLOSED_UNCONFIRMED = "closed_unconfirmed"  # answered, the citizen never replied


# The ticket's state machine: every other move is refused. Answering an open or reopened
# ticket goes through in_progress (the service records both steps), so the history always
# shows when work started.
TRANSITIONS: dict[TicketStatus, frozenset[TicketStatus]] = {
    TicketStatus.OPEN: frozenset({TicketStatus.IN_PROGRESS}),
    TicketStatus.IN_PROGRESS: frozenset({TicketStatus.ANSWERED}),
    TicketStatus.ANSWERED: frozenset({TicketStatus.CLOSED, TicketStatus.REOPENED, TicketStatus.CLOSED_UNCONFIRMED}),
    TicketStatus.REOPENED: frozenset({TicketStatus.IN_PROGRESS}),
    TicketStatus.CLOSED: frozenset(),
    TicketStatus.CLOSED_UNCONFIRMED: frozenset(),
}

# Statuses in which the answer is still owed: the deadline clock runs.
AWAITING_ANSWER = (TicketStatus.OPEN, TicketStatus.IN_PROGRESS, TicketStatus.REOPENED)
CLOSED_STATUSES = (TicketStatus.CLOSED, TicketStatus.CLOSED_UNCONFIRMED)


class Ticket(Base):
    """An answer owed to a citizen after a consultation, due within N working days."""

    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_department_due", "department_id", "due_at"),
        Index("ix_tickets_status_due", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(16), unique=True)  # "2026-000123"
    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id"), index=True)
    # The competent department, which owes the answer (it may change by reassignment), and the
    # department where the consultation was held (it never changes).
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    origin_department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    opened_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    summary: Mapped[str] = mapped_column(Text)
    status: Mapped[TicketStatus] = mapped_column(str_enum(TicketStatus, "ticket_status"), default=TicketStatus.OPEN)
    working_days: Mapped[int] = mapped_column(default=4)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The first answer decides "answered on time"; the latest one is what the citizen judges.
    first_answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    answer_text: Mapped[str] = mapped_column(Text, default="")
    reopen_count: Mapped[int] = mapped_column(default=0)
    due_soon_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    overdue_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    extended_reason: Mapped[str] = mapped_column(Text, default="")
    # The citizen's confirm/reject link: derived from the app's secret key and this salt (like a
    # booking's manage token), stored only as a hash.
    citizen_token_salt: Mapped[str] = mapped_column(String(32))
    citizen_token_hash: Mapped[str] = mapped_column(String(64))
    # Set when the personal data was anonymised under the retention policy (scheduler/privacy).
    anonymised_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    booking: Mapped[Booking] = relationship()
    department: Mapped[Department] = relationship(foreign_keys=[department_id])
    origin_department: Mapped[Department] = relationship(foreign_keys=[origin_department_id])
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])
    events: Mapped[list[TicketEvent]] = relationship(
        back_populates="ticket", cascade="all, delete-orphan", order_by="TicketEvent.id"
    )

    def can_become(self, status: TicketStatus) -> bool:
        return status in TRANSITIONS[self.status]

    @property
    def is_awaiting_answer(self) -> bool:
        return self.status in AWAITING_ANSWER

    def is_overdue(self, now: datetime) -> bool:
        """Still owed and past due, or (for the record) first answered after the due time."""
        if self.first_answered_at is not None:
            return self.first_answered_at > self.due_at
        return self.is_awaiting_answer and self.due_at <= now

    @property
    def scope(self) -> Scope:
        """For permissions: the competent department, the assignee and whoever opened it."""
        return Scope.of(self.department_id, None, (self.assignee_id, self.opened_by_id))

    def __repr__(self) -> str:
        return f"<Ticket {self.number} {self.status}>"


class TicketEvent(Base):
    """One entry of a ticket's history: opened, started, answered, reassigned, extended, a comment...

    ``is_internal`` entries (staff comments, reassignments, reminders) are never shown to the citizen.
    """

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    kind: Mapped[str] = mapped_column(String(40))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    actor_type: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[int | None]
    actor_label: Mapped[str] = mapped_column(String(200), default="")
    is_internal: Mapped[bool] = mapped_column(default=True)
    text: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    ticket: Mapped[Ticket] = relationship(back_populates="events")


class TicketCounter(Base):
    """The last ticket number given out in a year; bumped with one atomic upsert per ticket."""

    __tablename__ = "ticket_counters"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last_number: Mapped[int] = mapped_column(default=0)
