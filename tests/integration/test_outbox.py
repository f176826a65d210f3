"""The mail outbox: written with the change, delivered over real SMTP, retried, never doubled."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, current_app
from sqlalchemy import Engine, create_engine, select
from sqlalchemy.orm import Session

from scheduler.app import configure_sqlite
from scheduler.config import normalise_database_url
from scheduler.db import utcnow
from scheduler.mail.compose import Attachment, queue_email
from scheduler.mail.delivery import (
    FileTransport,
    LeaseKeeper,
    RetryPolicy,
    SMTPTransport,
    claim_due,
    deliver_due,
    next_due_at,
)
from scheduler.mail.models import MailContent, OutboxMessage, OutboxStatus, mail_sealer
from tests.processes import wait_for
from tests.smtp_server import RecordingHandler, smtp_server

SENDER = "okno <no-reply@okno.example.org>"
POLICY = RetryPolicy(max_attempts=3, backoff=timedelta(seconds=30), backoff_max=timedelta(minutes=10),
                     lease=timedelta(minutes=5))


@pytest.fixture
def smtp() -> Iterator[tuple[RecordingHandler, SMTPTransport]]:
    with smtp_server() as (handler, port):
        yield handler, SMTPTransport(host="127.0.0.1", port=port, starttls=False, timeout=5)


def queue_test_message(session: Any, to: str = "citizen@example.org", **kw: Any) -> OutboxMessage:
    return queue_email(session, to=to, template="test_message", context={"name": "Анна"}, **kw)


def test_mail_is_written_only_if_the_change_commits(session: Any) -> None:
    session.begin_nested()
    queue_test_message(session)
    session.rollback()
    assert session.scalar(select(OutboxMessage.id)) is None
    queue_test_message(session)
    session.commit()
    assert session.scalars(select(OutboxMessage)).one().status == OutboxStatus.PENDING


def test_delivers_multipart_text_and_html_with_attachments(session: Any, smtp: Any) -> None:
    handler, transport = smtp
    invite = b"BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n"
    queue_test_message(session, attachments=[
        Attachment("invite.ics", "text/calendar", invite, inline=True, params={"method": "REQUEST"}),
        Attachment("invite.ics", "application/ics", invite),
    ])
    session.commit()
    report = deliver_due(session, transport, SENDER, utcnow(), POLICY)
    assert report.sent == 1
    [received] = handler.messages
    assert received["Subject"] == "«Окно»: тестовое письмо"
    assert received["To"] == "citizen@example.org"
    assert received["Auto-Submitted"] == "auto-generated"  # no out-of-office replies to a program
    types = [part.get_content_type() for part in received.walk()]
    assert types[0] == "multipart/mixed"
    assert "text/plain" in types and "text/html" in types
    assert "text/calendar" in types and "application/ics" in types
    calendar_part = next(p for p in received.walk() if p.get_content_type() == "text/calendar")
    assert calendar_part.get_param("method") == "REQUEST"
    text = next(p for p in received.walk() if p.get_content_type() == "text/plain").get_content()
    assert "Здравствуйте, Анна!" in text
    row = session.scalars(select(OutboxMessage)).one()
    assert row.status == OutboxStatus.SENT and row.attempts == 1 and row.sent_at is not None


def test_a_long_russian_subject_arrives_with_every_space(session: Any, smtp: Any) -> None:
    """Folded into encoded words, the space after "отменена:" used to fall between two of them and be lost."""
    handler, transport = smtp
    subject = "Консультация отменена: четверг, 10 декабря 2026 г. в 10:00 (Москва)"
    queue_test_message(session).subject = subject  # as the cancellation's subject reads in Russian
    session.commit()
    assert deliver_due(session, transport, SENDER, utcnow(), POLICY).sent == 1
    [received] = handler.messages
    assert received["Subject"] == subject
    assert all(len(line) <= 78 for line in received.as_string().splitlines() if "=?utf-8?" in line)


def test_english_template_when_the_citizen_chose_english(session: Any, smtp: Any) -> None:
    handler, transport = smtp
    queue_test_message(session, locale="en")
    session.commit()
    deliver_due(session, transport, SENDER, utcnow(), POLICY)
    assert handler.messages[0]["Subject"] == "okno: test message"


def test_smtp_failure_is_retried_after_backoff(session: Any, smtp: Any) -> None:
    handler, transport = smtp
    handler.failures_left = 1
    queue_test_message(session)
    session.commit()
    now = utcnow()
    report = deliver_due(session, transport, SENDER, now, POLICY)
    assert (report.sent, report.retried) == (0, 1)
    row = session.scalars(select(OutboxMessage)).one()
    assert row.status == OutboxStatus.PENDING
    assert row.next_attempt_at == now + timedelta(seconds=30)
    assert "451" in row.last_error
    # Not before the backoff has passed...
    assert deliver_due(session, transport, SENDER, now + timedelta(seconds=29), POLICY).sent == 0
    # ...and then exactly once.
    assert deliver_due(session, transport, SENDER, now + timedelta(seconds=30), POLICY).sent == 1
    assert len(handler.messages) == 1


def test_unreachable_smtp_server_keeps_the_message(session: Any) -> None:
    from tests.smtp_server import free_port

    queue_test_message(session)
    session.commit()
    transport = SMTPTransport(host="127.0.0.1", port=free_port(), starttls=False, timeout=2)
    report = deliver_due(session, transport, SENDER, utcnow(), POLICY)
    assert report.retried == 1
    row = session.scalars(select(OutboxMessage)).one()
    assert row.status == OutboxStatus.PENDING and "ConnectionRefused" in row.last_error


def test_backoff_doubles_and_gives_up_after_max_attempts(session: Any, smtp: Any) -> None:
    handler, transport = smtp
    handler.failures_left = 10
    queue_test_message(session)
    session.commit()
    now = utcnow()
    deliver_due(session, transport, SENDER, now, POLICY)
    row = session.scalars(select(OutboxMessage)).one()
    assert row.next_attempt_at - now == timedelta(seconds=30)
    now = row.next_attempt_at
    deliver_due(session, transport, SENDER, now, POLICY)
    session.refresh(row)
    assert row.next_attempt_at - now == timedelta(seconds=60)
    report = deliver_due(session, transport, SENDER, row.next_attempt_at, POLICY)
    session.refresh(row)
    assert report.failed == 1 and row.status == OutboxStatus.FAILED and row.attempts == 3
    assert deliver_due(session, transport, SENDER, now + timedelta(days=1), POLICY).sent == 0
    assert handler.messages == []


def test_a_restarted_worker_sends_nothing_twice(session: Any, smtp: Any) -> None:
    handler, transport = smtp
    for n in range(3):
        queue_test_message(session, to=f"c{n}@example.org")
    session.commit()
    assert deliver_due(session, transport, SENDER, utcnow(), POLICY).sent == 3
    session.expunge_all()  # a new worker knows nothing but the database
    assert deliver_due(session, transport, SENDER, utcnow() + timedelta(hours=1), POLICY).sent == 0
    assert sorted(handler.message_ids()) == sorted(set(handler.message_ids()))
    assert len(handler.messages) == 3


def test_a_message_claimed_by_a_dead_worker_is_delivered_after_its_lease(session: Any, smtp: Any,
                                                                         app: Flask) -> None:
    handler, transport = smtp
    policy = RetryPolicy.from_config(app.config)  # the default lease: 30 s, not minutes
    assert policy.lease == timedelta(seconds=30)
    queue_test_message(session)
    session.commit()
    now = utcnow()
    assert len(claim_due(session, now, policy)) == 1  # that worker then died
    # The worker wakes up when the lease runs out, not at the next sweep.
    assert next_due_at(session) == now + timedelta(seconds=30)
    assert deliver_due(session, transport, SENDER, now + timedelta(seconds=29), policy).sent == 0
    assert deliver_due(session, transport, SENDER, now + timedelta(seconds=31), policy).sent == 1
    assert len(handler.messages) == 1


def test_messages_are_claimed_one_at_a_time_as_they_are_sent(session: Any, smtp: Any) -> None:
    """A message waits as pending (free for any worker) until its turn, not under this worker's lease."""
    handler, transport = smtp
    for n in range(3):
        queue_test_message(session, to=f"c{n}@example.org")
    session.commit()
    seen: list[list[OutboxStatus]] = []

    class Observed:
        def send(self, message: Any) -> None:
            seen.append(list(session.scalars(select(OutboxMessage.status).order_by(OutboxMessage.id))))
            session.rollback()
            transport.send(message)

    assert deliver_due(session, Observed(), SENDER, utcnow(), POLICY).sent == 3
    S, P, D = OutboxStatus.SENDING, OutboxStatus.PENDING, OutboxStatus.SENT
    assert seen == [[S, P, P], [D, S, P], [D, D, S]]
    assert len(handler.messages) == 3


