"""The OpenAPI document describes the API exactly: every route, its methods, and its responses' shapes.

The document is generated from the views' declared models; `jsonschema` checks live responses
against it (the booking, ticket and analytics tests use ``assert_documented`` on every response
they get), and openapi-spec-validator checks the document itself against OpenAPI 3.1.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pytest
from flask import Flask
from jsonschema import Draft202012Validator, FormatChecker
from openapi_spec_validator import validate as validate_openapi

from booking.apikeys import create_key
from scheduler.audit import Actor
from scheduler.openapi import api_spec
from tests.booking_fixtures import bookable_setup

API_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}
FORMATS = FormatChecker()  # date, email, uri and the rest jsonschema knows, and:


@FORMATS.checks("date-time", raises=ValueError)
def _instant_with_offset(value: object) -> bool:
    """The contract's instants are ISO 8601 with an explicit offset."""
    return not isinstance(value, str) or datetime.fromisoformat(value).utcoffset() is not None


def document() -> dict[str, Any]:
    """The generated document (needs the application context the test fixtures push)."""
    return api_spec.spec  # type: ignore[no-any-return]


def problems(value: Any, schema: dict[str, Any], doc: dict[str, Any]) -> list[str]:
    """Every way ``value`` breaks ``schema`` (which may refer to the document's components); empty when it fits."""
    validator = Draft202012Validator({**schema, "components": doc["components"]}, format_checker=FORMATS)
    return [f"{'.'.join(map(str, e.absolute_path)) or '$'}: {e.message}" for e in validator.iter_errors(value)]


def assert_documented(response: Any, method: str, path: str, doc: dict[str, Any] | None = None) -> None:
    """The response's status is documented for this operation and its JSON body fits the documented schema."""
    doc = doc or document()
    operation = doc["paths"][path][method.lower()]
    status = str(response.status_code)
    assert status in operation["responses"], f"{method} {path} answered {status}, which is not documented"
    content = operation["responses"][status].get("content")
    if not content:
        return
    media = response.mimetype
    assert media in content, f"{method} {path} {status} answered {media}, documented {list(content)}"
    if media == "application/json":
        found = problems(response.get_json(), content[media]["schema"], doc)
        assert not found, f"{method} {path} {status}: {found}"


# --- the checker itself ----------------------------------------------------------------------------

def test_checker_catches_what_it_claims_to(app_ctx: Flask) -> None:
    doc = document()
    slot = {"start": "2026-12-01T10:00:00+03:00", "end": "2026-12-01T10:30:00+03:00", "channel": "video",
            "expert": {"id": 1, "name": "A"}, "location": None, "seats_left": 1}
    schema = {"$ref": "#/components/schemas/Slot"}
    assert problems(slot, schema, doc) == []
    assert problems({**slot, "channel": "phone"}, schema, doc)
    assert problems({**slot, "start": "2026-12-01T10:00:00"}, schema, doc)
    assert problems({**slot, "start": "tomorrow"}, schema, doc)
    assert problems({**slot, "seats_left": True}, schema, doc)
    assert problems({**slot, "location": {"id": 1}}, schema, doc)
    assert problems({k: v for k, v in slot.items() if k != "expert"}, schema, doc)
    assert problems({**slot, "expert": {"id": "1", "name": "A"}}, schema, doc)
    assert problems([slot], schema, doc)
    assert problems({"error": "validation", "message": "x", "fields": {"a": 1}}, {"$ref": "#/components/schemas/Error"},
                    doc)


# --- the document --------------------------------------------------------------------------------

def _rule_to_path(rule: str) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def test_document_is_served_and_is_valid_openapi_3_1(client: Any) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    body = response.get_json()
    assert body["openapi"].startswith("3.1")
    validate_openapi(body)  # the OpenAPI 3.1 meta-schema, every $ref resolving
    assert body == client.application.json.loads(client.application.json.dumps(document()))


def test_every_api_route_is_documented_with_its_methods_and_nothing_else(app_ctx: Flask) -> None:
    routes: dict[str, set[str]] = {}
    for rule in app_ctx.url_map.iter_rules():
        if rule.rule.startswith("/api/") or rule.rule in ("/healthz", "/readyz"):
            routes.setdefault(_rule_to_path(rule.rule), set()).update((rule.methods or set()) & API_METHODS)
    documented = {path: {m.upper() for m in item if m.upper() in API_METHODS}
                  for path, item in document()["paths"].items()}
    assert routes == documented


