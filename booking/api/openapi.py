"""The OpenAPI 3.1 document of the public API, served at /api/v1/openapi.json.

Kept by hand next to the views it describes; a test checks that every API route appears
here with its methods, and that responses of the live API validate against these schemas.
"""

from __future__ import annotations

from typing import Any

from flask import jsonify
from flask.typing import ResponseReturnValue

from booking.analytics.api import STATS_PATHS, STATS_SCHEMAS
from booking.api import bp

INSTANT = {"type": "string", "format": "date-time", "description": "ISO 8601 with an explicit offset"}
DATE = {"type": "string", "format": "date"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(description, _ref("Error"))


SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error", "message"],
        "properties": {
            "error": {"type": "string", "enum": ["bad_request", "unauthorized", "forbidden", "not_found",
                                                  "method_not_allowed", "slot_taken", "limit_reached", "validation",
                                                  "rate_limited", "conflict"]},
            "message": {"type": "string"},
            "fields": {"type": "object", "additionalProperties": {"type": "string"},
                       "description": "field name → message, for `validation`"},
            "alternatives": {"type": "array", "items": {"$ref": "#/components/schemas/Slot"},
                             "description": "the nearest free slots, for `slot_taken`"},
        },
    },
    "Department": {
        "type": "object",
        "required": ["slug", "title", "timezone"],
        "properties": {"slug": {"type": "string"}, "title": {"type": "string"},
                       "timezone": {"type": "string", "description": "IANA time zone"}},
    },
    "Topic": {
        "type": "object",
        "required": ["slug", "title", "department", "duration_minutes", "channels", "applicant_types",
                     "followup_working_days"],
        "properties": {
            "slug": {"type": "string"},
            "title": {"type": "string"},
            "department": {"$ref": "#/components/schemas/Department"},
            "duration_minutes": {"type": "integer", "minimum": 1},
            "channels": {"type": "array", "items": {"type": "string", "enum": ["video", "in_person"]}},
            "applicant_types": {"type": "array", "items": {"type": "string", "enum": ["individual", "legal_entity"]}},
            "followup_working_days": {"type": "integer", "minimum": 1},
        },
    },
    "ExpertRef": {
        "type": "object",
        "required": ["id", "name"],
        "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
    },
    "Location": {
        "type": "object",
        "required": ["id", "name", "address"],
        "properties": {"id": {"type": "integer"}, "name": {"type": "string"}, "address": {"type": "string"}},
    },
    "Slot": {
        "type": "object",
        "required": ["start", "end", "channel", "expert", "location", "seats_left"],
        "properties": {
            "start": INSTANT,
            "end": INSTANT,
            "channel": {"type": "string", "enum": ["video", "in_person"]},
            "expert": {"$ref": "#/components/schemas/ExpertRef"},
            "location": {"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/Location"}]},
            "seats_left": {"type": "integer", "minimum": 1},
        },
    },
    "CitizenRequest": {
        "type": "object",
        "required": ["name", "email", "phone", "applicant_type"],
        "properties": {
            "name": {"type": "string", "maxLength": 200},
            "email": {"type": "string", "format": "email"},
            "phone": {"type": "string", "description": "any common notation; Russian numbers may omit +7"},
            "applicant_type": {"type": "string", "enum": ["individual", "legal_entity"]},
            "organisation": {"type": "string", "maxLength": 300, "description": "required for legal_entity"},
            "inn": {"type": "string", "description": "required for legal_entity: 10 digits (12 for an entrepreneur)"},
        },
    },
    "BookingRequest": {
        "type": "object",
        "required": ["topic", "channel", "start", "citizen", "question", "consent_personal_data"],
        "properties": {
            "topic": {"type": "string", "description": "topic slug; an unknown one is a 422 on `topic`"},
            "channel": {"type": "string", "enum": ["video", "in_person"]},
            "start": {**INSTANT, "description": "the start of a free slot, as /slots gives it; must be in the future"},
            "expert": {"type": "integer", "minimum": 1,
                       "description": "an expert's id; without it the first free expert at that time is taken"},
            "citizen": _ref("CitizenRequest"),
            "question": {"type": "string", "minLength": 10, "maxLength": 2000},
            "consent_personal_data": {"const": True},
        },
    },
    "RescheduleRequest": {
        "type": "object",
        "required": ["start"],
        "properties": {
            "start": {**INSTANT, "description": "the start of a free slot of the same topic and channel"},
            "expert": {"type": "integer", "minimum": 1,
                       "description": "an expert's id; without it the same expert is preferred"},
        },
    },
    "Citizen": {
        "type": "object",
        "required": ["name", "email", "phone", "applicant_type", "organisation", "inn"],
        "properties": {
            "name": {"type": "string"},
            "email": {"type": "string"},
            "phone": {"type": "string", "description": "E.164"},
            "applicant_type": {"type": "string", "enum": ["individual", "legal_entity"]},
            "organisation": {"type": "string", "description": "empty for an individual"},
            "inn": {"type": "string", "description": "empty for an individual"},
        },
    },
    "Video": {
        "type": "object",
        "required": ["room", "join_url", "opens_at", "closes_at"],
        "properties": {"room": {"type": "string"}, "join_url": {"type": "string", "format": "uri"},
                       "opens_at": INSTANT, "closes_at": INSTANT},
    },
    "Booking": {
        "type": "object",
        "required": ["code", "status", "topic", "channel", "start", "end", "expert", "location", "citizen",
                     "manage_url", "ics_url", "video"],
        "properties": {
            "code": {"type": "string", "description": "the booking code (also accepted with a dash or in lower case)"},
            "status": {"type": "string",
                       "enum": ["pending", "confirmed", "checked_in", "completed", "no_show", "cancelled"]},
            "topic": {"type": "string", "description": "topic slug"},
            "channel": {"type": "string", "enum": ["video", "in_person"]},
            "start": {**INSTANT, "description": "in the office's zone: the location's in person, the department's "
                                                "for video"},
            "end": INSTANT,
            "expert": _ref("ExpertRef"),
            "location": {"oneOf": [{"type": "null"}, _ref("Location")]},
            "citizen": _ref("Citizen"),
            "manage_url": {"type": "string", "format": "uri",
                           "description": "the citizen's manage page; carries the manage token"},
            "ics_url": {"type": "string", "format": "uri", "description": "the invitation; carries the manage token"},
            "video": {"oneOf": [{"type": "null"}, _ref("Video")]},
        },
    },
    "FollowupRequest": {
        "type": "object",
        "required": ["summary"],
        "properties": {
            "summary": {"type": "string", "minLength": 1, "maxLength": 2000,
                        "description": "what the competent department must answer"},
            "department": {"type": "string",
                           "description": "the competent department's slug; by default the topic's department"},
        },
    },
    "Ticket": {
        "type": "object",
        "required": ["number", "status", "department", "opened_at", "due_at", "answered_at", "booking"],
        "properties": {
            "number": {"type": "string", "description": "YYYY-NNNNNN, sequential per year"},
            "status": {"type": "string",
                       "enum": ["open", "in_progress", "answered", "reopened", "closed", "closed_unconfirmed"]},
            "department": {**_ref("Department"), "description": "the competent department"},
            "opened_at": INSTANT,
            "due_at": {**INSTANT, "description": "the close of business of the department on the N-th working day "
                                                 "after the opening day, in the department's zone"},
            "answered_at": {"oneOf": [{"type": "null"}, INSTANT]},
            "booking": {"type": "string", "description": "the booking code"},
        },
    },
}

