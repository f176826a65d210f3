"""Delivering outbox messages over SMTP (or to files in development), with retries and backoff."""

from __future__ import annotations

import base64
import logging
import smtplib
import ssl
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.header import Header
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any, Protocol

from flask import current_app
from sqlalchemy import ColumnElement, Engine, func, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from scheduler.db import utcnow
from scheduler.mail.compose import render_pending
from scheduler.mail.models import OutboxMessage, OutboxStatus, mail_sealer
from scheduler.sealing import Sealer, Unreadable

log = logging.getLogger(__name__)


class Transport(Protocol):
    def send(self, message: EmailMessage) -> None: ...


def _set_subject(message: EmailMessage, subject: str) -> None:
    """The subject, folded so that no space is lost.

    The email package (3.11) folds a long non-ASCII header into encoded words with the space
    between two words left outside them, where readers drop it ("отменена:четверг"). The older
    ``Header`` keeps each space inside an encoded word; its folded lines go in as they are.
    """
    if subject.isascii():
        message["Subject"] = subject
    else:
        message.set_raw("Subject", Header(subject, "utf-8", header_name="Subject").encode(linesep="\n"))


def build_email(row: OutboxMessage, sender: str, sealer: Sealer) -> EmailMessage:
    """A multipart/alternative text + HTML message, with inline calendar parts and attachments.

    ``Unreadable`` when the body cannot be opened (delivered already, or sealed with a dropped key).
    """
    content = row.content(sealer)
    message = EmailMessage()
    _set_subject(message, row.subject)
    message["From"] = sender
    message["To"] = row.to_address
    message["Message-ID"] = row.message_id
    message["Date"] = formatdate(row.created_at.timestamp(), localtime=False)
    # RFC 3834: sent by a program, so autoresponders (out of office, vacation) do not answer it.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(content.text_body)
    if content.html_body:
        message.add_alternative(content.html_body, subtype="html")
    for item in content.attachments:
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
    """How often, how far apart and under how long a lease the outbox tries a message.

    The lease is what a killed worker costs: the message it was sending waits that long before
    another worker may take it. It is short (30 s by default, ``OUTBOX_LEASE_SECONDS``) and a
    live worker renews it every third of its length while a send is in progress (``LeaseKeeper``),
    so a slow but alive send never loses its message to a second worker, however long the SMTP
    server takes; only a dead worker (or one cut off from the database for a whole lease) lets
    its lease run out. A lease sized to the SMTP timeout instead would not be safe: smtplib's
    timeout bounds each socket operation, not the whole conversation.
    """

    max_attempts: int = 10
    backoff: timedelta = timedelta(seconds=30)
    backoff_max: timedelta = timedelta(hours=1)
    lease: timedelta = timedelta(seconds=30)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> RetryPolicy:
        return cls(
            max_attempts=int(config["OUTBOX_MAX_ATTEMPTS"]),
            backoff=timedelta(seconds=int(config["OUTBOX_BACKOFF_SECONDS"])),
            backoff_max=timedelta(seconds=int(config["OUTBOX_BACKOFF_MAX_SECONDS"])),
            lease=timedelta(seconds=int(config["OUTBOX_LEASE_SECONDS"])),
        )

    @property
    def heartbeat(self) -> timedelta:
        """How often a sending worker renews its lease: two beats may be missed before it runs out."""
        return self.lease / 3

    def delay_after(self, attempts: int) -> timedelta:
        """Exponential backoff: backoff, 2×, 4× … capped at backoff_max."""
        return min(self.backoff * (2 ** max(attempts - 1, 0)), self.backoff_max)


@dataclass
class DeliveryReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0


def _due(now: datetime) -> ColumnElement[bool]:
    """Waiting for an attempt that is due, or claimed by a worker whose lease ran out (it died)."""
    return or_(
        (OutboxMessage.status == OutboxStatus.PENDING) & (OutboxMessage.next_attempt_at <= now),
        (OutboxMessage.status == OutboxStatus.SENDING) & (OutboxMessage.lease_until < now),
    )


