"""The partner booking API: keys, creating, reading, cancelling, rescheduling, invitations and rate limits.

Every JSON response is also checked against the OpenAPI document (status documented, body fits).
"""

from __future__ import annotations

import json
import re
from datetime import time, timedelta
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from booking.apikeys import api_key_cli, create_key, revoke_key, verify_key
from booking.models import ApiKey, Booking, BookingStatus
from scheduler.audit import Actor, AuditEntry
from scheduler.mail.compose import read_content
from scheduler.mail.models import OutboxMessage
from scheduler.schedules.models import Channel
from tests.booking_fixtures import bookable_setup, two_office_setup
from tests.factories import add_reception_day, add_weekly, make_expert, make_location
from tests.web.test_openapi import assert_documented

CITIZEN = {"name": "Анна Петровна Смирнова", "email": "anna.smirnova@example.org", "phone": "+7 912 345-67-89",
           "applicant_type": "individual"}
QUESTION = "Хочу заменить старую газовую плиту на новую с газ-контролем."
ITEM = "/api/v1/bookings/{code}"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def booking_body(setup: Any, hour: int = 10, minute: int = 0, **overrides: Any) -> dict[str, Any]:
    return {"topic": setup.topic.slug, "channel": "video", "start": setup.at(hour, minute).isoformat(),
            "citizen": dict(CITIZEN), "question": QUESTION, "consent_personal_data": True, **overrides}


def other_citizen(n: int) -> dict[str, str]:
    return {**CITIZEN, "email": f"citizen{n}@example.org", "phone": f"+7 912 000-00-{n:02d}"}


@pytest.fixture
def setup(session: Any) -> Any:
    return bookable_setup(session)


@pytest.fixture
def key(session: Any) -> str:
    return create_key(session, "Городской портал", Actor.system("test"))[1]


@pytest.fixture
def other_key(session: Any) -> str:
    return create_key(session, "Колл-центр", Actor.system("test"))[1]


def post_booking(client: Any, key: str | None, body: Any, **kw: Any) -> Any:
    headers = bearer(key) if key else {}
    if isinstance(body, str | bytes):
        response = client.post("/api/v1/bookings", data=body, headers=headers, content_type="application/json", **kw)
    else:
        response = client.post("/api/v1/bookings", json=body, headers=headers, **kw)
    assert_documented(response, "POST", "/api/v1/bookings")
    return response


def book(client: Any, key: str, setup: Any, hour: int = 10, **overrides: Any) -> dict[str, Any]:
    response = post_booking(client, key, booking_body(setup, hour, **overrides))
    assert response.status_code == 201, response.get_json()
    return response.get_json()  # type: ignore[no-any-return]


def token_of(booking_json: dict[str, Any]) -> str:
    return booking_json["manage_url"].split("token=", 1)[1]


# --- keys ------------------------------------------------------------------------------------------

def test_keys_are_stored_only_as_hashes_and_revocation_is_immediate(session: Any) -> None:
    row, key = create_key(session, "  Портал   Госуслуг ", Actor.system("test"))
    assert key.startswith(f"okno_{row.prefix}_") and len(key) > 40
    assert row.name == "Портал Госуслуг"
    assert key not in (row.key_hash, row.prefix) and len(row.key_hash) == 64
    assert verify_key(session, key).id == row.id  # type: ignore[union-attr]
    assert verify_key(session, key + "x") is None
    assert verify_key(session, f"okno_{row.prefix}_wrong") is None
    assert verify_key(session, "") is None and verify_key(session, "x" * 10_000) is None
    revoke_key(session, row.prefix, Actor.system("test"))
    assert verify_key(session, key) is None
    audit = session.scalars(select(AuditEntry).where(AuditEntry.entity_type == "api_key").order_by(AuditEntry.id)).all()
    assert [a.action for a in audit] == ["api_key.created", "api_key.revoked"]
    assert all(key not in json.dumps(a.changes) for a in audit)