PARTNER_ONLY = [{"partnerKey": []}]
KEY_OR_TOKEN = [{"partnerKey": []}, {"manageToken": []}]
CODE_PARAMETERS = [
    {"name": "code", "in": "path", "required": True, "schema": {"type": "string"},
     "description": "the booking code; case, spaces and dashes are ignored"},
    {"name": "token", "in": "query", "required": False, "schema": {"type": "string"},
     "description": "the booking's manage token (from its manage_url), instead of a partner key"},
]
BOOKING_ACCESS = ("A partner key sees only the bookings it created; the manage token opens its own booking. "
                  "Anything else is a 404, whether or not the booking exists.")
_BOOKING = _json("The booking", _ref("Booking"))
_NO_CREDENTIALS = _error("Neither a partner key nor a token was given, or the key is wrong or revoked")
_UNKNOWN = _error("No such booking for these credentials")
_TOO_MANY = _error("Too many requests (`rate_limited`, with a Retry-After header); per key for partners")

BOOKING_PATHS: dict[str, Any] = {
    "/api/v1/bookings": {
        "post": {
            "summary": "Book a consultation for a citizen (confirmed at once)",
            "description": "The partner has verified the citizen, so the booking is confirmed immediately and the "
                           "citizen is emailed the confirmation with the calendar invitation.",
            "security": PARTNER_ONLY,
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("BookingRequest")}}},
            "responses": {
                "201": {**_BOOKING, "description": "The confirmed booking",
                        "headers": {"Location": {"schema": {"type": "string"},
                                                 "description": "/api/v1/bookings/{code}"}}},
                "400": _error("`bad_request`: the body is not a JSON object, or larger than 64 KiB"),
                "401": _error("`unauthorized`: no partner key, or a wrong or revoked one"),
                "409": _error("`slot_taken` (with `alternatives`, the nearest free slots) or `limit_reached` "
                              "(the citizen has as many active bookings on this topic as allowed)"),
                "422": _error("`validation`: `fields` by path in the body, e.g. `citizen.phone`, `start`, "
                              "`consent_personal_data`; an unknown topic is reported on `topic`"),
                "429": _TOO_MANY,
            },
        }
    },
    "/api/v1/bookings/{code}": {
        "get": {
            "summary": "A booking",
            "description": BOOKING_ACCESS,
            "security": KEY_OR_TOKEN,
            "parameters": CODE_PARAMETERS,
            "responses": {"200": _BOOKING, "401": _NO_CREDENTIALS, "404": _UNKNOWN, "429": _TOO_MANY},
        }
    },
    "/api/v1/bookings/{code}/cancel": {
        "post": {
            "summary": "Cancel a booking",
            "description": BOOKING_ACCESS + " The citizen is emailed the cancellation. No body is needed.",
            "security": KEY_OR_TOKEN,
            "parameters": CODE_PARAMETERS,
            "responses": {
                "200": _json("The booking, now with status `cancelled`", _ref("Booking")),
                "401": _NO_CREDENTIALS,
                "404": _UNKNOWN,
                "409": _error("`conflict`: already cancelled, or no longer cancellable (started, completed...)"),
                "429": _TOO_MANY,
            },
        }
    },
    "/api/v1/bookings/{code}/reschedule": {
        "post": {
            "summary": "Move a confirmed booking to another free time (same code, topic and channel)",
            "description": BOOKING_ACCESS + " The citizen is emailed the updated invitation.",
            "security": KEY_OR_TOKEN,
            "parameters": CODE_PARAMETERS,
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("RescheduleRequest")}}},
            "responses": {
                "200": _json("The booking at its new time", _ref("Booking")),
                "400": _error("`bad_request`: the body is not a JSON object, or larger than 64 KiB"),
                "401": _NO_CREDENTIALS,
                "404": _UNKNOWN,
                "409": _error("`slot_taken` (with `alternatives`), or `conflict`: the booking is not confirmed "
                              "or has already started"),
                "422": _error("`validation`: `fields.start` or `fields.expert`"),
                "429": _TOO_MANY,
            },
        }
    },
    "/api/v1/bookings/{code}/invite.ics": {
        "get": {
            "summary": "The booking's calendar invitation",
            "description": BOOKING_ACCESS + " METHOD:REQUEST, or METHOD:CANCEL once cancelled; SEQUENCE grows with "
                                            "every change.",
            "security": KEY_OR_TOKEN,
            "parameters": CODE_PARAMETERS,
            "responses": {
                "200": {"description": "iCalendar (RFC 5545)",
                        "content": {"text/calendar": {"schema": {"type": "string"}}}},
                "401": _NO_CREDENTIALS,
                "404": _UNKNOWN,
                "429": _TOO_MANY,
            },
        }
    },
}