def _due_ids(session: Session, now: datetime, limit: int) -> list[int]:
    candidates = list(
        session.scalars(
            select(OutboxMessage.id)
            .where(_due(now))
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(limit)
        )
    )
    session.rollback()  # end the read so that each claim is its own short write
    return candidates


def _claim(session: Session, message_id: int, now: datetime, policy: RetryPolicy) -> bool:
    """Compare-and-set: lease the message to this worker if it is still due; committed at once."""
    result = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, _due(now))
        .values(status=OutboxStatus.SENDING, lease_until=now + policy.lease)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def claim_due(session: Session, now: datetime, policy: RetryPolicy, limit: int = 50) -> list[int]:
    """Lease due messages to this worker and commit, so no other worker sends them too.

    Each row is taken by a compare-and-set UPDATE (it matches only while the row is still
    due), which holds on SQLite and PostgreSQL alike, with worker threads or processes.
    A message whose lease ran out (its worker died mid-send) is due again: delivery is
    at-least-once across crashes, and every message keeps one Message-ID so that a
    repeat after a crash is recognisable as the same message. The lease ends at
    ``now + policy.lease``, which is also the token a ``LeaseKeeper`` renews it by.
    """
    return [m for m in _due_ids(session, now, limit) if _claim(session, m, now, policy)]


def claim_next(session: Session, now: datetime, policy: RetryPolicy) -> int | None:
    """Lease the next due message to this worker (see ``claim_due``); None when nothing is due."""
    while candidates := _due_ids(session, now, 5):
        for message_id in candidates:
            if _claim(session, message_id, now, policy):
                return message_id
        # Every candidate went to another worker meanwhile (so is no longer due): look again.
    return None


def next_due_at(session: Session) -> datetime | None:
    """When the outbox next has work: the earliest waiting retry, or the earliest lease to run out.

    The worker wakes up then, so the message of a killed worker goes out about one lease after
    it was claimed, not at the next periodic sweep.
    """
    retry = session.scalar(
        select(func.min(OutboxMessage.next_attempt_at)).where(OutboxMessage.status == OutboxStatus.PENDING)
    )
    lease = session.scalar(
        select(func.min(OutboxMessage.lease_until)).where(OutboxMessage.status == OutboxStatus.SENDING)
    )
    known = [at for at in (retry, lease) if at is not None]
    return min(known) if known else None


class LeaseKeeper:
    """Renews a claimed message's lease while its worker is still sending it: the outbox's heartbeat.

    A thread beats every ``policy.heartbeat`` on its own connection (``engine``), moving the lease to
    ``clock() + policy.lease`` with a compare-and-set on the lease it knows, so a lease that was
    lost (it ran out and another worker claimed the message) is never taken back.
    """

    def __init__(self, engine: Engine, policy: RetryPolicy, clock: Callable[[], datetime] = utcnow) -> None:
        self.engine = engine
        self.policy = policy
        self.clock = clock

    @contextmanager
    def keep(self, message_id: int, lease_until: datetime) -> Iterator[None]:
        """Keep ``message_id``'s lease (now ending at ``lease_until``) alive for the duration of the block."""
        stop = threading.Event()
        beat = threading.Thread(target=self._beat, args=(message_id, lease_until, stop),
                                name=f"outbox-lease-{message_id}", daemon=True)
        beat.start()
        try:
            yield
        finally:
            stop.set()
            beat.join()

    def _beat(self, message_id: int, lease_until: datetime, stop: threading.Event) -> None:
        interval = self.policy.heartbeat.total_seconds()
        while not stop.wait(interval):
            renewed = self.clock() + self.policy.lease
            try:
                with self.engine.begin() as connection:
                    result = connection.execute(
                        update(OutboxMessage)
                        .where(OutboxMessage.id == message_id, OutboxMessage.status == OutboxStatus.SENDING,
                               OutboxMessage.lease_until == lease_until)
                        .values(lease_until=renewed)
                    )
            except SQLAlchemyError:
                # The lease still runs until lease_until: try again at the next beat.
                log.warning("outbox message %s: could not renew its lease", message_id, exc_info=True)
                continue
            if result.rowcount != 1:
                log.warning("outbox message %s: lease lost while sending; it may be sent twice", message_id)
                return
            lease_until = renewed


