"""The admin's outbox page: abandoned and overdue mail, requeued with a button and delivered for real."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from scheduler.audit import AuditEntry
from scheduler.auth.models import Role
from scheduler.db import utcnow
from scheduler.mail.delivery import RetryPolicy, SMTPTransport, deliver_due
from scheduler.mail.models import OutboxMessage, OutboxStatus
from scheduler.mail.operations import STUCK_AFTER
from tests.helpers import csrf_token, login, make_user
from tests.integration.test_outbox import SENDER, queue_test_message
from tests.smtp_server import RecordingHandler, smtp_server

POLICY = RetryPolicy(max_attempts=2)


@pytest.fixture
def smtp() -> Iterator[tuple[RecordingHandler, SMTPTransport]]:
    with smtp_server() as (handler, port):
        yield handler, SMTPTransport(host="127.0.0.1", port=port, starttls=False, timeout=5)


def failed_message(session: Any, to: str) -> OutboxMessage:
    """A message given up on (its failures recorded as the outbox records them)."""
    message = queue_test_message(session, to=to)
    message.status = OutboxStatus.FAILED
    message.attempts = 10
    message.last_error = "SMTPRecipientsRefused: 451 4.3.0 Temporary failure"
    session.commit()
    return message


def as_admin(client: FlaskClient, session: Any) -> str:
    login(client, make_user(session, role=Role.ADMIN))
    # End the test's own transaction: a delivery below rolls back whatever it still holds open,
    # which would take the requests' committed work with it.
    session.commit()
    return csrf_token(client, "/staff/outbox")


def deliver(session: Any, transport: SMTPTransport) -> int:
    """What the worker would do now. The test's own transaction is committed first: it wraps the
    requests' work, which the delivery's rollbacks would otherwise take away."""
    session.commit()
    return deliver_due(session, transport, SENDER, utcnow(), POLICY).sent


def test_admin_sees_abandoned_and_overdue_mail_but_no_bodies(client: FlaskClient, session: Any) -> None:
    failed = failed_message(session, "anna@example.org")
    overdue = queue_test_message(session, to="late@example.org")
    session.commit()
    overdue.next_attempt_at = utcnow() - STUCK_AFTER - timedelta(minutes=1)
    session.commit()
    as_admin(client, session)
    page = client.get("/staff/outbox").get_data(as_text=True)
    abandoned = page[page.index('id="abandoned"'):page.index('id="stuck"')]
    assert "<caption>" in abandoned and 'scope="col"' in abandoned
    assert f'id="abandoned-{failed.id}"' in abandoned and "anna@example.org" in abandoned
    assert failed.subject in abandoned and "451 4.3.0" in abandoned
    assert f'name="message_id" value="{failed.id}"' in abandoned and 'name="all" value="1"' in abandoned
    stuck = page[page.index('id="stuck"'):]
    assert f'id="stuck-{overdue.id}"' in stuck and "late@example.org" in stuck
    assert "Здравствуйте" not in page  # message bodies are never listed
    assert "Отправить ещё раз" in page  # Russian by default


def test_requeue_button_sends_the_message_again(client: FlaskClient, session: Any, smtp: Any) -> None:
    handler, transport = smtp
    failed = failed_message(session, "anna@example.org")
    other = failed_message(session, "boris@example.org")
    token = as_admin(client, session)
    response = client.post("/staff/outbox/requeue", data={"message_id": str(failed.id), "csrf_token": token})
    assert response.status_code == 303 and response.headers["Location"].endswith("/staff/outbox")
    page = client.get("/staff/outbox").get_data(as_text=True)
    assert "1 письмо будет отправлено ещё раз." in page
    assert f'id="abandoned-{failed.id}"' not in page and f'id="abandoned-{other.id}"' in page
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "outbox.requeued")).one()
    assert entry.actor_type == "staff" and entry.entity_id == str(failed.id)
    assert deliver(session, transport) == 1
    assert [str(m["To"]) for m in handler.messages] == ["anna@example.org"]
    # Clicked again (a second tab): the message was sent, so it is refused with a message, not sent twice.
    again = client.post("/staff/outbox/requeue", data={"message_id": str(failed.id), "csrf_token": token},
                        follow_redirects=True)
    assert again.status_code == 200 and "Уже отправлено" in again.get_data(as_text=True)
    assert len(handler.messages) == 1


def test_requeue_all_button_in_english(client: FlaskClient, session: Any, smtp: Any) -> None:
    handler, transport = smtp
    for to in ("a@example.org", "b@example.org"):
        failed_message(session, to)
    token = as_admin(client, session)
    client.post("/language", data={"lang": "en", "next": "/staff/outbox", "csrf_token": token})
    response = client.post("/staff/outbox/requeue", data={"all": "1", "csrf_token": token}, follow_redirects=True)
    text = response.get_data(as_text=True)
    assert response.status_code == 200 and "2 messages will be sent again." in text, text
    assert "No message was given up on." in text
    assert deliver(session, transport) == 2
    assert sorted(str(m["To"]) for m in handler.messages) == ["a@example.org", "b@example.org"]


@pytest.mark.parametrize("data", [{"message_id": "abc"}, {"message_id": "99999999999"}, {"message_id": "²"},
                                  {"message_id": "1\x00"}, {"message_id": "-1"}, {}])
def test_a_bad_requeue_request_is_a_clear_400(client: FlaskClient, session: Any, data: dict[str, str]) -> None:
    token = as_admin(client, session)
    response = client.post("/staff/outbox/requeue", data={**data, "csrf_token": token})
    assert response.status_code == 400


def test_an_unknown_message_is_refused_with_a_message(client: FlaskClient, session: Any) -> None:
    token = as_admin(client, session)
    response = client.post("/staff/outbox/requeue", data={"message_id": "424242", "csrf_token": token},
                           follow_redirects=True)
    assert response.status_code == 200 and "424242" in response.get_data(as_text=True)


def test_requeue_needs_a_csrf_token(client: FlaskClient, session: Any) -> None:
    failed = failed_message(session, "anna@example.org")
    as_admin(client, session)
    assert client.post("/staff/outbox/requeue", data={"message_id": str(failed.id)}).status_code == 400
    session.refresh(failed)
    assert failed.status == OutboxStatus.FAILED


@pytest.mark.parametrize("role", [Role.EXPERT, Role.RECEPTION, Role.SUPERVISOR])
def test_only_admins_may_see_or_requeue(client: FlaskClient, session: Any, role: Role) -> None:
    failed = failed_message(session, "anna@example.org")
    login(client, make_user(session, role=role))
    token = csrf_token(client, "/staff/")  # the sign-out form's: a valid token, so the refusal is the role's
    assert client.get("/staff/outbox").status_code == 403
    for data in ({"all": "1"}, {"message_id": str(failed.id)}):
        assert client.post("/staff/outbox/requeue", data={**data, "csrf_token": token}).status_code == 403
    session.refresh(failed)
    assert failed.status == OutboxStatus.FAILED


def test_the_admins_workspace_links_to_the_outbox(client: FlaskClient, session: Any) -> None:
    failed_message(session, "anna@example.org")
    as_admin(client, session)
    home = client.get("/staff/").get_data(as_text=True)
    assert 'href="/staff/outbox"' in home and "1 письмо с прекращённой отправкой" in home