_TICKET = _json("The ticket", _ref("Ticket"))
TICKET_PATHS: dict[str, Any] = {
    "/api/v1/bookings/{code}/followup": {
        "post": {
            "summary": "Open a follow-up ticket from a held consultation",
            "description": "For a partner key, only bookings it created; for a signed-in staff member (session "
                           "cookie, body sent as application/json), the consultation's expert, a supervisor of its "
                           "department or an admin. The booking must be `completed` and not recorded as resolved. "
                           "The citizen is emailed the ticket number, its due time and a link to follow it.",
            "security": [{"partnerKey": []}, {"staffSession": []}],
            "parameters": CODE_PARAMETERS[:1],
            "requestBody": {"required": True,
                            "content": {"application/json": {"schema": _ref("FollowupRequest")}}},
            "responses": {
                "201": {**_TICKET, "description": "The new ticket",
                        "headers": {"Location": {"schema": {"type": "string"},
                                                 "description": "/api/v1/tickets/{number}"}}},
                "400": _error("`bad_request`: the body is not a JSON object (or, for staff, not application/json)"),
                "401": _error("`unauthorized`: neither a partner key nor a staff sign-in, or a wrong key"),
                "404": _error("No such booking for these credentials"),
                "409": _error("`conflict`: the consultation has not been held, or was recorded as resolved"),
                "422": _error("`validation`: `fields.summary` or `fields.department`"),
                "429": _TOO_MANY,
            },
        }
    },
    "/api/v1/tickets/{number}": {
        "get": {
            "summary": "A follow-up ticket",
            "description": "With the partner key that created its booking, a staff sign-in that may see it, or the "
                           "ticket's token from the citizen's link. Anything else is a 404.",
            "security": [{"partnerKey": []}, {"staffSession": []}, {"ticketToken": []}],
            "parameters": [
                {"name": "number", "in": "path", "required": True, "schema": {"type": "string"},
                 "description": "the ticket number, e.g. 2026-000123"},
                {"name": "token", "in": "query", "required": False, "schema": {"type": "string"},
                 "description": "the ticket's token (from the link emailed to the citizen)"},
            ],
            "responses": {"200": _TICKET, "401": _error("No credentials at all, or a wrong partner key"),
                          "404": _error("No such ticket for these credentials"), "429": _TOO_MANY},
        }
    },
}

