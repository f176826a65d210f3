"""Requeueing abandoned mail: one service, used by the CLI (here) and the admin page (tests/web)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from scheduler.audit import Actor, AuditEntry
from scheduler.db import utcnow
from scheduler.errors import DomainError, ErrorCode
from scheduler.mail.delivery import RetryPolicy, SMTPTransport, deliver_due
from scheduler.mail.models import OutboxMessage, OutboxStatus
from scheduler.mail.operations import ALL_ABANDONED, STUCK_AFTER, requeue, troubled_messages
from tests.integration.test_outbox import SENDER, queue_test_message
from tests.smtp_server import RecordingHandler, smtp_server

POLICY = RetryPolicy(max_attempts=2, backoff=timedelta(seconds=30))
ADMIN = Actor("staff", 1, "admin@example.org")


@pytest.fixture
def smtp() -> Iterator[tuple[RecordingHandler, SMTPTransport]]:
    with smtp_server() as (handler, port):
        yield handler, SMTPTransport(host="127.0.0.1", port=port, starttls=False, timeout=5)


def abandoned(session: Any, smtp: tuple[RecordingHandler, SMTPTransport], to: str = "citizen@example.org",
              now: datetime | None = None) -> OutboxMessage:
    """A message the real SMTP server refused on every attempt, so the outbox gave up on it."""
    handler, transport = smtp
    message = queue_test_message(session, to=to)
    session.commit()
    handler.failures_left = POLICY.max_attempts
    at = now or utcnow()
    for _ in range(POLICY.max_attempts):
        deliver_due(session, transport, SENDER, at, POLICY)
        at += timedelta(hours=1)
    session.refresh(message)
    assert message.status == OutboxStatus.FAILED and handler.failures_left == 0
    return message


def audit_entries(session: Any) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).where(AuditEntry.action == "outbox.requeued")))


def test_a_requeued_message_is_delivered_once_and_audited(session: Any, smtp: Any) -> None:
    handler, transport = smtp
    message = abandoned(session, smtp)
    now = utcnow()
    assert requeue(session, [message.id], by=ADMIN, now=now) == [message.id]
    session.commit()
    session.refresh(message)
    assert (message.status, message.attempts, message.next_attempt_at) == (OutboxStatus.PENDING, 0, now)
    [entry] = audit_entries(session)
    assert (entry.actor_label, entry.entity_id) == ("admin@example.org", str(message.id))
    assert entry.changes == {"status": ["failed", "pending"], "attempts": [2, 0]}
    # Idempotent: asked again before the worker ran, nothing changes and nothing more is recorded.
    assert requeue(session, [message.id], by=ADMIN, now=now) == []
    assert len(audit_entries(session)) == 1
    assert deliver_due(session, transport, SENDER, now, POLICY).sent == 1
    assert [m["To"] for m in handler.messages] == ["citizen@example.org"]
    # Sent now: requeueing it again is refused and changes nothing.
    with pytest.raises(DomainError) as refused:
        requeue(session, [message.id], by=ADMIN, now=now)
    assert refused.value.code == ErrorCode.CONFLICT
    session.refresh(message)
    assert message.status == OutboxStatus.SENT and len(handler.messages) == 1


def test_a_requeued_message_gets_a_fresh_set_of_attempts(session: Any, smtp: Any) -> None:
    handler, transport = smtp
    message = abandoned(session, smtp)
    requeue(session, [message.id], by=ADMIN, now=utcnow())
    session.commit()
    handler.failures_left = 1  # still failing once: a retry, not a give-up at once
    assert deliver_due(session, transport, SENDER, utcnow(), POLICY).retried == 1
    session.refresh(message)
    assert message.status == OutboxStatus.PENDING and message.attempts == 1


def test_requeueing_all_abandoned_leaves_the_others_alone(session: Any, smtp: Any) -> None:
    handler, transport = smtp
    first, second = abandoned(session, smtp, "a@example.org"), abandoned(session, smtp, "b@example.org")
    waiting = queue_test_message(session, to="c@example.org")
    session.commit()
    before = waiting.next_attempt_at
    assert requeue(session, ALL_ABANDONED, by=ADMIN, now=utcnow()) == [first.id, second.id]
    session.commit()
    session.refresh(waiting)
    assert waiting.next_attempt_at == before and len(audit_entries(session)) == 2
    assert requeue(session, ALL_ABANDONED, by=ADMIN, now=utcnow()) == []
    assert deliver_due(session, transport, SENDER, utcnow(), POLICY).sent == 3
    assert sorted(str(m["To"]) for m in handler.messages) == ["a@example.org", "b@example.org", "c@example.org"]


def test_an_unknown_or_sent_message_refuses_the_whole_request(session: Any, smtp: Any) -> None:
    _handler, transport = smtp
    failed = abandoned(session, smtp)
    sent = queue_test_message(session, to="sent@example.org")
    session.commit()
    deliver_due(session, transport, SENDER, utcnow(), POLICY)
    with pytest.raises(DomainError) as unknown:
        requeue(session, [failed.id, 987654], by=ADMIN, now=utcnow())
    assert unknown.value.code == ErrorCode.NOT_FOUND and "987654" in str(unknown.value)
    with pytest.raises(DomainError):
        requeue(session, [failed.id, sent.id], by=ADMIN, now=utcnow())
    session.refresh(failed)
    assert failed.status == OutboxStatus.FAILED and audit_entries(session) == []


def test_abandoned_and_overdue_messages_are_listed_for_admins(session: Any, smtp: Any) -> None:
    failed = abandoned(session, smtp)
    overdue = queue_test_message(session, to="late@example.org")
    fresh = queue_test_message(session, to="fresh@example.org")
    session.commit()
    now = utcnow()
    overdue.next_attempt_at = now - STUCK_AFTER - timedelta(minutes=1)
    session.commit()
    troubled = troubled_messages(session, now)
    assert [m.id for m in troubled.abandoned] == [failed.id]
    assert [m.id for m in troubled.stuck] == [overdue.id]
    assert fresh.id not in [m.id for m in troubled.stuck]


# --------------------------------------------------------------------------- the command line


def test_cli_lists_failed_mail_without_bodies_and_requeues_it(app: Flask, session: Any, smtp: Any) -> None:
    handler, transport = smtp
    failed = abandoned(session, smtp, "anna@example.org")
    queue_test_message(session, to="waiting@example.org")
    session.commit()
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["outbox", "list", "--status", "failed"])
    assert listed.exit_code == 0, listed.output
    [line] = listed.output.splitlines()
    assert line.startswith(f"{failed.id}\tfailed\tattempts=2\t")
    assert "anna@example.org" in line and failed.subject in line and "451" in line
    assert "Здравствуйте" not in listed.output  # the body never appears in a listing
    everything = runner.invoke(args=["outbox", "list"])
    assert "waiting@example.org" in everything.output and "anna@example.org" in everything.output

    requeued = runner.invoke(args=["outbox", "requeue", str(failed.id)])
    assert requeued.exit_code == 0, requeued.output
    assert requeued.output.strip() == f"requeued 1 message(s): {failed.id}"
    assert runner.invoke(args=["outbox", "requeue", str(failed.id)]).output.strip() == "requeued 0 message(s)"
    assert [e.actor_label for e in audit_entries(session)] == ["cli"]
    assert deliver_due(session, transport, SENDER, utcnow(), POLICY).sent == 2
    assert sorted(str(m["To"]) for m in handler.messages) == ["anna@example.org", "waiting@example.org"]

    refused = runner.invoke(args=["outbox", "requeue", str(failed.id)])
    assert refused.exit_code != 0 and str(failed.id) in refused.output


def test_cli_requeues_every_failed_message(app: Flask, session: Any, smtp: Any) -> None:
    handler, transport = smtp
    abandoned(session, smtp, "a@example.org")
    abandoned(session, smtp, "b@example.org")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["outbox", "requeue", "--all-failed"])
    assert result.exit_code == 0 and result.output.startswith("requeued 2 message(s)"), result.output
    assert deliver_due(session, transport, SENDER, utcnow(), POLICY).sent == 2
    assert len(handler.messages) == 2


@pytest.mark.parametrize("args", [[], ["1", "--all-failed"], ["abc"], ["0"], ["99999999999999999999"]])
def test_cli_requeue_needs_ids_or_all_failed(app: Flask, session: Any, args: list[str]) -> None:
    result = app.test_cli_runner().invoke(args=["outbox", "requeue", *args])
    assert result.exit_code == 2, result.output  # a usage error, not a traceback
