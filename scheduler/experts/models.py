"""The expert: a staff member of a department who consults on some of its topics."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from scheduler.auth.models import User
from scheduler.db import Base, UTCDateTime
from scheduler.departments.models import Department, Topic

expert_topics = Table(
    "expert_topics",
    Base.metadata,
    Column("expert_id", ForeignKey("experts.id", ondelete="CASCADE"), primary_key=True),
    Column("topic_id", ForeignKey("topics.id", ondelete="CASCADE"), primary_key=True),
)


class Expert(Base):
    __tablename__ = "experts"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    position: Mapped[str] = mapped_column(String(200), default="")
    is_active: Mapped[bool] = mapped_column(default=True)
    # The calendar subscription feed: a secret URL derived from this salt (None = no feed),
    # checked against the stored hash; a new salt revokes the old address.
    feed_token_salt: Mapped[str | None] = mapped_column(String(32))
    feed_token_hash: Mapped[str | None] = mapped_column(String(64))
    # How much of the citizen the feed shows: "minimal" (topic and code) or "names".
    feed_detail: Mapped[str] = mapped_column(String(20), default="minimal", server_default="minimal")
    # Bumped, with the time, by every change to what the feed shows (booking.feed_version):
    # a poll is answered from these two, not from the rows.
    feed_version: Mapped[int] = mapped_column(default=0, server_default="0")
    feed_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(lazy="joined")
    department: Mapped[Department] = relationship()
    topics: Mapped[list[Topic]] = relationship(secondary=expert_topics, order_by="Topic.title")

    @property
    def name(self) -> str:
        return self.user.full_name

    def __repr__(self) -> str:
        return f"<Expert {self.id}>"
