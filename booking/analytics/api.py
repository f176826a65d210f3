"""``GET /api/v1/stats``: the dashboard's figures for partners (an API key; aggregates only, no personal data)."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from booking.analytics.exports import counts_json, figures, rating_json
from booking.analytics.queries import Dashboard, dashboard
from booking.analytics.views import BadFilter, parse_filters
from booking.api import bp
from booking.api.auth import require_partner
from booking.api.errors import validation_error
from scheduler.db import utcnow
from scheduler.extensions import db


def stats_json(board: Dashboard, args: Any) -> dict[str, Any]:
    filters = board.filters
    return {
        "from": filters.first.isoformat(), "to": filters.last.isoformat(),
        "filters": {name: args.get(name) or None for name in ("department", "topic", "channel", "applicant_type",
                                                              "location")},
        "summary": figures(board.summary), "previous_year": figures(board.previous),
        "by_topic": counts_json(board.by_topic), "by_channel": counts_json(board.by_channel),
        "by_month": counts_json(board.by_month), "by_day": counts_json(board.by_day),
        "rating": rating_json(board.rating), "rating_daily": rating_json(board.rating_daily),
    }


@bp.route("/stats")
def stats() -> ResponseReturnValue:
    require_partner()
    try:
        choices = parse_filters(request.args, None, utcnow().date())
    except BadFilter as exc:
        raise validation_error({exc.field: _("This value is not valid here.")}) from None
    response = jsonify(stats_json(dashboard(db.session, choices.filters, utcnow()), request.args))
    response.headers["Cache-Control"] = "no-store"
    return response


# --- the OpenAPI description (merged into booking.api.openapi) ---------------------------------------

_INT = {"type": "integer", "minimum": 0}
_RATE = {"type": ["number", "null"], "description": "a share from 0 to 1; null without a base"}
_COUNT_KEYS = ("made", "held", "cancelled", "no_show", "walk_ins", "online", "in_person", "individuals",
               "legal_entities")

STATS_SCHEMAS: dict[str, Any] = {
    "StatsFigures": {
        "type": "object",
        "required": [*_COUNT_KEYS, "booked_minutes", "available_minutes", "utilisation", "waits", "avg_wait_minutes",
                     "followups_opened", "followups_due", "followups_on_time", "followups_overdue", "on_time_rate",
                     "confirmation_rate", "reopen_rate"],
        "properties": {
            **{key: _INT for key in _COUNT_KEYS},
            "booked_minutes": _INT, "available_minutes": _INT,
            "utilisation": {**_RATE, "description": "booked consultation minutes ÷ experts' available minutes"},
            "waits": _INT, "avg_wait_minutes": {"type": ["number", "null"],
                                                "description": "mean of check-in → call at reception"},
            "followups_opened": _INT, "followups_due": _INT, "followups_on_time": _INT, "followups_overdue": _INT,
            "on_time_rate": _RATE, "confirmation_rate": _RATE, "reopen_rate": _RATE,
        },
    },
    "StatsCounts": {
        "type": "object",
        "required": ["key", "label", *_COUNT_KEYS],
        "properties": {"key": {"type": "string", "description": "topic slug, channel, YYYY-MM or YYYY-MM-DD"},
                       "label": {"type": "string"}, **{key: _INT for key in _COUNT_KEYS}},
    },
    "StatsRating": {
        "type": "object",
        "required": ["department", "day", "due", "answered", "answered_on_time", "overdue", "on_time_rate",
                     "avg_answer_hours", "confirmation_rate", "reopen_rate"],
        "properties": {
            "department": {"type": "string", "description": "department slug"},
            "day": {"type": ["string", "null"], "description": "YYYY-MM-DD; null for the whole period"},
            "due": _INT, "answered": _INT, "answered_on_time": _INT, "overdue": _INT, "on_time_rate": _RATE,
            "avg_answer_hours": {"type": ["number", "null"], "description": "in working hours"},
            "confirmation_rate": _RATE, "reopen_rate": _RATE,
        },
    },
    "Stats": {
        "type": "object",
        "required": ["from", "to", "filters", "summary", "previous_year", "by_topic", "by_channel", "by_month",
                     "by_day", "rating", "rating_daily"],
        "properties": {
            "from": {"type": "string", "format": "date"}, "to": {"type": "string", "format": "date"},
            "filters": {"type": "object", "additionalProperties": {"type": ["string", "null"]}},
            "summary": {"$ref": "#/components/schemas/StatsFigures"},
            "previous_year": {"$ref": "#/components/schemas/StatsFigures"},
            **{name: {"type": "array", "items": {"$ref": "#/components/schemas/StatsCounts"}}
               for name in ("by_topic", "by_channel", "by_month", "by_day")},
            "rating": {"type": "array", "items": {"$ref": "#/components/schemas/StatsRating"}},
            "rating_daily": {"type": "array", "items": {"$ref": "#/components/schemas/StatsRating"}},
        },
    },
}

STATS_PATHS: dict[str, Any] = {
    "/api/v1/stats": {
        "get": {
            "summary": "Analytics: bookings, channels, topics, waits, utilisation and follow-up deadlines",
            "description": "The supervisors' dashboard figures for a period of local dates (inclusive; each "
                           "department's time zone), with the same dates a year earlier and the department "
                           "rating. Bookings count on the consultation's date; pending holds are not counted. "
                           "Follow-up deadline figures count on the due date and follow the department, topic "
                           "and channel filters. At most 366 days; `to` defaults to today, `from` to 30 days "
                           "before `to`.",
            "security": [{"partnerKey": []}],
            "parameters": [
                {"name": "from", "in": "query", "required": False, "schema": {"type": "string", "format": "date"}},
                {"name": "to", "in": "query", "required": False, "schema": {"type": "string", "format": "date"}},
                {"name": "department", "in": "query", "required": False, "schema": {"type": "string"},
                 "description": "department slug"},
                {"name": "topic", "in": "query", "required": False, "schema": {"type": "string"},
                 "description": "topic slug"},
                {"name": "channel", "in": "query", "required": False,
                 "schema": {"type": "string", "enum": ["video", "in_person"]}},
                {"name": "applicant_type", "in": "query", "required": False,
                 "schema": {"type": "string", "enum": ["individual", "legal_entity"]}},
                {"name": "location", "in": "query", "required": False, "schema": {"type": "string"},
                 "description": "office (location) slug"},
            ],
            "responses": {
                "200": {"description": "The figures", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Stats"}}}},
                "401": {"description": "No valid API key", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Error"}}}},
                "422": {"description": "Invalid parameters, by field", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Error"}}}},
                "429": {"description": "Too many requests", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Error"}}}},
            },
        }
    },
}
