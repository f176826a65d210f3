"""Delivering outbox messages over SMTP (or to files in development), with retries and backoff."""

from __future__ import annotations

import base64
import logging
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from scheduler.mail.models import OutboxMessage, OutboxStatus

log = logging.getLogger(__name__)


class Transport(Protocol):
    def send(self, message: EmailMessage) -> None: ...


def build_email(row: OutboxMessage, sender: str) -> EmailMessage:
    """A multipart/alternative text + HTML message, with inline calendar parts and attachments."""
    message = EmailMessage()
    message["Subject"] = row.subject
    message["From"] = sender
    message["To"] = row.to_address
    message["Message-ID"] = row.message_id
    message["Date"] = formatdate(row.created_at.timestamp(), localtime=False)
    message.set_content(row.text_body)
    if row.html_body:
        message.add_alternative(row.html_body, subtype="html")
    for item in row.attachments or []:
        data = base64.b64decode(item["data"])
        maintype, subtype = item["content_type"].split("/", 1)
        params: dict[str, str] = item.get("params") or {}
        if item.get("inline"):
            # e.g. text/calendar; method=REQUEST as an alternative part, which Outlook and Gmail read.
            alternative = _alternative_part(message)
            alternative.add_alternative(data.decode("utf-8"), subtype=subtype, params=params)
        else:
            message.add_attachment(data, maintype=maintype, subtype=subtype, filename=item["filename"], params=params)
    return message


def _alternative_part(message: EmailMessage) -> EmailMessage:
    if message.get_content_type() == "multipart/alternative":
        return message
    for part in message.iter_parts():
        if part.get_content_type() == "multipart/alternative":
            return part  # type: ignore[return-value]
    return message


@dataclass
class SMTPTransport:
    host: str
    port: int
    user: str = ""
    password: str = ""
    starttls: bool = True
    use_ssl: bool = False
    timeout: int = 30

    def send(self, message: EmailMessage) -> None:
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if self.use_ssl:
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with smtp:
            smtp.ehlo()
            if self.starttls and not self.use_ssl and smtp.has_extn("starttls"):
                smtp.starttls(context=context)
                smtp.ehlo()
            if self.user:
                smtp.login(self.user, self.password)
            smtp.send_message(message)


@dataclass
class FileTransport:
    """Development delivery: each message written as an .eml file a person can open."""

    directory: Path

    def send(self, message: EmailMessage) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")  # noqa: DTZ005 - a file name for humans
        token = str(message["Message-ID"]).strip("<>").split("@", 1)[0][:12]
        (self.directory / f"{stamp}-{token}.eml").write_bytes(bytes(message))


def transport_from_config(config: Mapping[str, Any]) -> Transport:
    if config.get("SMTP_HOST"):
        return SMTPTransport(
            host=config["SMTP_HOST"],
            port=int(config["SMTP_PORT"]),
            user=config.get("SMTP_USER", ""),
            password=config.get("SMTP_PASSWORD", ""),
            starttls=bool(config.get("SMTP_STARTTLS", True)),
            use_ssl=bool(config.get("SMTP_SSL", False)),
            timeout=int(config.get("SMTP_TIMEOUT", 30)),
        )
    return FileTransport(Path(config["MAIL_FILE_DIR"]))


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 10
    backoff: timedelta = timedelta(seconds=30)
    backoff_max: timedelta = timedelta(hours=1)
    lease: timedelta = timedelta(minutes=5)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> RetryPolicy:
        return cls(
            max_attempts=int(config["OUTBOX_MAX_ATTEMPTS"]),
            backoff=timedelta(seconds=int(config["OUTBOX_BACKOFF_SECONDS"])),
            backoff_max=timedelta(seconds=int(config["OUTBOX_BACKOFF_MAX_SECONDS"])),
            lease=timedelta(seconds=int(config["OUTBOX_LEASE_SECONDS"])),
        )

    def delay_after(self, attempts: int) -> timedelta:
        """Exponential backoff: backoff, 2×, 4× … capped at backoff_max."""
        return min(self.backoff * (2 ** max(attempts - 1, 0)), self.backoff_max)


@dataclass
class DeliveryReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0


def claim_due(session: Session, now: datetime, policy: RetryPolicy, limit: int = 50) -> list[int]:
    """Lease due messages to this worker and commit, so no other worker sends them too.

    Each row is taken by a compare-and-set UPDATE (it matches only while the row is still
    due), which holds on SQLite and PostgreSQL alike, with worker threads or processes.
    A message whose lease ran out (its worker died mid-send) is due again: delivery is
    at-least-once across crashes, and every message keeps one Message-ID so that a
    repeat after a crash is recognisable as the same message.
    """
    due = or_(
        (OutboxMessage.status == OutboxStatus.PENDING) & (OutboxMessage.next_attempt_at <= now),
        (OutboxMessage.status == OutboxStatus.SENDING) & (OutboxMessage.lease_until < now),
    )
    candidates = list(
        session.scalars(
            select(OutboxMessage.id).where(due).order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(limit)
        )
    )
    session.rollback()  # end the read so that each claim below is its own short write
    claimed: list[int] = []
    for message_id in candidates:
        result = session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, due)
            .values(status=OutboxStatus.SENDING, lease_until=now + policy.lease)
            .execution_options(synchronize_session=False)
        )
        session.commit()
        if result.rowcount == 1:  # type: ignore[attr-defined]
            claimed.append(message_id)
    return claimed


def next_attempt_at(session: Session) -> datetime | None:
    """When the earliest waiting retry is due, so the worker can wake up for it."""
    from sqlalchemy import func

    return session.scalar(
        select(func.min(OutboxMessage.next_attempt_at)).where(OutboxMessage.status == OutboxStatus.PENDING)
    )


def deliver_due(
    session: Session, transport: Transport, sender: str, now: datetime, policy: RetryPolicy
) -> DeliveryReport:
    """Send every due message once; record success, or schedule a retry with backoff."""
    report = DeliveryReport()
    for message_id in claim_due(session, now, policy):
        row = session.get(OutboxMessage, message_id, populate_existing=True)
        if row is None or row.status != OutboxStatus.SENDING:
            continue
        row.attempts += 1
        try:
            transport.send(build_email(row, sender))
        except (smtplib.SMTPException, OSError) as exc:
            row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            row.lease_until = None
            if row.attempts >= policy.max_attempts:
                row.status = OutboxStatus.FAILED
                report.failed += 1
                log.error("outbox message %s failed for good after %s attempts", row.id, row.attempts)
            else:
                row.status = OutboxStatus.PENDING
                row.next_attempt_at = now + policy.delay_after(row.attempts)
                report.retried += 1
                log.warning("outbox message %s: attempt %s failed, retrying", row.id, row.attempts)
        else:
            row.status = OutboxStatus.SENT
            row.sent_at = now
            row.lease_until = None
            row.last_error = ""
            report.sent += 1
        session.commit()
    return report