def deliver_due(
    session: Session,
    transport: Transport,
    sender: str,
    now: datetime | Callable[[], datetime],
    policy: RetryPolicy,
    *,
    keeper: LeaseKeeper | None = None,
    limit: int = 50,
    sealer: Sealer | None = None,
) -> DeliveryReport:
    """Send up to ``limit`` due messages; record each success, or schedule a retry with backoff.

    One message at a time is claimed, sent and recorded before the next is claimed, so no message
    waits out its lease behind others, and a killed worker strands only the one it was sending.
    ``now`` is an instant (tests) or a clock (the worker: each lease starts when it is taken). No
    transaction is open while the SMTP server answers, and with a ``keeper`` the lease is renewed
    meanwhile, so a slow send keeps its message. Bodies are opened with ``sealer`` (by default the
    application's keys) and dropped from the table once delivered.
    """
    sealer = sealer or mail_sealer(current_app.config)
    clock: Callable[[], datetime] = now if callable(now) else (lambda: now)
    report = DeliveryReport()
    for _ in range(limit):
        claimed_at = clock()
        message_id = claim_next(session, claimed_at, policy)
        if message_id is None:
            break
        row = session.get(OutboxMessage, message_id, populate_existing=True)
        if row is None or row.status != OutboxStatus.SENDING:
            session.rollback()
            continue
        try:
            rendered = render_pending(session, row, sealer)
            if rendered is not None:
                # Rendered once, here, outside the request that queued it; kept for any retry.
                row.sealed_body = rendered.seal(sealer)
                session.commit()
            email = build_email(row, sender, sealer)
        except Unreadable:
            # Sealed under a key no longer configured: give up visibly, keeping the sealed body, so
            # that restoring the key (as SECRET_KEY_FALLBACKS) and requeueing still delivers it.
            row.attempts += 1
            row.status, row.lease_until = OutboxStatus.FAILED, None
            row.last_error = "cannot open the message: it was sealed with a key that is no longer configured"
            session.commit()
            report.failed += 1
            log.error("outbox message %s cannot be opened with the configured keys; given up", message_id)
            continue
        except (KeyError, TypeError, ValueError) as exc:
            # A stored message that cannot be built never will be: give up at once, visibly, rather than
            # claim it again every lease at the head of the queue.
            row.attempts += 1
            row.status, row.lease_until = OutboxStatus.FAILED, None
            row.last_error = f"cannot build the message: {type(exc).__name__}: {exc}"[:2000]
            session.commit()
            report.failed += 1
            log.error("outbox message %s cannot be built; given up", message_id)
            continue
        session.rollback()  # hold no transaction (on SQLite: no write lock) while the server takes its time
        error = ""
        with keeper.keep(message_id, claimed_at + policy.lease) if keeper else nullcontext():
            try:
                transport.send(email)
            except (smtplib.SMTPException, OSError) as exc:
                error = f"{type(exc).__name__}: {exc}"[:2000]
        row = session.get(OutboxMessage, message_id, populate_existing=True)
        if row is None:
            session.rollback()
            continue
        _record_attempt(row, error, clock(), policy, report)
        session.commit()
    return report


def _record_attempt(row: OutboxMessage, error: str, now: datetime, policy: RetryPolicy,
                    report: DeliveryReport) -> None:
    row.attempts += 1
    row.lease_until = None
    if not error:
        row.status = OutboxStatus.SENT
        row.sent_at = now
        row.last_error = ""
        row.sealed_body = None  # delivered: nothing left to read, even sealed
        report.sent += 1
        return
    row.last_error = error
    if row.attempts >= policy.max_attempts:
        row.status = OutboxStatus.FAILED
        report.failed += 1
        log.error("outbox message %s failed for good after %s attempts", row.id, row.attempts)
    else:
        row.status = OutboxStatus.PENDING
        row.next_attempt_at = now + policy.delay_after(row.attempts)
        report.retried += 1
        log.warning("outbox message %s: attempt %s failed, retrying", row.id, row.attempts)
