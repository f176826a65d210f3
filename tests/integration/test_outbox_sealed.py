"""The outbox keeps nothing readable: bodies sealed while waiting, gone once delivered (real SMTP)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, text

from booking.links import manage_token_for, manage_url
from booking.notifications import send_confirmation_code, send_confirmed
from scheduler.audit import Actor
from scheduler.db import utcnow
from scheduler.mail.compose import queue_email, read_content
from scheduler.mail.delivery import RetryPolicy, SMTPTransport, deliver_due
from scheduler.mail.models import OutboxMessage, OutboxStatus, mail_sealer
from scheduler.mail.operations import requeue
from tests.booking_fixtures import bookable_setup
from tests.integration.test_outbox import SENDER
from tests.integration.test_workspace_services import confirmed
from tests.smtp_server import RecordingHandler, smtp_server

POLICY = RetryPolicy(max_attempts=2, backoff=timedelta(seconds=30))
ADMIN = Actor("staff", 1, "admin@example.org")
PERSONAL_TOKEN = "Zq3-personal-page-token-9fK2xT"
CODE = "493817"


@pytest.fixture
def smtp() -> Iterator[tuple[RecordingHandler, SMTPTransport]]:
    with smtp_server() as (handler, port):
        yield handler, SMTPTransport(host="127.0.0.1", port=port, starttls=False, timeout=5)


def raw_rows(session: Any) -> str:
    """Every column of every outbox row, as the database holds it (what a dump or a DBA would see)."""
    rows = session.execute(text("SELECT * FROM outbox_messages")).all()
    return "\n".join(" | ".join(str(value) for value in row) for row in rows)


def secret_mail(app: Flask, session: Any) -> tuple[list[str], str]:
    """A personal-page link, a confirmation code and a confirmation with its manage link and .ics."""
    setup = bookable_setup(session)
    booking = confirmed(session, setup, 10)
    send_confirmed(session, booking, app.config, setup.at(8) - timedelta(days=1))
    send_confirmation_code(session, booking, CODE, app.config)
    link = f"https://okno.example.org/my/{PERSONAL_TOKEN}"
    queue_email(session, to=booking.citizen_email, template="citizen_link", context={"link": link, "hours": 24})
    session.commit()
    token = manage_token_for(booking, app.config)
    return [token, manage_url(booking, app.config), link, PERSONAL_TOKEN, CODE, booking.citizen_name,
            "BEGIN:VCALENDAR"], booking.citizen_email


def test_queued_bodies_are_sealed_and_delivered_ones_are_gone(app: Flask, session: Any, smtp: Any) -> None:
    handler, transport = smtp
    secrets, email = secret_mail(app, session)
    stored = raw_rows(session)
    assert stored.count(email) == 3  # the recipients are kept (until retention), the bodies are not readable
    for secret in secrets:
        assert secret not in stored, secret

    assert deliver_due(session, transport, SENDER, utcnow(), POLICY).sent == 3
    # The mail arrived intact: the link, the code and the calendar invitation.
    delivered = "\n".join(str(part.get_content()) for message in handler.messages for part in message.walk()
                          if not part.is_multipart())
    for secret in secrets:
        assert secret in delivered, secret
    assert session.scalars(select(OutboxMessage.sealed_body)).all() == [None, None, None]
    stored = raw_rows(session)
    for secret in secrets:
        assert secret not in stored, secret
    with pytest.raises(Exception, match="delivered"):
        read_content(session.scalars(select(OutboxMessage)).first())


def test_given_up_mail_keeps_its_sealed_body_and_a_requeue_delivers_it(app: Flask, session: Any, smtp: Any) -> None:
    handler, transport = smtp
    secrets, _email = secret_mail(app, session)
    handler.failures_left = 3 * POLICY.max_attempts
    at = utcnow()
    for _ in range(POLICY.max_attempts):
        deliver_due(session, transport, SENDER, at, POLICY)
        at += timedelta(hours=1)
    rows = session.scalars(select(OutboxMessage)).all()
    assert {row.status for row in rows} == {OutboxStatus.FAILED} and all(row.sealed_body for row in rows)
    for secret in secrets:
        assert secret not in raw_rows(session), secret

    assert len(requeue(session, [row.id for row in rows], by=ADMIN, now=at)) == 3
    session.commit()
    assert deliver_due(session, transport, SENDER, at, POLICY).sent == 3
    assert PERSONAL_TOKEN in "".join(str(m.get_body(("plain",)).get_content()) for m in handler.messages)
    assert session.scalars(select(OutboxMessage.sealed_body)).all() == [None, None, None]


def test_mail_sealed_before_a_key_rotation_goes_out_while_the_old_key_is_a_fallback(
        app: Flask, session: Any, smtp: Any) -> None:
    handler, transport = smtp
    _secrets, _email = secret_mail(app, session)
    old_key = app.config["SECRET_KEY"]
    rotated = {"SECRET_KEY": "a-new-and-long-secret-key-for-okno-" * 2, "SECRET_KEY_FALLBACKS": [old_key]}
    dropped = {"SECRET_KEY": rotated["SECRET_KEY"], "SECRET_KEY_FALLBACKS": []}

    # With the old key dropped, nothing can be read: the mail is given up visibly, its sealed body kept.
    report = deliver_due(session, transport, SENDER, utcnow(), POLICY, sealer=mail_sealer(dropped))
    assert (report.sent, report.failed) == (0, 3) and handler.messages == []
    rows = session.scalars(select(OutboxMessage)).all()
    assert all(row.sealed_body and "no longer configured" in row.last_error for row in rows)

    # The old key listed as a fallback again: a requeue delivers every message.
    requeue(session, [row.id for row in rows], by=ADMIN, now=utcnow())
    session.commit()
    assert deliver_due(session, transport, SENDER, utcnow(), POLICY, sealer=mail_sealer(rotated)).sent == 3
    assert len(handler.messages) == 3
