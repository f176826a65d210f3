"""Idempotency-Key on the partner API's POSTs: a retry returns the first answer and changes nothing.

Every answer is checked against the OpenAPI document too. The race between parallel requests
and a connection cut against a real server are in tests/integration/test_idempotent_retries.py.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from booking.api.idempotency import SEAL_PURPOSE, IdempotentRequest, StoredAnswer, answer_sealer, stored_answer
from booking.apikeys import create_key
from booking.jobs import purge_idempotent_answers
from booking.models import Booking
from booking.tickets.models import Ticket
from scheduler.audit import Actor
from scheduler.db import utcnow
from scheduler.mail.models import OutboxMessage
from scheduler.sealing import Sealer
from tests.ticket_fixtures import completed_booking
from tests.web.test_api_bookings import CITIZEN, bearer, book, booking_body, other_citizen, post_booking, token_of
from tests.web.test_openapi import assert_documented

KEY = "5f0c7a1e-8d2b-4c39-9e61-2a7b3c4d5e6f"


@pytest.fixture
def setup(session: Any) -> Any:
    from tests.booking_fixtures import bookable_setup

    return bookable_setup(session)


@pytest.fixture
def partner(session: Any) -> tuple[int, str]:
    row, key = create_key(session, "Городской портал", Actor.system("test"))
    return row.id, key


def headers(key: str, idempotency_key: str | None = KEY) -> dict[str, str]:
    return {**bearer(key), **({"Idempotency-Key": idempotency_key} if idempotency_key is not None else {})}


def count(session: Any, model: Any, *where: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(*where)))


def mails(session: Any, template: str) -> int:
    return count(session, OutboxMessage, OutboxMessage.template == template)


def post(client: Any, path: str, documented_path: str, **kw: Any) -> Any:
    response = client.post(path, **kw)
    assert_documented(response, "POST", documented_path)
    return response


def create(client: Any, body: Any, headers: dict[str, str]) -> Any:
    return post(client, "/api/v1/bookings", "/api/v1/bookings", json=body, headers=headers)


# --- creating ----------------------------------------------------------------------------------------------

def test_a_retried_booking_returns_the_first_answer_and_books_once(client: Any, session: Any, setup: Any,
                                                                   partner: tuple[int, str]) -> None:
    _id, key = partner
    first = create(client, booking_body(setup), headers=headers(key))
    assert first.status_code == 201, first.get_json()
    assert "Idempotent-Replayed" not in first.headers

    again = create(client, booking_body(setup), headers=headers(key))
    assert again.status_code == 201
    assert again.get_data() == first.get_data()
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Content-Type"] == first.headers["Content-Type"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Cache-Control"] == "no-store"
    assert count(session, Booking) == 1
    assert mails(session, "booking_confirmed") == 1  # no second confirmation email


def test_without_a_key_a_repeat_is_a_new_request(client: Any, session: Any, setup: Any,
                                                 partner: tuple[int, str]) -> None:
    _id, key = partner
    assert post_booking(client, key, booking_body(setup)).status_code == 201
    again = post_booking(client, key, booking_body(setup))
    assert again.status_code == 409 and "Idempotent-Replayed" not in again.headers
    assert count(session, Booking) == 1
    assert count(session, IdempotentRequest) == 0


def test_the_same_key_with_another_body_is_422_and_changes_nothing(client: Any, session: Any, setup: Any,
                                                                    partner: tuple[int, str]) -> None:
    _id, key = partner
    created = create(client, booking_body(setup), headers=headers(key)).get_json()
    other = create(client, booking_body(setup, 11, citizen=other_citizen(2)), headers=headers(key))
    assert other.status_code == 422
    assert other.get_json()["error"] == "idempotency_key_reused"
    assert "Idempotency-Key" in other.get_json()["fields"]
    # another path is another request too
    cancel = post(client, f"/api/v1/bookings/{created['code']}/cancel", "/api/v1/bookings/{code}/cancel",
                  headers=headers(key))
    assert cancel.status_code == 422 and cancel.get_json()["error"] == "idempotency_key_reused"
    assert count(session, Booking) == 1
    assert session.scalars(select(Booking)).one().status == "confirmed"
    assert mails(session, "booking_confirmed") == 1


def test_keys_belong_to_one_partner(client: Any, session: Any, setup: Any, partner: tuple[int, str]) -> None:
    _id, key = partner
    _row, other_key = create_key(session, "Колл-центр", Actor.system("test"))
    assert create(client, booking_body(setup), headers=headers(key)).status_code == 201
    theirs = create(client, booking_body(setup, 11, citizen=other_citizen(2)), headers=headers(other_key))
    assert theirs.status_code == 201 and "Idempotent-Replayed" not in theirs.headers
    assert count(session, Booking) == 2


def test_a_quoted_key_is_the_same_key(client: Any, session: Any, setup: Any, partner: tuple[int, str]) -> None:
    """The draft standard sends the key as a Structured Fields string; bare keys are common too."""
    _id, key = partner
    assert create(client, booking_body(setup), headers=headers(key)).status_code == 201
    quoted = create(client, booking_body(setup), headers=headers(key, f'"{KEY}"'))
    assert quoted.status_code == 201 and quoted.headers["Idempotent-Replayed"] == "true"
    assert count(session, Booking) == 1


@pytest.mark.parametrize("bad", ["", '""', "k" * 256, "ключ", "tab\there", "del\x7f"])
def test_a_malformed_key_is_422_on_the_header_and_books_nothing(client: Any, session: Any, setup: Any,
                                                                partner: tuple[int, str], bad: str) -> None:
    _id, key = partner
    response = create(client, booking_body(setup), headers=headers(key, bad))
    assert response.status_code == 422, response.get_json()
    body = response.get_json()
    assert body["error"] == "validation" and set(body["fields"]) == {"Idempotency-Key"}
    assert count(session, Booking) == 0 and count(session, IdempotentRequest) == 0


def test_a_key_of_255_printable_characters_is_accepted(client: Any, session: Any, setup: Any,
                                                       partner: tuple[int, str]) -> None:
    _id, key = partner
    longest = ("A key with spaces & symbols: !#$%~ " * 8)[:255]
    assert create(client, booking_body(setup), headers=headers(key, longest)).status_code == 201
    again = create(client, booking_body(setup), headers=headers(key, longest))
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize("joined", ['"a", "b"', "a, b", '"a","b"'])
def test_two_keys_in_one_request_are_422(client: Any, session: Any, setup: Any, partner: tuple[int, str],
                                         joined: str) -> None:
    """A server hands repeated header lines to the app joined by commas."""
    _id, key = partner
    response = create(client, booking_body(setup), headers=headers(key, joined))
    assert response.status_code == 422 and set(response.get_json()["fields"]) == {"Idempotency-Key"}
    assert count(session, Booking) == 0


def test_without_valid_credentials_the_key_is_ignored(client: Any, session: Any, setup: Any) -> None:
    for auth in ({}, {"Authorization": "Bearer okno_00000000_wrong"}):
        response = create(client, booking_body(setup), headers={**auth, "Idempotency-Key": "x" * 300})
        assert response.status_code == 401
    assert count(session, IdempotentRequest) == 0


# --- which answers are kept ----------------------------------------------------------------------------------

def test_a_client_error_is_kept_and_replayed(client: Any, session: Any, setup: Any,
                                             partner: tuple[int, str]) -> None:
    """The same request would be refused again, so the retry gets the refusal (the draft standard's advice)."""
    _id, key = partner
    body = booking_body(setup, citizen={**CITIZEN, "phone": "12"})
    first = create(client, body, headers=headers(key))
    assert first.status_code == 422 and "citizen.phone" in first.get_json()["fields"]
    again = create(client, body, headers=headers(key))
    assert again.status_code == 422 and again.get_data() == first.get_data()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert count(session, Booking) == 0
    # a corrected request needs a new key
    fixed = create(client, booking_body(setup), headers=headers(key))
    assert fixed.status_code == 422 and fixed.get_json()["error"] == "idempotency_key_reused"
    assert create(client, booking_body(setup), headers=headers(key, "new-key")).status_code == 201


# --- cancelling, rescheduling, follow-ups --------------------------------------------------------------------

def test_a_retried_cancel_returns_the_first_answer(client: Any, session: Any, setup: Any,
                                                   partner: tuple[int, str]) -> None:
    _id, key = partner
    created = book(client, key, setup)
    path = f"/api/v1/bookings/{created['code']}/cancel"
    first = post(client, path, "/api/v1/bookings/{code}/cancel", headers=headers(key))
    assert first.status_code == 200 and first.get_json()["status"] == "cancelled"
    again = post(client, path, "/api/v1/bookings/{code}/cancel", headers=headers(key))
    assert again.status_code == 200 and again.get_data() == first.get_data()  # not 409 "already cancelled"
    assert mails(session, "booking_cancelled") == 1


def test_a_retried_cancel_by_manage_token_returns_the_first_answer(client: Any, session: Any, setup: Any,
                                                                   partner: tuple[int, str]) -> None:
    """Without a partner key the key space is the manage token's (kept as a hash)."""
    _id, key = partner
    created = book(client, key, setup)
    path = f"/api/v1/bookings/{created['code']}/cancel"
    kw = {"query_string": {"token": token_of(created)}, "headers": {"Idempotency-Key": KEY}}
    first = post(client, path, "/api/v1/bookings/{code}/cancel", **kw)
    again = post(client, path, "/api/v1/bookings/{code}/cancel", **kw)
    assert first.status_code == again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert mails(session, "booking_cancelled") == 1
    row = session.scalars(select(IdempotentRequest)).one()
    assert row.caller.startswith("token:") and token_of(created) not in row.caller


def test_a_retried_reschedule_moves_once(client: Any, session: Any, setup: Any, partner: tuple[int, str]) -> None:
    _id, key = partner
    created = book(client, key, setup, 10)
    path = f"/api/v1/bookings/{created['code']}/reschedule"
    body = {"start": setup.at(12, 30).isoformat()}
    first = post(client, path, "/api/v1/bookings/{code}/reschedule", json=body, headers=headers(key))
    assert first.status_code == 200, first.get_json()
    again = post(client, path, "/api/v1/bookings/{code}/reschedule", json=body, headers=headers(key))
    assert again.status_code == 200 and again.get_data() == first.get_data()
    assert session.scalars(select(Booking)).one().sequence == 2
    assert mails(session, "booking_rescheduled") == 1


def test_a_retried_followup_opens_one_ticket(client: Any, session: Any, setup: Any,
                                             partner: tuple[int, str]) -> None:
    key_id, key = partner
    booking = completed_booking(session, setup, partner_key_id=key_id)
    path = f"/api/v1/bookings/{booking.code}/followup"
    body = {"summary": "Сообщить, когда придёт мастер"}
    first = post(client, path, "/api/v1/bookings/{code}/followup", json=body, headers=headers(key))
    assert first.status_code == 201, first.get_json()
    again = post(client, path, "/api/v1/bookings/{code}/followup", json=body, headers=headers(key))
    assert again.status_code == 201 and again.get_data() == first.get_data()
    assert again.headers["Location"] == first.headers["Location"]
    assert count(session, Ticket) == 1
    assert mails(session, "ticket_opened") == 1


def test_a_staff_members_retried_followup_opens_one_ticket(client: Any, session: Any, setup: Any) -> None:
    """Signed-in staff have a key space of their own; a colleague's same key is another request."""
    from tests.helpers import login

    booking = completed_booking(session, setup)
    path = f"/api/v1/bookings/{booking.code}/followup"
    body = {"summary": "Сообщить, когда придёт мастер"}
    login(client, setup.experts[0].user)
    first = post(client, path, "/api/v1/bookings/{code}/followup", json=body, headers={"Idempotency-Key": KEY})
    again = post(client, path, "/api/v1/bookings/{code}/followup", json=body, headers={"Idempotency-Key": KEY})
    assert first.status_code == again.status_code == 201 and again.get_data() == first.get_data()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert count(session, Ticket) == 1
    assert session.scalars(select(IdempotentRequest)).one().caller == f"staff:{setup.experts[0].user.id}"


# --- storage and expiry -------------------------------------------------------------------------------------

def test_stored_answers_are_sealed(app: Any, client: Any, session: Any, setup: Any,
                                   partner: tuple[int, str]) -> None:
    """The answer holds the manage link and personal data: the table keeps neither readable."""
    _id, key = partner
    first = create(client, booking_body(setup), headers=headers(key))
    created = first.get_json()
    row = session.scalars(select(IdempotentRequest)).one()
    assert row.status_code == 201 and row.location == f"/api/v1/bookings/{created['code']}"
    for secret in (token_of(created), CITIZEN["email"], "Смирнова"):
        assert secret not in row.sealed_body
    opened = stored_answer(row, answer_sealer(app.config))
    assert isinstance(opened, StoredAnswer) and opened.body == first.get_data()
    assert stored_answer(row, Sealer(["another-secret-key-" * 3], SEAL_PURPOSE)) is None
    # After a rotation the old key, kept as a fallback, still opens it.
    rotated = {"SECRET_KEY": "a-new-secret-key-" * 3, "SECRET_KEY_FALLBACKS": [app.config["SECRET_KEY"]]}
    reopened = stored_answer(row, answer_sealer(rotated))
    assert reopened is not None and reopened.body == first.get_data()


def test_answers_expire_after_24_hours(client: Any, session: Any, setup: Any, partner: tuple[int, str],
                                       time_machine: Any) -> None:
    _id, key = partner
    start = utcnow()
    time_machine.move_to(start, tick=False)
    assert create(client, booking_body(setup), headers=headers(key)).status_code == 201

    time_machine.move_to(start + timedelta(hours=23, minutes=59), tick=False)
    assert purge_idempotent_answers() == 0
    replay = create(client, booking_body(setup), headers=headers(key))
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"

    time_machine.move_to(start + timedelta(hours=24, seconds=1), tick=False)
    # expired but not purged yet: the key is free again, so the same key may carry a new request
    fresh = create(client, booking_body(setup, 11, citizen=other_citizen(5)), headers=headers(key))
    assert fresh.status_code == 201 and "Idempotent-Replayed" not in fresh.headers
    assert count(session, Booking) == 2

    time_machine.move_to(start + timedelta(hours=48, seconds=2), tick=False)
    assert purge_idempotent_answers() == 1
    assert count(session, IdempotentRequest) == 0


def test_a_body_too_large_is_still_a_400_with_a_key(client: Any, session: Any, setup: Any,
                                                    partner: tuple[int, str]) -> None:
    """The key's fingerprint reads the body: it must do so under the API's 64 KiB limit, like the view."""
    _id, key = partner
    body = booking_body(setup, question="x" * 70_000)
    for idempotency_key in (None, KEY):
        response = create(client, body, headers=headers(key, idempotency_key))
        assert response.status_code == 400 and response.get_json()["error"] == "bad_request"
    assert count(session, Booking) == 0 and count(session, IdempotentRequest) == 0


@pytest.mark.parametrize(("header", "key"), [
    ("abc", "abc"), ('"abc"', "abc"), ("  abc  ", "abc"), ('"a\\"b"', 'a"b'), ('"a\\\\b"', "a\\b"),
    ('"with space"', "with space"), ('"a,b"', "a,b"), ("x" * 255, "x" * 255),
    ('"a\\x"', None), ('"a"b"', None), ('"a\\"', None), ('a"b', None), ("a,b", None), ('"', None),
    ("", None), ('""', None), ("x" * 256, None), ("é", None), ("a\tb", None),
])
def test_the_key_format(app_ctx: Any, header: str, key: str | None) -> None:
    """A Structured Fields string (RFC 8941) or a bare key; repeated headers, joined by commas, never pass."""
    from booking.api.errors import APIError
    from booking.api.idempotency import parse_key

    with app_ctx.test_request_context():
        if key is None:
            with pytest.raises(APIError) as refused:
                parse_key(header)
            assert refused.value.status == 422 and set(refused.value.extra["fields"]) == {"Idempotency-Key"}
        else:
            assert parse_key(header) == key
