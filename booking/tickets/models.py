"""Follow-up ticket models: the ticket, its history, and the per-year counter behind its number."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ColumnElement, Float, ForeignKey, Index, String, Text, and_, exists, or_, select
from sqlalchemy.orm import Mapped, mapped_column, object_session, relationship

from booking.models import Booking
from scheduler.auth.access import Scope
from scheduler.auth.models import User
from scheduler.db import Base, UTCDateTime, str_enum, utcnow
from scheduler.departments.models import Department, Topic
from scheduler.experts.models import Expert, expert_topics


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
        Index("ix_tickets_opened_at", "opened_at"),  # the analytics' follow-ups opened in a period
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
    # Working hours from opened_at to first_answered_at, counted once (booking.tickets.answer_hours).
    answer_working_hours: Mapped[float | None] = mapped_column(Float)
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
        """For permissions: the competent department, the assignee and whoever opened it, and the experts in
        whose queue it waits (``in_queue_of``)."""
        return Scope.of(self.department_id, None, (self.assignee_id, self.opened_by_id), self.queue_user_ids())

    @property
    def contact_scope(self) -> Scope:
        """For the citizen's email and phone: only the person who must act on it is named (the assignee)."""
        return Scope.of(self.department_id, None, (self.assignee_id,))

    def queue_user_ids(self) -> list[int]:
        """The staff users in whose queue this ticket waits: the same rule as ``in_queue_of``, asked of the
        database so that a page and a listing cannot disagree."""
        session = object_session(self)
        if self.assignee_id is not None or session is None or self.id is None:
            return []
        colleagues = session.scalars(select(Expert.user_id).where(Expert.department_id == self.department_id,
                                                                  Expert.is_active.is_(True)))
        return [user_id for user_id in colleagues.all()
                if session.scalar(select(exists().where(Ticket.id == self.id, in_queue_of(user_id))))]

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


def in_queue_of(user_id: Any) -> ColumnElement[bool]:
    """SQL: the ticket waits in that user's queue. Nobody has taken it, it is owed by a department the
    user is an active expert of, and the user consults on the consultation's topic; a ticket sent over
    from another department (its topic is not this department's) waits for every expert here."""
    served = select(expert_topics.c.topic_id).join(Expert, Expert.id == expert_topics.c.expert_id) \
        .where(Expert.user_id == user_id)
    return and_(
        Ticket.assignee_id.is_(None),
        exists(select(Expert.id).where(Expert.user_id == user_id, Expert.department_id == Ticket.department_id,
                                       Expert.is_active.is_(True))),
        exists(select(Booking.id).join(Topic, Topic.id == Booking.topic_id).where(
            Booking.id == Ticket.booking_id,
            or_(Booking.topic_id.in_(served), Topic.department_id != Ticket.department_id))),
    )
