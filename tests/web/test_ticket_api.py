"""The ticket endpoints of the JSON API: opening a follow-up (partner or staff) and reading a ticket.

Every JSON response is checked against the OpenAPI document too.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from booking.apikeys import create_key
from booking.tickets.models import Ticket
from scheduler.audit import Actor
from scheduler.auth.models import Role
from scheduler.mail.compose import read_content
from scheduler.mail.models import OutboxMessage
from tests.booking_fixtures import bookable_setup
from tests.helpers import login, make_user
from tests.ticket_fixtures import completed_booking
from tests.web.test_openapi import assert_documented

FOLLOWUP = "/api/v1/bookings/{code}/followup"
TICKET = "/api/v1/tickets/{number}"
BODY = {"summary": "Сообщить, когда придёт мастер"}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def setup(session: Any) -> Any:
    return bookable_setup(session)


@pytest.fixture
def partner(session: Any) -> tuple[int, str]:
    row, key = create_key(session, "Городской портал", Actor.system("test"))
    return row.id, key


def test_a_partner_opens_a_followup_for_its_booking_and_reads_it(client: FlaskClient, session: Any, setup: Any,
                                                                  partner: tuple[int, str]) -> None:
    key_id, key = partner
    booking = completed_booking(session, setup, partner_key_id=key_id)
    response = client.post(FOLLOWUP.format(code=booking.code), json=BODY, headers=bearer(key))
    assert response.status_code == 201, response.get_json()
    assert_documented(response, "POST", FOLLOWUP)
    body = response.get_json()
    assert body["status"] == "open" and body["booking"] == booking.code and body["answered_at"] is None
    assert body["department"]["slug"] == setup.department.slug
    assert datetime.fromisoformat(body["due_at"]).utcoffset().total_seconds() == 3 * 3600
    assert response.headers["Location"] == f"/api/v1/tickets/{body['number']}"

    read = client.get(TICKET.format(number=body["number"]), headers=bearer(key))
    assert read.status_code == 200 and read.get_json() == body
    assert_documented(read, "GET", TICKET)

    mail = session.scalar(select(OutboxMessage).where(OutboxMessage.template == "ticket_opened"))
    link = next(word for word in read_content(mail).text_body.split() if "/tickets/" in word)
    token = parse_qs(urlsplit(link).query)["token"][0]
    by_token = client.get(TICKET.format(number=body["number"]), query_string={"token": token})
    assert by_token.status_code == 200 and by_token.get_json()["number"] == body["number"]


def test_other_partners_and_wrong_tokens_get_a_404_and_no_credentials_a_401(
        client: FlaskClient, session: Any, setup: Any, partner: tuple[int, str]) -> None:
    key_id, key = partner
    other_key = create_key(session, "Колл-центр", Actor.system("test"))[1]
    booking = completed_booking(session, setup, partner_key_id=key_id)
    number = client.post(FOLLOWUP.format(code=booking.code), json=BODY, headers=bearer(key)).get_json()["number"]

    for response in (
        client.post(FOLLOWUP.format(code=booking.code), json=BODY, headers=bearer(other_key)),
        client.get(TICKET.format(number=number), headers=bearer(other_key)),
        client.get(TICKET.format(number=number), query_string={"token": "forged"}),
        client.get(TICKET.format(number="2026-999999"), headers=bearer(key)),
        client.post(FOLLOWUP.format(code="NOSUCHCD"), json=BODY, headers=bearer(key)),
    ):
        assert response.status_code == 404
        assert response.get_json()["error"] == "not_found"
    anonymous = client.post(FOLLOWUP.format(code=booking.code), json=BODY)
    assert anonymous.status_code == 401
    assert_documented(anonymous, "POST", FOLLOWUP)
    assert client.get(TICKET.format(number=number)).status_code == 401
    assert client.get(TICKET.format(number=number), headers=bearer("wrong")).status_code == 401
    assert session.scalar(select(Ticket).where(Ticket.number != number)) is None


def test_refusals_are_409_for_a_booking_not_held_and_422_for_a_bad_body(
        client: FlaskClient, session: Any, setup: Any, partner: tuple[int, str]) -> None:
    key_id, key = partner
    booking = completed_booking(session, setup, partner_key_id=key_id)
    path = FOLLOWUP.format(code=booking.code)
    for body, field in (({}, "summary"), ({"summary": 5}, "summary"),
                        ({"summary": "Ответ", "department": "nowhere"}, "department")):
        response = client.post(path, json=body, headers=bearer(key))
        assert response.status_code == 422 and field in response.get_json()["fields"]
        assert_documented(response, "POST", FOLLOWUP)
    malformed = client.post(path, data="{", headers={**bearer(key), "Content-Type": "application/json"})
    assert malformed.status_code == 400
    booking.status = booking.status.CONFIRMED
    session.flush()
    conflict = client.post(path, json=BODY, headers=bearer(key))
    assert conflict.status_code == 409 and conflict.get_json()["error"] == "conflict"
    assert_documented(conflict, "POST", FOLLOWUP)


def test_staff_open_followups_with_json_only_and_only_for_their_consultations(
        client: FlaskClient, session: Any, setup: Any) -> None:
    booking = completed_booking(session, setup)
    path = FOLLOWUP.format(code=booking.code)
    login(client, setup.experts[1].user)  # not this consultation's expert
    assert client.post(path, json=BODY).status_code == 404

    expert = client.application.test_client()
    login(expert, setup.experts[0].user)
    # A cross-site form could post text/plain with the staff cookie: only JSON is accepted.
    forged = expert.post(path, data=json.dumps(BODY), headers={"Content-Type": "text/plain"})
    assert forged.status_code == 400
    created = expert.post(path, json={**BODY, "department": setup.department.slug})
    assert created.status_code == 201
    number = created.get_json()["number"]
    assert expert.get(TICKET.format(number=number)).status_code == 200

    reception = client.application.test_client()
    login(reception, make_user(session, role=Role.RECEPTION))
    assert reception.post(path, json=BODY).status_code == 401
    assert reception.get(TICKET.format(number=number)).status_code == 401


def test_the_openapi_document_lists_the_ticket_endpoints(client: FlaskClient) -> None:
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert "post" in paths[FOLLOWUP] and "get" in paths[TICKET]