def test_cli_creates_lists_and_revokes_keys(app: Flask, session: Any) -> None:
    runner = app.test_cli_runner()

    def run(*args: str) -> Any:
        return runner.invoke(api_key_cli, list(args))

    created = run("create", "Городской портал")
    assert created.exit_code == 0, created.output
    key = created.output.strip().splitlines()[-1]
    assert key.startswith("okno_") and " " not in key
    partner = verify_key(session, key)
    assert partner is not None and partner.name == "Городской портал"

    listed = run("list")
    assert listed.exit_code == 0 and partner.prefix in listed.output and "active" in listed.output
    assert key not in listed.output

    revoked = run("revoke", partner.prefix)
    assert revoked.exit_code == 0, revoked.output
    assert verify_key(session, key) is None
    assert "revoked" in run("list").output
    assert run("revoke", partner.prefix).exit_code != 0
    assert run("revoke", "ffffffff").exit_code != 0
    assert run("create", "   ").exit_code != 0


def test_the_api_key_command_is_registered(app: Flask) -> None:
    """`flask api-key create NAME` (API.md). Wired in the composition root: scheduler must not import booking."""
    assert app.cli.commands.get("api-key") is api_key_cli, (
        "register booking.apikeys.api_key_cli in scheduler/app.py register_commands()"
    )


# --- creating --------------------------------------------------------------------------------------

def test_partner_books_a_confirmed_consultation(client: Any, session: Any, setup: Any, key: str) -> None:
    response = post_booking(client, key, booking_body(setup, 10, expert=setup.experts[1].id))
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert response.headers["Location"] == f"/api/v1/bookings/{body['code']}"
    assert body["status"] == "confirmed" and body["topic"] == "stove" and body["channel"] == "video"
    assert body["start"] == f"{setup.day.isoformat()}T10:00:00+03:00"
    assert body["end"] == f"{setup.day.isoformat()}T10:30:00+03:00"
    assert body["expert"] == {"id": setup.experts[1].id, "name": "Эксперт 2"}
    assert body["location"] is None
    # A video booking carries its room and the join window (10 minutes before, 30 after).
    video = body["video"]
    assert video["opens_at"] == f"{setup.day.isoformat()}T09:50:00+03:00"
    assert video["closes_at"] == f"{setup.day.isoformat()}T11:00:00+03:00"
    assert re.fullmatch(r"[a-z0-9]{20,}", video["room"])
    assert video["join_url"].startswith(f"http://okno.example.org/video/{body['code']}?token=")
    assert body["citizen"] == {"name": CITIZEN["name"], "email": CITIZEN["email"], "phone": "+79123456789",
                               "applicant_type": "individual", "organisation": "", "inn": ""}
    assert body["manage_url"].startswith(f"http://okno.example.org/manage/{body['code']}?token=")
    assert body["ics_url"] == (f"http://okno.example.org/api/v1/bookings/{body['code']}/invite.ics"
                               f"?token={token_of(body)}")

    booking = session.scalars(select(Booking).where(Booking.code == body["code"])).one()
    row = session.scalars(select(ApiKey)).one()
    assert booking.status == BookingStatus.CONFIRMED and booking.source == "api"
    assert booking.partner_key_id == row.id and booking.hold_expires_at is None and booking.sequence == 1
    assert [e.kind for e in booking.events] == ["held", "confirmed"]
    assert {e.actor_type for e in booking.events} == {"partner"}
    mail = session.scalars(select(OutboxMessage).where(OutboxMessage.template == "booking_confirmed")).one()
    assert mail.to_address == CITIZEN["email"]
    assert any(a["content_type"] == "text/calendar" for a in read_content(mail).attachments)
    audit = session.scalars(select(AuditEntry).where(AuditEntry.entity_id == booking.code)).all()
    assert audit and all(CITIZEN["email"] not in json.dumps(a.changes) + a.actor_label for a in audit)


