"""Departments (with time zone, holiday calendar and business hours), topics and locations."""

from __future__ import annotations

from datetime import time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from scheduler.calendar import WorkingCalendar, calendar_for
from scheduler.db import Base

CHANNELS = ("video", "in_person")
APPLICANT_TYPES = ("individual", "legal_entity")


class Department(Base):
    """A competent authority or service: a gas utility's one-window office, a construction complex."""

    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    # "RU", "RU-KO", "KZ"...; empty for a service that ignores public holidays.
    holiday_calendar: Mapped[str] = mapped_column(String(16), default="RU")
    email: Mapped[str] = mapped_column(String(254), default="")
    is_active: Mapped[bool] = mapped_column(default=True)

    hours: Mapped[list[BusinessHours]] = relationship(
        back_populates="department",
        cascade="all, delete-orphan",
        order_by="(BusinessHours.weekday, BusinessHours.opens)",
    )
    topics: Mapped[list[Topic]] = relationship(back_populates="department", order_by="Topic.title")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def hours_by_weekday(self) -> dict[int, list[tuple[time, time]]]:
        result: dict[int, list[tuple[time, time]]] = {}
        for row in self.hours:
            result.setdefault(row.weekday, []).append((row.opens, row.closes))
        return result

    @property
    def working_calendar(self) -> WorkingCalendar:
        open_days = sorted({row.weekday for row in self.hours}) or [0, 1, 2, 3, 4]
        return calendar_for(self.holiday_calendar or None, open_days)

    def __repr__(self) -> str:
        return f"<Department {self.slug}>"


class BusinessHours(Base):
    """One opening interval of a department on a weekday (several make a day with breaks)."""

    __tablename__ = "business_hours"
    __table_args__ = (
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday_range"),
        CheckConstraint("closes > opens", name="closes_after_opens"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id", ondelete="CASCADE"), index=True)
    weekday: Mapped[int]
    opens: Mapped[time]
    closes: Mapped[time]

    department: Mapped[Department] = relationship(back_populates="hours")


class Topic(Base):
    """What a citizen wants to discuss, with the rules for booking it."""

    __tablename__ = "topics"
    __table_args__ = (
        CheckConstraint("duration_minutes > 0", name="duration_positive"),
        CheckConstraint("seats >= 1", name="seats_positive"),
        CheckConstraint("buffer_minutes >= 0", name="buffer_not_negative"),
        CheckConstraint("horizon_days >= 0", name="horizon_not_negative"),
        CheckConstraint("followup_working_days >= 1", name="followup_days_positive"),
        CheckConstraint("allows_video OR allows_in_person", name="some_channel"),
        CheckConstraint("allows_individuals OR allows_legal_entities", name="some_applicant"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    duration_minutes: Mapped[int] = mapped_column(default=30)
    slot_interval_minutes: Mapped[int | None]
    buffer_minutes: Mapped[int] = mapped_column(default=0)
    min_notice_minutes: Mapped[int] = mapped_column(default=5)
    horizon_days: Mapped[int] = mapped_column(default=30)
    seats: Mapped[int] = mapped_column(default=1)
    allows_video: Mapped[bool] = mapped_column(default=True)
    allows_in_person: Mapped[bool] = mapped_column(default=False)
    allows_individuals: Mapped[bool] = mapped_column(default=True)
    allows_legal_entities: Mapped[bool] = mapped_column(default=True)
    followup_working_days: Mapped[int] = mapped_column(default=4)
    is_active: Mapped[bool] = mapped_column(default=True)

    department: Mapped[Department] = relationship(back_populates="topics")

    @property
    def channels(self) -> list[str]:
        return [c for c, allowed in (("video", self.allows_video), ("in_person", self.allows_in_person)) if allowed]

    @property
    def applicant_types(self) -> list[str]:
        pairs = (("individual", self.allows_individuals), ("legal_entity", self.allows_legal_entities))
        return [kind for kind, allowed in pairs if allowed]

    @property
    def duration(self) -> timedelta:
        return timedelta(minutes=self.duration_minutes)

    @property
    def buffer(self) -> timedelta:
        return timedelta(minutes=self.buffer_minutes)

    def __repr__(self) -> str:
        return f"<Topic {self.slug}>"


class Location(Base):
    """An office where in-person reception happens."""

    __tablename__ = "locations"
    __table_args__ = (CheckConstraint("desks >= 1", name="desks_positive"), UniqueConstraint("slug"))

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80))
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(300))
    timezone: Mapped[str] = mapped_column(String(64))
    desks: Mapped[int] = mapped_column(default=1)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), index=True)

    department: Mapped[Department | None] = relationship()

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def __repr__(self) -> str:
        return f"<Location {self.slug}>"