@pytest.fixture
def own_engine(fresh_database_url: str) -> Iterator[Engine]:
    """An engine on a database of its own, for workers in threads (each with its own connection)."""
    engine = create_engine(normalise_database_url(fresh_database_url))
    if engine.dialect.name == "sqlite":
        configure_sqlite(engine)
    OutboxMessage.__table__.create(engine)  # type: ignore[attr-defined]
    yield engine
    engine.dispose()


def test_a_slow_send_keeps_its_lease_and_is_sent_once(app: Flask, own_engine: Engine) -> None:
    """The sending worker renews its lease while the server takes three leases to answer; a second
    worker looking meanwhile finds nothing due, so the message is not sent twice."""
    policy = RetryPolicy(max_attempts=3, lease=timedelta(seconds=1))  # renewed every third of a second
    reports: list[Any] = []
    with smtp_server() as (handler, port), app.app_context():
        transport = SMTPTransport(host="127.0.0.1", port=port, starttls=False, timeout=10)
        with Session(own_engine) as writer:
            queue_test_message(writer)
            writer.commit()
        handler.delay = 3.0

        def first_worker() -> None:
            with Session(own_engine) as own:
                reports.append(deliver_due(own, transport, SENDER, utcnow, policy,
                                           keeper=LeaseKeeper(own_engine, policy), sealer=mail_sealer(app.config)))

        first = threading.Thread(target=first_worker)
        first.start()
        wait_for(lambda: handler.receiving == 1, what="the first send under way")
        time.sleep(1.5)  # the first lease would have run out by now
        with Session(own_engine) as other:
            second = deliver_due(other, transport, SENDER, utcnow, policy, keeper=LeaseKeeper(own_engine, policy))
        first.join(timeout=20)
        assert (second.sent, reports[0].sent) == (0, 1)
        assert handler.receiving == 1 and len(handler.messages) == 1
        with Session(own_engine) as check:
            row = check.scalars(select(OutboxMessage)).one()
            assert row.status == OutboxStatus.SENT and row.attempts == 1 and row.lease_until is None