PATHS: dict[str, Any] = {
    "/healthz": {
        "get": {
            "summary": "Health check",
            "servers": [{"url": "/"}],
            "responses": {
                "200": {"description": "The service and its database are up",
                        "content": {"application/json": {"schema": {
                            "type": "object", "required": ["status", "database"],
                            "properties": {"status": {"const": "ok"}, "database": {"const": "ok"}}}}}},
                "503": {"description": "The database is unreachable"},
            },
        }
    },
    "/api/v1/topics": {
        "get": {
            "summary": "Topics that can be booked",
            "responses": {
                "200": {"description": "Active topics, by department",
                        "content": {"application/json": {"schema": {
                            "type": "array", "items": {"$ref": "#/components/schemas/Topic"}}}}},
                "429": _error("Too many requests"),
            },
        }
    },
    "/api/v1/slots": {
        "get": {
            "summary": "Free slots of a topic",
            "description": "Sorted by start. Dates are inclusive and read in the department's time zone; "
                           "at most 62 days per request.",
            "parameters": [
                {"name": "topic", "in": "query", "required": True, "schema": {"type": "string"}},
                {"name": "channel", "in": "query", "required": True,
                 "schema": {"type": "string", "enum": ["video", "in_person"]}},
                {"name": "from", "in": "query", "required": True, "schema": DATE},
                {"name": "to", "in": "query", "required": True, "schema": DATE},
                {"name": "expert", "in": "query", "required": False, "schema": {"type": "integer"}},
            ],
            "responses": {
                "200": {"description": "Free slots",
                        "content": {"application/json": {"schema": {
                            "type": "object", "required": ["slots"],
                            "properties": {"slots": {"type": "array", "items": _ref("Slot")}}}}}},
                "404": _error("No such topic"),
                "422": _error("Invalid parameters, by field"),
                "429": _error("Too many requests"),
            },
        }
    },
    "/api/v1/openapi.json": {
        "get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3.1 document"}}}
    },
    **BOOKING_PATHS,
    **TICKET_PATHS,
    **STATS_PATHS,
}


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "okno API",
            "version": "1.0.0",
            "description": "Booking consultations with public services. Instants carry an explicit offset; "
                           "dates are YYYY-MM-DD. Partners authenticate with `Authorization: Bearer <key>`.",
        },
        "servers": [{"url": "/"}],
        "paths": PATHS,
        "components": {
            "schemas": {**SCHEMAS, **STATS_SCHEMAS},
            "securitySchemes": {
                "partnerKey": {"type": "http", "scheme": "bearer",
                               "description": "Partner API key from `flask api-key create`"},
                "manageToken": {"type": "apiKey", "in": "query", "name": "token",
                                "description": "A booking's manage token, as in its manage_url"},
                "staffSession": {"type": "apiKey", "in": "cookie", "name": "session",
                                 "description": "A signed-in staff member's session (the staff pages' sign-in)"},
                "ticketToken": {"type": "apiKey", "in": "query", "name": "token",
                                "description": "A ticket's token, as in the link emailed to the citizen"},
            },
        },
    }


@bp.route("/openapi.json")
def openapi_json() -> ResponseReturnValue:
    return jsonify(document())


__all__ = ["document"]
