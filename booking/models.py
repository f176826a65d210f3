"""Bookings, their status history, and the partner API keys that may create them."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ColumnElement, ForeignKey, Index, String, Text, and_, or_, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from scheduler.auth.access import Scope
from scheduler.db import Base, UTCDateTime, str_enum, utcnow
from scheduler.departments.models import Location, Topic
from scheduler.experts.models import Expert
from scheduler.schedules.models import Channel


class BookingStatus(enum.StrEnum):
    PENDING = "pending"  # held while the citizen confirms the email
    CONFIRMED = "confirmed"
    CHECKED_IN = "checked_in"
    COMPLETED = "completed"
    NO_SHOW = "no_show"
    CANCELLED = "cancelled"


class Outcome(enum.StrEnum):
    """What came of a held consultation."""

    RESOLVED = "resolved"  # answered at the consultation
    NEEDS_FOLLOWUP = "needs_followup"  # an answer is owed: a follow-up ticket is opened


class ApplicantType(enum.StrEnum):
    INDIVIDUAL = "individual"
    LEGAL_ENTITY = "legal_entity"


# The booking's state machine: every other move is refused.
TRANSITIONS: dict[BookingStatus, frozenset[BookingStatus]] = {
    BookingStatus.PENDING: frozenset({BookingStatus.CONFIRMED, BookingStatus.CANCELLED}),
    BookingStatus.CONFIRMED: frozenset(
        {BookingStatus.CHECKED_IN, BookingStatus.COMPLETED, BookingStatus.NO_SHOW, BookingStatus.CANCELLED}
    ),
    BookingStatus.CHECKED_IN: frozenset({BookingStatus.COMPLETED, BookingStatus.NO_SHOW}),
    BookingStatus.COMPLETED: frozenset(),
    BookingStatus.NO_SHOW: frozenset(),
    BookingStatus.CANCELLED: frozenset(),
}

# Statuses that hold the expert's time (a pending hold only until it expires).
ACTIVE_STATUSES = (BookingStatus.PENDING, BookingStatus.CONFIRMED, BookingStatus.CHECKED_IN)
_ACTIVE_SQL = "status IN ('pending', 'confirmed', 'checked_in')"


class Booking(Base):
    """A citizen's consultation: topic, channel, expert, time, contact details and status."""

    __tablename__ = "bookings"
    __table_args__ = (
        Index("ix_bookings_expert_start", "expert_id", "starts_at"),
        # The last line of defence against double booking: one active booking per expert,
        # start and seat. Services also lock the expert's row, so overlaps of different
        # starts are refused before they get here.
        Index(
            "uq_bookings_active_seat", "expert_id", "starts_at", "seat", unique=True,
            postgresql_where=text(_ACTIVE_SQL), sqlite_where=text(_ACTIVE_SQL),
        ),
        Index("ix_bookings_citizen_email", "citizen_email"),
        Index("ix_bookings_citizen_phone", "citizen_phone"),
        # The analytics read a period of every expert's bookings (bench/dashboard.py).
        Index("ix_bookings_starts_at", "starts_at"),
        CheckConstraint("ends_at > starts_at", name="ends_after_starts"),
        CheckConstraint("seat >= 1", name="seat_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    topic_id: Mapped[int] = mapped_column(ForeignKey("topics.id"), index=True)
    channel: Mapped[Channel] = mapped_column(str_enum(Channel, "channel"))
    expert_id: Mapped[int] = mapped_column(ForeignKey("experts.id"))
    location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    seat: Mapped[int] = mapped_column(default=1)
    status: Mapped[BookingStatus] = mapped_column(
        str_enum(BookingStatus, "booking_status"), default=BookingStatus.PENDING
    )
    hold_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    source: Mapped[str] = mapped_column(String(20), default="web")  # web, api, desk
    partner_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    # Bumped on every change a calendar program must see (RFC 5545 SEQUENCE).
    sequence: Mapped[int] = mapped_column(default=0)
    # The video room: unguessable, plain lowercase ASCII, fixed for the booking's life.
    video_room: Mapped[str | None] = mapped_column(String(64), unique=True)
    # The reception desk (in person): arrival, the call to a window, the consultation's start.
    checked_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    called_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    call_window: Mapped[str] = mapped_column(String(40), default="", server_default="")
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    queue_number: Mapped[int | None]
    is_walk_in: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    no_show_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[Outcome | None] = mapped_column(str_enum(Outcome, "booking_outcome"))
    outcome_note: Mapped[str] = mapped_column(Text, default="", server_default="")

    # The citizen. Shown only to the assigned expert, supervisors and the citizen.
    citizen_name: Mapped[str] = mapped_column(String(200))
    citizen_email: Mapped[str] = mapped_column(String(254))
    citizen_phone: Mapped[str] = mapped_column(String(20))
    applicant_type: Mapped[ApplicantType] = mapped_column(str_enum(ApplicantType, "applicant_type"))
    organisation: Mapped[str] = mapped_column(String(300), default="")
    inn: Mapped[str] = mapped_column(String(12), default="")
    question: Mapped[str] = mapped_column(Text, default="")
    consent_at: Mapped[datetime] = mapped_column(UTCDateTime())
    locale: Mapped[str] = mapped_column(String(5), default="ru")

    # Secrets, kept only as hashes. The manage token is derived from the app's secret key and
    # this salt (booking.codes.manage_token), so emails and the API can show the link again;
    # a new salt revokes every link given out before.
    manage_token_salt: Mapped[str] = mapped_column(String(32))
    manage_token_hash: Mapped[str] = mapped_column(String(64))
    confirmation_code_hash: Mapped[str] = mapped_column(String(64), default="")
    confirmation_attempts: Mapped[int] = mapped_column(default=0)
    # Set when the personal data was anonymised under the retention policy (scheduler/privacy).
    anonymised_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    topic: Mapped[Topic] = relationship()
    expert: Mapped[Expert] = relationship()
    location: Mapped[Location | None] = relationship()
    events: Mapped[list[BookingEvent]] = relationship(
        back_populates="booking", cascade="all, delete-orphan", order_by="BookingEvent.id"
    )

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    def can_become(self, status: BookingStatus) -> bool:
        return status in TRANSITIONS[self.status]

    def can_cancel(self, now: datetime) -> bool:
        return self.status in (BookingStatus.PENDING, BookingStatus.CONFIRMED) and self.starts_at > now

    def can_reschedule(self, now: datetime) -> bool:
        return self.status == BookingStatus.CONFIRMED and self.starts_at > now

    @property
    def scope(self) -> Scope:
        """For permissions: the topic's department, the office, and the assigned expert."""
        return Scope.of(self.topic.department_id, self.location_id, (self.expert.user_id,))

    def __repr__(self) -> str:
        return f"<Booking {self.code} {self.status}>"


class BookingNote(Base):
    """A private note by staff on a consultation; never shown to the citizen."""

    __tablename__ = "booking_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    text: Mapped[str] = mapped_column(Text)


class BookingEvent(Base):
    """One entry of a booking's history: created, confirmed, rescheduled, cancelled..."""

    __tablename__ = "booking_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    kind: Mapped[str] = mapped_column(String(40))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    actor_type: Mapped[str] = mapped_column(String(20))
    actor_label: Mapped[str] = mapped_column(String(200), default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    booking: Mapped[Booking] = relationship(back_populates="events")


class ApiKey(Base):
    """A partner's API key; only its SHA-256 is stored, the key is shown once at creation."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(12), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    note: Mapped[str] = mapped_column(Text, default="")


class CitizenLink(Base):
    """A magic link to a citizen's personal page, sent to their email; only its hash is kept. It works once."""

    __tablename__ = "citizen_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(254), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


def keeps_its_time(now: datetime) -> ColumnElement[bool]:
    """SQL: an active booking keeps its time; a pending hold only until it expires.

    The one statement of the rule for queries (free slots, the per-topic limit); the booking
    pre-check applies the same rule to rows it also reads for expired holds.
    """
    return or_(Booking.status != BookingStatus.PENDING,
               and_(Booking.hold_expires_at.is_not(None), Booking.hold_expires_at > now))
