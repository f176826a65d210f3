"""The outbox table: one row per email, written in the transaction that causes it.

A body carries what only its recipient should read (personal-page and manage links with their
tokens, sign-in codes), so the table never holds it in clear: the text, HTML and attachments are
sealed together (``scheduler.sealing``) when queued, and dropped once the message is delivered.
A message given up on keeps its sealed body, so an admin can requeue it.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from scheduler.db import Base, UTCDateTime, str_enum, utcnow
from scheduler.sealing import Sealer, Unreadable, sealer_for

SEAL_PURPOSE = "outbox mail"


def mail_sealer(config: Mapping[str, Any]) -> Sealer:
    """The sealer for outbox bodies under this configuration's keys."""
    return sealer_for(config, SEAL_PURPOSE)


@dataclass(frozen=True)
class MailContent:
    """What an email says: its text, its HTML and its attachments, opened from the sealed column."""

    text_body: str
    html_body: str | None = None
    # [{"filename", "content_type", "data" (base64), "inline": bool, "params": {...}}]
    attachments: list[dict[str, Any]] = field(default_factory=list)

    def seal(self, sealer: Sealer) -> str:
        document = {"text": self.text_body, "html": self.html_body, "attachments": self.attachments}
        return sealer.seal(json.dumps(document, ensure_ascii=False).encode("utf-8"))

    @classmethod
    def open(cls, sealed: str, sealer: Sealer) -> MailContent:
        """The content; ``Unreadable`` when no configured key opens it."""
        document = json.loads(sealer.open(sealed))
        return cls(document["text"], document.get("html"), list(document.get("attachments") or []))


class NoBody(Unreadable):
    """The message was delivered, so its body is gone."""


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for its (next) attempt
    SENDING = "sending"  # claimed by a worker until lease_until
    SENT = "sent"
    FAILED = "failed"  # gave up after the maximum attempts; visible to admins


class OutboxMessage(Base):
    """An email waiting to be delivered, or the record of one that was."""

    __tablename__ = "outbox_messages"
    __table_args__ = (Index("ix_outbox_messages_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    to_address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    # The MailContent, sealed; None once delivered.
    sealed_body: Mapped[str | None] = mapped_column(Text)
    template: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[OutboxStatus] = mapped_column(
        str_enum(OutboxStatus, "outbox_status"),
        default=OutboxStatus.PENDING,
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set when the personal data was anonymised under the retention policy (scheduler/privacy).
    anonymised_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    def content(self, sealer: Sealer) -> MailContent:
        """The body, opened; ``NoBody`` once delivered, ``Unreadable`` if sealed under a key now dropped."""
        if self.sealed_body is None:
            raise NoBody(f"outbox message {self.id} was delivered; its body is not kept")
        return MailContent.open(self.sealed_body, sealer)

    def __repr__(self) -> str:
        return f"<OutboxMessage {self.id} {self.status} attempts={self.attempts}>"