def test_the_heartbeat_renews_only_a_lease_it_still_holds(app: Flask, own_engine: Engine) -> None:
    policy = RetryPolicy(lease=timedelta(seconds=0.3))  # a beat every 0.1 s
    with app.app_context(), Session(own_engine) as session:
        queue_test_message(session)
        session.commit()
        claimed_at = utcnow()
        [message_id] = claim_due(session, claimed_at, policy)
        with LeaseKeeper(own_engine, policy).keep(message_id, claimed_at + policy.lease):
            time.sleep(0.8)
        renewed = session.scalar(select(OutboxMessage.lease_until))
        assert renewed is not None and renewed > claimed_at + policy.lease + timedelta(seconds=0.3)
        session.rollback()
        # Its lease ran out and another worker claimed the message: the first worker's beat must not take it back.
        later = renewed + timedelta(seconds=1)
        assert claim_due(session, later, policy) == [message_id]
        with LeaseKeeper(own_engine, policy).keep(message_id, renewed):
            time.sleep(0.5)
        assert session.scalar(select(OutboxMessage.lease_until)) == later + policy.lease


def test_a_message_that_cannot_be_built_is_given_up_without_blocking_the_rest(session: Any, smtp: Any) -> None:
    handler, transport = smtp
    broken = queue_test_message(session, to="broken@example.org")
    queue_test_message(session, to="fine@example.org")
    session.commit()
    damaged = MailContent("text", None, [{"filename": "x", "content_type": "no-slash", "data": ""}])
    broken.sealed_body = damaged.seal(mail_sealer(current_app.config))  # stored by an older version
    session.commit()
    report = deliver_due(session, transport, SENDER, utcnow(), POLICY)
    assert (report.failed, report.sent) == (1, 1)
    session.refresh(broken)
    assert broken.status == OutboxStatus.FAILED and "cannot build" in broken.last_error
    assert [str(m["To"]) for m in handler.messages] == ["fine@example.org"]


def test_two_workers_never_claim_the_same_message(session: Any) -> None:
    for n in range(4):
        queue_test_message(session, to=f"c{n}@example.org")
    session.commit()
    now = utcnow()
    first = claim_due(session, now, POLICY)
    second = claim_due(session, now, POLICY)
    assert len(first) == 4 and second == []


def test_development_writes_mail_to_files(session: Any, tmp_path: Path) -> None:
    queue_test_message(session)
    session.commit()
    deliver_due(session, FileTransport(tmp_path), SENDER, utcnow(), POLICY)
    [eml] = list(tmp_path.glob("*.eml"))
    assert "Subject:" in eml.read_text()


def test_transport_follows_configuration(app: Flask) -> None:
    from scheduler.mail.delivery import transport_from_config

    assert isinstance(transport_from_config(app.config), FileTransport)
    assert isinstance(transport_from_config({**app.config, "SMTP_HOST": "mail.example.org"}), SMTPTransport)
