"""Reception desk models: the waiting list of walk-ins for whom no free time was left."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from scheduler.auth.access import Scope
from scheduler.db import Base, UTCDateTime, str_enum, utcnow
from scheduler.departments.models import Location, Topic
from scheduler.experts.models import Expert


class WaitingStatus(enum.StrEnum):
    WAITING = "waiting"  # registered at the desk, waits for an expert with free time
    CALLED = "called"  # called to a window
    STARTED = "started"  # in consultation
    SERVED = "served"
    LEFT = "left"  # gave up waiting, or did not answer the call


# The waiting list's state machine: every other move is refused.
WAITING_TRANSITIONS: dict[WaitingStatus, frozenset[WaitingStatus]] = {
    WaitingStatus.WAITING: frozenset({WaitingStatus.CALLED, WaitingStatus.LEFT}),
    WaitingStatus.CALLED: frozenset({WaitingStatus.STARTED, WaitingStatus.SERVED, WaitingStatus.LEFT}),
    WaitingStatus.STARTED: frozenset({WaitingStatus.SERVED}),
    WaitingStatus.SERVED: frozenset(),
    WaitingStatus.LEFT: frozenset(),
}


class WaitingEntry(Base):
    """A walk-in on a reception day's waiting list: no booking, no email, only a queue number.

    Kept apart from ``Booking`` because a waiting visitor holds no expert's time: they are
    served when an expert on duty has nobody checked in (a no-show's freed time, a gap).
    """

    __tablename__ = "reception_waiting"
    __table_args__ = (Index("ix_reception_waiting_location_day", "location_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id", ondelete="CASCADE"))
    topic_id: Mapped[int] = mapped_column(ForeignKey("topics.id"))
    day: Mapped[date]  # the location's local date
    queue_number: Mapped[int]
    status: Mapped[WaitingStatus] = mapped_column(str_enum(WaitingStatus, "waiting_status"),
                                                  default=WaitingStatus.WAITING)
    visitor_name: Mapped[str] = mapped_column(String(200))
    visitor_phone: Mapped[str] = mapped_column(String(20))
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    called_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    call_window: Mapped[str] = mapped_column(String(40), default="")
    expert_id: Mapped[int | None] = mapped_column(ForeignKey("experts.id"))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set when the personal data was anonymised under the retention policy (scheduler/privacy).
    anonymised_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    location: Mapped[Location] = relationship()
    topic: Mapped[Topic] = relationship()
    expert: Mapped[Expert | None] = relationship()

    def can_become(self, status: WaitingStatus) -> bool:
        return status in WAITING_TRANSITIONS[self.status]

    @property
    def scope(self) -> Scope:
        """For permissions: the office, and the expert who called the visitor (if any)."""
        return Scope.of(self.location.department_id, self.location_id,
                        (self.expert.user_id if self.expert is not None else None,))

    def __repr__(self) -> str:
        return f"<WaitingEntry {self.queue_number} {self.status}>"
