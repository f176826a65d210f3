"""Weekly availability, date overrides and recurring reception days, stored as plain rows."""

from __future__ import annotations

import enum
from datetime import date, time
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Column, ForeignKey, String, Table, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from scheduler.db import Base, str_enum
from scheduler.departments.models import Location, Topic
from scheduler.experts.models import Expert


class Channel(enum.StrEnum):
    VIDEO = "video"
    IN_PERSON = "in_person"


class OverrideKind(enum.StrEnum):
    ABSENCE = "absence"  # vacation, sick leave: nothing that day
    HOURS = "hours"  # these hours instead of the weekly pattern (extra or changed)


class WeeklyAvailability(Base):
    """One interval of an expert's weekly pattern on one channel (breaks are gaps between rows)."""

    __tablename__ = "weekly_availability"
    __table_args__ = (
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday_range"),
        CheckConstraint("ends > starts", name="ends_after_starts"),
        CheckConstraint("valid_to IS NULL OR valid_from IS NULL OR valid_to >= valid_from", name="valid_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    expert_id: Mapped[int] = mapped_column(ForeignKey("experts.id", ondelete="CASCADE"), index=True)
    channel: Mapped[Channel] = mapped_column(str_enum(Channel, "channel"))
    weekday: Mapped[int]
    starts: Mapped[time]
    ends: Mapped[time]
    valid_from: Mapped[date | None]
    valid_to: Mapped[date | None]
    location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"))

    expert: Mapped[Expert] = relationship()
    location: Mapped[Location | None] = relationship()


class DateOverride(Base):
    """An absence over a date range, or replacement hours on some dates."""

    __tablename__ = "date_overrides"
    __table_args__ = (CheckConstraint("last_day >= first_day", name="day_range"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    expert_id: Mapped[int] = mapped_column(ForeignKey("experts.id", ondelete="CASCADE"), index=True)
    first_day: Mapped[date]
    last_day: Mapped[date]
    kind: Mapped[OverrideKind] = mapped_column(str_enum(OverrideKind, "override_kind"))
    channel: Mapped[Channel | None] = mapped_column(str_enum(Channel, "channel"))
    # [["09:00", "12:00"], ["13:00", "15:00"]] for kind "hours"
    intervals: Mapped[list[Any]] = mapped_column(JSON, default=list)
    reason: Mapped[str] = mapped_column(String(200), default="")

    expert: Mapped[Expert] = relationship()

    def parsed_intervals(self) -> tuple[tuple[time, time], ...]:
        return tuple((time.fromisoformat(a), time.fromisoformat(b)) for a, b in self.intervals or [])


reception_topics = Table(
    "reception_topics",
    Base.metadata,
    Column("reception_day_id", ForeignKey("reception_days.id", ondelete="CASCADE"), primary_key=True),
    Column("topic_id", ForeignKey("topics.id", ondelete="CASCADE"), primary_key=True),
)

reception_experts = Table(
    "reception_experts",
    Base.metadata,
    Column("reception_day_id", ForeignKey("reception_days.id", ondelete="CASCADE"), primary_key=True),
    Column("expert_id", ForeignKey("experts.id", ondelete="CASCADE"), primary_key=True),
)


class ReceptionDay(Base):
    """A recurring in-person reception: e.g. technical connection, Tue and Thu 10:00-13:00."""

    __tablename__ = "reception_days"
    __table_args__ = (
        # The set-up file identifies a reception day by its office and title.
        UniqueConstraint("location_id", "title"),
        CheckConstraint("ends > starts", name="ends_after_starts"),
        CheckConstraint("valid_to IS NULL OR valid_from IS NULL OR valid_to >= valid_from", name="valid_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    weekdays: Mapped[list[int]] = mapped_column(JSON, default=list)  # Monday = 0
    starts: Mapped[time]
    ends: Mapped[time]
    valid_from: Mapped[date | None]
    valid_to: Mapped[date | None]

    location: Mapped[Location] = relationship()
    topics: Mapped[list[Topic]] = relationship(secondary=reception_topics)
    experts: Mapped[list[Expert]] = relationship(secondary=reception_experts)
    exceptions: Mapped[list[ReceptionException]] = relationship(
        back_populates="reception_day", cascade="all, delete-orphan", order_by="ReceptionException.day"
    )


class ReceptionException(Base):
    """A dated exception to a reception day: cancelled that day, or other hours."""

    __tablename__ = "reception_exceptions"
    __table_args__ = (CheckConstraint("ends IS NULL OR starts IS NULL OR ends > starts", name="ends_after_starts"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    reception_day_id: Mapped[int] = mapped_column(ForeignKey("reception_days.id", ondelete="CASCADE"), index=True)
    day: Mapped[date]
    is_cancelled: Mapped[bool] = mapped_column(default=True)
    starts: Mapped[time | None]
    ends: Mapped[time | None]
    reason: Mapped[str] = mapped_column(String(200), default="")

    reception_day: Mapped[ReceptionDay] = relationship(back_populates="exceptions")