def test_in_person_times_are_given_in_the_offices_zone(client: Any, session: Any, key: str) -> None:
    setup = bookable_setup(session, experts=0, allows_video=False, allows_in_person=True)
    office = make_location(session, setup.department, timezone="Asia/Yekaterinburg", name="Офис", address="ул. 1")
    expert = make_expert(session, setup.department, [setup.topic], full_name="Эксперт Офиса")
    add_reception_day(session, office, [setup.topic], [expert], weekdays=[0, 1, 2, 3, 4], starts=time(12),
                      ends=time(15))
    add_weekly(session, expert, starts=time(0), ends=time(23, 59), channel=Channel.IN_PERSON)
    slots = client.get("/api/v1/slots", query_string={"topic": "stove", "channel": "in_person",
                                                       "from": setup.day.isoformat(), "to": setup.day.isoformat()})
    first = slots.get_json()["slots"][0]
    response = post_booking(client, key, {**booking_body(setup), "channel": "in_person", "start": first["start"]})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["start"] == first["start"] and body["start"].endswith("+05:00")
    assert body["location"] == {"id": office.id, "name": "Офис", "address": "ул. 1"}


@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": "Bearer okno_00000000_not-a-real-key"},
    {"Authorization": "Bearer "},
    {"Authorization": "Basic dXNlcjpwYXNz"},
    {"Authorization": "okno_x_y"},
])
def test_creating_needs_a_valid_key(client: Any, setup: Any, key: str, headers: dict[str, str]) -> None:
    response = client.post("/api/v1/bookings", json=booking_body(setup), headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert_documented(response, "POST", "/api/v1/bookings")


def test_a_revoked_key_is_refused(client: Any, session: Any, setup: Any, key: str) -> None:
    revoke_key(session, key, Actor.system("test"))  # a whole key is accepted as well as its prefix
    response = post_booking(client, key, booking_body(setup))
    assert response.status_code == 401 and response.get_json()["error"] == "unauthorized"
    assert session.scalar(select(Booking.id)) is None


@pytest.mark.parametrize("raw", [
    b"{",
    b"not json",
    b"",
    b"null",
    b"[1, 2]",
    b'"a string"',
    b"\xff\xfe\x00garbage",
    b"[" * 100_000,
    b'{"expert": ' + b"9" * 5000 + b"}",
    json.dumps({"question": "x" * 70_000}).encode(),
])
def test_malformed_bodies_are_bad_requests(client: Any, setup: Any, key: str, raw: bytes) -> None:
    response = post_booking(client, key, raw)
    assert response.status_code == 400, response.get_data()[:200]
    assert response.get_json()["error"] == "bad_request"


def test_a_body_without_a_json_content_type_is_still_read(client: Any, setup: Any, key: str) -> None:
    response = client.post("/api/v1/bookings", data=json.dumps(booking_body(setup)), headers=bearer(key),
                           content_type="text/plain")
    assert response.status_code == 201


def _set(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    if "." in path:
        outer, inner = path.split(".")
        body[outer] = {**body[outer], inner: value}
    else:
        body[path] = value
    return body


DELETE = object()

INVALID = [
    ("start", 5, "start"),
    ("start", "tomorrow at ten", "start"),
    ("start", "2030-01-10T10:00:00", "start"),  # no offset
    ("start", "2020-01-10T10:00:00+03:00", "start"),  # past
    ("start", "9999-12-31T23:59:59+03:00", "start"),
    ("start", "0001-01-01T00:00:00+03:00", "start"),
    ("start", None, "start"),
    ("start", DELETE, "start"),
    ("topic", "no-such-topic", "topic"),
    ("topic", "", "topic"),
    ("topic", ["stove"], "topic"),
    ("topic", "stove\x00", "topic"),
    ("topic", "s" * 20_000, "topic"),
    ("channel", "phone", "channel"),
    ("channel", "in_person", "channel"),  # not offered for this topic
    ("channel", 1, "channel"),
    ("expert", "1", "expert"),
    ("expert", True, "expert"),
    ("expert", 0, "expert"),
    ("expert", 2**40, "expert"),
    ("expert", 1.5, "expert"),
    ("location", "1", "location"),
    ("location", 0, "location"),
    ("location", 2**40, "location"),
    ("consent_personal_data", DELETE, "consent_personal_data"),
    ("consent_personal_data", False, "consent_personal_data"),
    ("consent_personal_data", "yes", "consent_personal_data"),
    ("consent_personal_data", 1, "consent_personal_data"),
    ("question", "short", "question"),
    ("question", "q" * 5000, "question"),
    ("question", {"text": QUESTION}, "question"),
    ("citizen", "x", "citizen"),
    ("citizen", None, "citizen"),
    ("citizen", [CITIZEN], "citizen"),
    ("citizen.phone", "12345", "citizen.phone"),
    ("citizen.phone", 79123456789, "citizen.phone"),
    ("citizen.phone", "9" * 5000, "citizen.phone"),
    ("citizen.email", "not-an-email", "citizen.email"),
    ("citizen.email", "a" * 300 + "@example.org", "citizen.email"),
    ("citizen.name", "", "citizen.name"),
    ("citizen.name", DELETE, "citizen.name"),
    ("citizen.name", "Я" * 9000, "citizen.name"),
    ("citizen.name", "Анна\x00", "citizen.name"),
    ("citizen.name", {"first": "Анна"}, "citizen.name"),
    ("citizen.applicant_type", "company", "citizen.applicant_type"),
    ("citizen.applicant_type", "legal_entity", "citizen.organisation"),  # then an organisation and INN are needed
    ("citizen.inn", 7707083893, "citizen.inn"),
]


@pytest.mark.parametrize(("path", "value", "field"), INVALID, ids=[f"{p}={v!r:.30}" for p, v, _f in INVALID])
def test_invalid_fields_are_reported_by_path(client: Any, session: Any, setup: Any, key: str, path: str,
                                              value: Any, field: str) -> None:
    body = booking_body(setup)
    if value is DELETE:
        outer, _dot, inner = path.partition(".")
        if inner:
            body[outer] = {k: v for k, v in body[outer].items() if k != inner}
        else:
            del body[outer]
    else:
        _set(body, path, value)
    response = post_booking(client, key, body)
    assert response.status_code == 422, response.get_json()
    error = response.get_json()
    assert error["error"] == "validation" and field in error["fields"], error
    assert session.scalar(select(Booking.id)) is None


def test_every_problem_is_reported_at_once(client: Any, setup: Any, key: str) -> None:
    body = {"topic": "stove", "channel": "video", "start": 5, "citizen": {"name": 1, "phone": "12"}, "question": ""}
    fields = post_booking(client, key, body).get_json()["fields"]
    assert set(fields) == {"start", "consent_personal_data", "citizen.name", "citizen.email", "citizen.phone",
                           "citizen.applicant_type", "question"}


def test_lone_surrogates_are_a_validation_error_not_a_crash(client: Any, setup: Any, key: str) -> None:
    raw = json.dumps(booking_body(setup), ensure_ascii=False).replace("Анна", "\\ud800").encode()
    response = post_booking(client, key, raw)
    assert response.status_code == 422 and "citizen.name" in response.get_json()["fields"]


def test_a_legal_entity_books_with_organisation_and_inn(client: Any, session: Any, setup: Any, key: str) -> None:
    citizen = {**CITIZEN, "applicant_type": "legal_entity", "organisation": "ООО «Ромашка»", "inn": "7707083893"}
    body = book(client, key, setup, citizen=citizen)
    assert body["citizen"]["organisation"] == "ООО «Ромашка»" and body["citizen"]["inn"] == "7707083893"


def test_an_applicant_type_the_topic_does_not_take_is_refused(client: Any, session: Any, setup: Any,
                                                              key: str) -> None:
    setup.topic.allows_legal_entities = False
    session.flush()
    citizen = {**CITIZEN, "applicant_type": "legal_entity", "organisation": "ООО «Ромашка»", "inn": "7707083893"}
    response = post_booking(client, key, booking_body(setup, citizen=citizen))
    assert response.status_code == 422 and "citizen.applicant_type" in response.get_json()["fields"]


def test_a_taken_slot_is_a_conflict_with_alternatives(client: Any, setup: Any, key: str) -> None:
    first = setup.experts[0].id
    book(client, key, setup, 10, expert=first)
    response = post_booking(client, key, booking_body(setup, 10, expert=first, citizen=other_citizen(1)))
    assert response.status_code == 409
    error = response.get_json()
    assert error["error"] == "slot_taken" and error["alternatives"]
    assert all(s["expert"]["id"] == first for s in error["alternatives"])
    assert setup.at(10).isoformat() not in [s["start"] for s in error["alternatives"]]

    off_grid = post_booking(client, key, booking_body(setup, 10, 7, citizen=other_citizen(2)))
    assert off_grid.status_code == 409 and off_grid.get_json()["error"] == "slot_taken"


def test_too_many_active_bookings_is_limit_reached(client: Any, setup: Any, key: str) -> None:
    book(client, key, setup, 10)
    response = post_booking(client, key, booking_body(setup, 11))
    assert response.status_code == 409 and response.get_json()["error"] == "limit_reached"


def test_an_unknown_expert_is_a_validation_error(client: Any, setup: Any, key: str) -> None:
    response = post_booking(client, key, booking_body(setup, expert=999_999))
    assert response.status_code == 422 and "expert" in response.get_json()["fields"]


# --- reading -------------------------------------------------------------------------------------

def get_item(client: Any, url: str, **kw: Any) -> Any:
    response = client.get(url, **kw)
    assert_documented(response, "GET", ITEM)
    return response


def test_reading_with_the_partners_key_or_the_manage_token(client: Any, setup: Any, key: str,
                                                          other_key: str) -> None:
    created = book(client, key, setup)
    code = created["code"]
    url = f"/api/v1/bookings/{code}"

    own = get_item(client, url, headers=bearer(key))
    assert own.status_code == 200 and own.get_json() == created
    assert own.headers["Cache-Control"] == "no-store"
    assert get_item(client, f"/api/v1/bookings/{code[:4].lower()}-{code[4:].lower()}", headers=bearer(key)
                    ).get_json() == created
    assert get_item(client, url, query_string={"token": token_of(created)}).get_json() == created
    # another partner with the token may read it too: the token is the citizen's consent to show it
    assert get_item(client, url, headers=bearer(other_key), query_string={"token": token_of(created)}
                    ).status_code == 200

    assert get_item(client, url, headers=bearer(other_key)).status_code == 404  # not its booking
    assert get_item(client, url, query_string={"token": "wrong"}).status_code == 404
    assert get_item(client, url, query_string={"token": "t" * 5000}).status_code == 404
    assert get_item(client, "/api/v1/bookings/ZZZZZZZZ", headers=bearer(key)).status_code == 404
    assert get_item(client, "/api/v1/bookings/%00%FF", headers=bearer(key)).status_code == 404
    assert get_item(client, "/api/v1/bookings/" + "A" * 300, headers=bearer(key)).status_code == 404

    missing = get_item(client, url)
    assert missing.status_code == 401 and missing.get_json()["error"] == "unauthorized"
    wrong_key = get_item(client, url, headers=bearer("okno_1_2"), query_string={"token": token_of(created)})
    assert wrong_key.status_code == 401


def test_the_invitation(client: Any, setup: Any, key: str) -> None:
    created = book(client, key, setup)
    url = f"/api/v1/bookings/{created['code']}/invite.ics"
    for kw in ({"headers": bearer(key)}, {"query_string": {"token": token_of(created)}}):
        response = client.get(url, **kw)
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
        assert response.headers["Cache-Control"] == "no-store"
        text = response.get_data(as_text=True)
        assert "BEGIN:VCALENDAR" in text and "METHOD:REQUEST" in text and created["code"] in text
        assert_documented(response, "GET", "/api/v1/bookings/{code}/invite.ics")
    for kw, status in (({}, 401), ({"query_string": {"token": "nope"}}, 404)):
        response = client.get(url, **kw)
        assert response.status_code == status
        assert_documented(response, "GET", "/api/v1/bookings/{code}/invite.ics")


# --- cancelling ----------------------------------------------------------------------------------

def post_action(client: Any, code: str, action: str, **kw: Any) -> Any:
    response = client.post(f"/api/v1/bookings/{code}/{action}", **kw)
    assert_documented(response, "POST", f"/api/v1/bookings/{{code}}/{action}")
    return response


def test_cancelling_by_token_frees_the_time_and_tells_the_citizen(client: Any, session: Any, setup: Any,
                                                                 key: str) -> None:
    created = book(client, key, setup, expert=setup.experts[0].id)
    token = {"query_string": {"token": token_of(created)}}
    response = post_action(client, created["code"], "cancel", **token)
    assert response.status_code == 200
    assert response.get_json() == {**created, "status": "cancelled", "video": None}  # no room once cancelled
    mail = session.scalars(select(OutboxMessage).where(OutboxMessage.template == "booking_cancelled")).one()
    assert mail.to_address == CITIZEN["email"]
    booking = session.scalars(select(Booking)).one()
    assert booking.events[-1].kind == "cancelled" and booking.events[-1].actor_type == "citizen"

    again = post_action(client, created["code"], "cancel", **token)
    assert again.status_code == 409 and again.get_json()["error"] == "conflict"
    ics = client.get(f"/api/v1/bookings/{created['code']}/invite.ics", **token).get_data(as_text=True)
    assert "METHOD:CANCEL" in ics
    # the time is free again
    assert post_booking(client, key, booking_body(setup, expert=setup.experts[0].id, citizen=other_citizen(3))
                        ).status_code == 201


def test_cancelling_needs_access_and_a_future_booking(client: Any, session: Any, setup: Any, key: str,
                                                      other_key: str) -> None:
    created = book(client, key, setup)
    code = created["code"]
    assert post_action(client, code, "cancel").status_code == 401
    assert post_action(client, code, "cancel", headers=bearer(other_key)).status_code == 404
    assert post_action(client, "NOSUCHCD", "cancel", headers=bearer(key)).status_code == 404

    booking = session.scalars(select(Booking).where(Booking.code == code)).one()
    month = timedelta(days=30)
    session.execute(update(Booking).where(Booking.code == code)
                    .values(starts_at=booking.starts_at - month, ends_at=booking.ends_at - month))
    session.commit()
    past = post_action(client, code, "cancel", headers=bearer(key))
    assert past.status_code == 409 and past.get_json()["error"] == "conflict"
    assert session.scalars(select(Booking)).one().status == BookingStatus.CONFIRMED


# --- rescheduling --------------------------------------------------------------------------------

def test_rescheduling_keeps_the_code_and_sends_the_new_invitation(client: Any, session: Any, setup: Any,
                                                                 key: str) -> None:
    created = book(client, key, setup, 10)
    response = post_action(client, created["code"], "reschedule", headers=bearer(key),
                           json={"start": setup.at(12, 30).isoformat()})
    assert response.status_code == 200, response.get_json()
    moved = response.get_json()
    assert moved["code"] == created["code"] and moved["status"] == "confirmed"
    assert moved["start"] == setup.at(12, 30).isoformat() and moved["expert"] == created["expert"]
    booking = session.scalars(select(Booking)).one()
    assert booking.sequence == 2 and booking.events[-1].kind == "rescheduled"
    assert session.scalars(select(OutboxMessage).where(OutboxMessage.template == "booking_rescheduled")).one()
    ics = client.get(f"/api/v1/bookings/{created['code']}/invite.ics", headers=bearer(key)).get_data(as_text=True)
    assert "SEQUENCE:2" in ics

    by_token = post_action(client, created["code"], "reschedule", query_string={"token": token_of(created)},
                           json={"start": setup.at(9).isoformat(), "expert": setup.experts[1].id})
    assert by_token.status_code == 200 and by_token.get_json()["expert"]["id"] == setup.experts[1].id


def test_rescheduling_errors(client: Any, session: Any, setup: Any, key: str, other_key: str) -> None:
    first = setup.experts[0].id
    created = book(client, key, setup, 10, expert=first)
    book(client, key, setup, 11, expert=first, citizen=other_citizen(4))
    code = created["code"]
    auth = {"headers": bearer(key)}

    taken = post_action(client, code, "reschedule", json={"start": setup.at(11).isoformat(), "expert": first}, **auth)
    assert taken.status_code == 409
    assert taken.get_json()["error"] == "slot_taken" and taken.get_json()["alternatives"]

    for body, field in (({}, "start"), ({"start": 5}, "start"), ({"start": "2020-01-01T10:00:00+03:00"}, "start"),
                        ({"start": setup.at(12).isoformat(), "expert": "x"}, "expert"),
                        ({"start": setup.at(12).isoformat(), "expert": 999_999}, "expert")):
        response = post_action(client, code, "reschedule", json=body, **auth)
        assert response.status_code == 422 and field in response.get_json()["fields"], (body, response.get_json())
    for raw in (b"{", b"[]", b"null"):
        response = post_action(client, code, "reschedule", data=raw, content_type="application/json", **auth)
        assert response.status_code == 400 and response.get_json()["error"] == "bad_request"

    assert post_action(client, code, "reschedule", json={"start": setup.at(12).isoformat()}).status_code == 401
    assert post_action(client, code, "reschedule", json={"start": setup.at(12).isoformat()},
                       headers=bearer(other_key)).status_code == 404

    assert post_action(client, code, "cancel", **auth).status_code == 200
    cancelled = post_action(client, code, "reschedule", json={"start": setup.at(12).isoformat()}, **auth)
    assert cancelled.status_code == 409 and cancelled.get_json()["error"] == "conflict"
    assert session.scalars(select(Booking).where(Booking.code == code)).one().starts_at == setup.at(10)


# --- rate limits ---------------------------------------------------------------------------------

def test_partners_are_limited_per_key_not_per_address(app: Flask, client: Any, monkeypatch: pytest.MonkeyPatch,
                                                      key: str, other_key: str) -> None:
    monkeypatch.setitem(app.config, "API_PARTNER_RATE_LIMIT", "3 per minute")
    monkeypatch.setitem(app.config, "API_RATE_LIMIT", "2 per minute")
    same_address = {"REMOTE_ADDR": "203.0.113.7"}

    def topics(headers: dict[str, str], address: dict[str, str] = same_address) -> Any:
        response = client.get("/api/v1/topics", headers=headers, environ_base=address)
        assert_documented(response, "GET", "/api/v1/topics")
        return response

    # each key has its own budget (the partner one, not the anonymous one) from the same address
    assert [topics(bearer(key)).status_code for _ in range(3)] == [200, 200, 200]
    limited = topics(bearer(key))
    assert limited.status_code == 429
    assert limited.get_json()["error"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) > 0
    assert [topics(bearer(other_key)).status_code for _ in range(3)] == [200, 200, 200]
    assert topics(bearer(other_key)).status_code == 429
    # ...and keeps it from another address
    assert topics(bearer(key), {"REMOTE_ADDR": "198.51.100.1"}).status_code == 429

    # anonymous callers from that address are counted apart, per address
    assert [topics({}).status_code for _ in range(2)] == [200, 200]
    assert topics({}).status_code == 429
    assert topics({}, {"REMOTE_ADDR": "198.51.100.2"}).status_code == 200


def test_a_wrong_key_counts_against_the_address(app: Flask, client: Any, monkeypatch: pytest.MonkeyPatch,
                                                key: str) -> None:
    monkeypatch.setitem(app.config, "API_RATE_LIMIT", "2 per minute")
    address = {"REMOTE_ADDR": "203.0.113.9"}
    for _ in range(2):
        assert client.get("/api/v1/bookings/ABCDEFGH", headers=bearer("okno_bad_key"),
                          environ_base=address).status_code == 401
    blocked = client.get("/api/v1/bookings/ABCDEFGH", headers=bearer("okno_bad_key"), environ_base=address)
    assert blocked.status_code == 429 and blocked.get_json()["error"] == "rate_limited"
    assert "Retry-After" in blocked.headers
    assert client.get("/api/v1/topics", headers=bearer(key), environ_base=address).status_code == 200


def test_booking_creation_is_rate_limited_per_key(app: Flask, client: Any, monkeypatch: pytest.MonkeyPatch,
                                                  setup: Any, key: str) -> None:
    monkeypatch.setitem(app.config, "API_PARTNER_RATE_LIMIT", "2 per minute")
    statuses = [post_booking(client, key, booking_body(setup, 9 + n, citizen=other_citizen(10 + n))).status_code
                for n in range(3)]
    assert statuses == [201, 201, 429]


def test_the_audit_log_never_holds_keys_or_tokens(client: Any, session: Any, setup: Any, key: str) -> None:
    created = book(client, key, setup)
    post_action(client, created["code"], "cancel", query_string={"token": token_of(created)})
    dumped = json.dumps([[a.action, a.actor_label, a.changes] for a in session.scalars(select(AuditEntry))])
    assert key not in dumped and token_of(created) not in dumped and key.split("_", 2)[2] not in dumped


# --- whatever a client sends, never a 500 ----------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
FUZZ = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _maybe(valid: Any) -> Any:
    return st.one_of(st.just(valid), JSON_VALUES)


@pytest.fixture
def to_move(client: Any, setup: Any, key: str) -> dict[str, Any]:
    return book(client, key, setup, 12, citizen=other_citizen(20))


@FUZZ
@given(data=st.data())
def test_random_bodies_never_break_the_api(client: Any, setup: Any, key: str, to_move: dict[str, Any],
                                           data: Any) -> None:
    valid = booking_body(setup, 10, expert=setup.experts[0].id)
    citizen = data.draw(st.one_of(JSON_VALUES, st.fixed_dictionaries({k: _maybe(v) for k, v in CITIZEN.items()})))
    body = data.draw(st.fixed_dictionaries({k: _maybe(v) for k, v in valid.items() if k != "citizen"}))
    body["citizen"] = citizen
    dropped = data.draw(st.lists(st.sampled_from(sorted(body)), max_size=3))
    body = {k: v for k, v in body.items() if k not in dropped}
    response = post_booking(client, key, body)
    assert response.status_code in (201, 409, 422), response.get_json()

    reschedule = st.fixed_dictionaries({"start": _maybe(setup.at(11).isoformat()), "expert": JSON_VALUES})
    moved = post_action(client, to_move["code"], "reschedule", headers=bearer(key),
                        json=data.draw(st.one_of(JSON_VALUES, reschedule)))
    assert moved.status_code in (200, 400, 409, 422), moved.get_json()


def test_the_office_given_is_the_office_booked_and_moved_to(client: Any, session: Any, key: str) -> None:
    """An in-person booking names its office; the API books there or answers slot_taken, never elsewhere."""
    setup, (first, second) = two_office_setup(session)
    body = {**booking_body(setup, 10, channel="in_person"), "location": second.id}
    created = book(client, key, setup, 10, channel="in_person", location=second.id)
    assert created["location"]["id"] == second.id

    # One seat is left at 10:00, at the second office only: the expert cannot be in the first one too.
    taken = post_booking(client, key, {**body, "location": first.id, "citizen": other_citizen(1)})
    assert taken.status_code == 409 and taken.get_json()["error"] == "slot_taken"
    assert {a["location"]["id"] for a in taken.get_json()["alternatives"]} == {first.id}
    assert session.scalar(select(Booking.location_id).where(Booking.code == created["code"])) == second.id

    moved = client.post(ITEM.format(code=created["code"]) + "/reschedule", headers=bearer(key),
                        json={"start": setup.at(9, 0).isoformat(), "location": first.id})
    assert_documented(moved, "POST", "/api/v1/bookings/{code}/reschedule")
    assert moved.status_code == 200, moved.get_json()
    assert moved.get_json()["location"]["id"] == first.id


def test_an_office_for_a_video_booking_or_an_unknown_office_is_a_validation_error(client: Any, session: Any,
                                                                                   setup: Any, key: str) -> None:
    office = make_location(session, setup.department)
    for location in (10**6, office.id):
        response = post_booking(client, key, booking_body(setup, location=location))
        assert response.status_code == 422, response.get_json()
        assert set(response.get_json()["fields"]) == {"location"}