def test_every_operation_declares_its_parameters_and_security(app_ctx: Flask) -> None:
    doc = document()
    for path, item in doc["paths"].items():
        for name in re.findall(r"{(\w+)}", path):
            for operation in item.values():
                declared = {(p["name"], p["in"]) for p in operation.get("parameters", [])}
                assert (name, "path") in declared, f"{path}: {name} not declared"
        for operation in item.values():
            for scheme in (s for alternatives in operation.get("security", []) for s in alternatives):
                assert scheme in doc["components"]["securitySchemes"]


def test_channels_are_declared_once(app_ctx: Flask) -> None:
    """Every channel in the document is the one Channel schema, never a copied list."""
    doc = document()
    assert doc["components"]["schemas"]["Channel"]["enum"] == ["video", "in_person"]
    enums: list[Any] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            enums.extend([node["enum"]] if "enum" in node else [])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)
    assert [e for e in enums if "video" in e] == [["video", "in_person"]]


# --- live responses against the document ---------------------------------------------------------

@pytest.fixture
def sample_setup(session: Any) -> Any:
    return bookable_setup(session)


def test_live_responses_match_the_document(client: Any, session: Any, sample_setup: Any) -> None:
    setup = sample_setup
    doc = document()
    _row, key = create_key(session, "Городской портал", Actor.system("test"))
    auth = {"Authorization": f"Bearer {key}"}

    topics = client.get("/api/v1/topics")
    assert topics.status_code == 200 and topics.get_json()
    assert_documented(topics, "GET", "/api/v1/topics", doc)

    day = setup.day.isoformat()
    slots = client.get("/api/v1/slots", query_string={"topic": "stove", "channel": "video", "from": day, "to": day})
    assert slots.status_code == 200 and slots.get_json()["slots"]
    assert_documented(slots, "GET", "/api/v1/slots", doc)
    for query in ({"topic": "nope", "channel": "video", "from": day, "to": day}, {"topic": "stove"}):
        assert_documented(client.get("/api/v1/slots", query_string=query), "GET", "/api/v1/slots", doc)

    body = {"topic": "stove", "channel": "video", "start": setup.at(10).isoformat(),
            "citizen": {"name": "Анна Смирнова", "email": "anna@example.org", "phone": "+7 912 345-67-89",
                        "applicant_type": "individual"},
            "question": "Хочу заменить газовую плиту.", "consent_personal_data": True}
    created = client.post("/api/v1/bookings", json=body, headers=auth)
    assert created.status_code == 201
    assert_documented(created, "POST", "/api/v1/bookings", doc)
    code = created.get_json()["code"]
    for response in (
        client.post("/api/v1/bookings", json=body),  # 401
        client.post("/api/v1/bookings", data="{", headers=auth),  # 400
        client.post("/api/v1/bookings", json={**body, "start": 5}, headers=auth),  # 422
        # the same time again, by another citizen: the second expert takes it
        client.post("/api/v1/bookings", json={**body, "citizen": {**body["citizen"], "email": "b@example.org",
                                                                  "phone": "+7 912 000-00-01"}}, headers=auth),
    ):
        assert_documented(response, "POST", "/api/v1/bookings", doc)
    # and a third time: both experts are busy now
    taken = client.post("/api/v1/bookings", json={**body, "citizen": {**body["citizen"], "email": "c@example.org",
                                                                        "phone": "+7 912 000-00-02"}}, headers=auth)
    assert taken.status_code == 409 and taken.get_json()["alternatives"]
    assert_documented(taken, "POST", "/api/v1/bookings", doc)

    item = "/api/v1/bookings/{code}"
    assert_documented(client.get(f"/api/v1/bookings/{code}", headers=auth), "GET", item, doc)
    assert_documented(client.get(f"/api/v1/bookings/{code}"), "GET", item, doc)
    assert_documented(client.get("/api/v1/bookings/ZZZZZZZZ", headers=auth), "GET", item, doc)

    ics = client.get(f"/api/v1/bookings/{code}/invite.ics", headers=auth)
    assert ics.status_code == 200
    assert_documented(ics, "GET", "/api/v1/bookings/{code}/invite.ics", doc)

    path = "/api/v1/bookings/{code}/reschedule"
    moved = client.post(f"/api/v1/bookings/{code}/reschedule", json={"start": setup.at(11).isoformat()}, headers=auth)
    assert moved.status_code == 200
    assert_documented(moved, "POST", path, doc)
    assert_documented(client.post(f"/api/v1/bookings/{code}/reschedule", json={"start": "x"}, headers=auth),
                      "POST", path, doc)

    path = "/api/v1/bookings/{code}/cancel"
    cancelled = client.post(f"/api/v1/bookings/{code}/cancel", headers=auth)
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    assert_documented(cancelled, "POST", path, doc)
    again = client.post(f"/api/v1/bookings/{code}/cancel", headers=auth)
    assert again.status_code == 409
    assert_documented(again, "POST", path, doc)
