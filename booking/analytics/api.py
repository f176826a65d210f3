"""``GET /api/v1/stats``: the dashboard's figures for partners (an API key; aggregates only, no personal data)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from pydantic import BaseModel, ConfigDict, Field

from booking.analytics.exports import counts_json, figures, rating_json
from booking.analytics.queries import Dashboard, dashboard
from booking.analytics.views import BadFilter, parse_filters
from booking.api import models as api
from booking.api.auth import require_partner
from booking.api.errors import validation_error
from booking.models import ApplicantType
from scheduler.db import utcnow
from scheduler.extensions import db
from scheduler.openapi import documented
from scheduler.schedules.models import Channel

Count = Annotated[int, Field(ge=0)]
Rate = Annotated[float | None, Field(description="a share from 0 to 1; null without a base")]


class BookingCounts(BaseModel):
    """How many bookings were made, held, cancelled... in a period or one of its rows."""

    made: Count
    held: Count
    cancelled: Count
    no_show: Count
    walk_ins: Count
    online: Count
    in_person: Count
    individuals: Count
    legal_entities: Count


class StatsFigures(BookingCounts):
    booked_minutes: Count
    available_minutes: Count
    utilisation: float | None = Field(description="booked consultation minutes ÷ experts' available minutes")
    waits: Count
    avg_wait_minutes: float | None = Field(description="mean of check-in → call at reception")
    followups_opened: Count
    followups_due: Count
    followups_on_time: Count
    followups_overdue: Count
    on_time_rate: Rate
    confirmation_rate: Rate
    reopen_rate: Rate


class StatsCounts(BookingCounts):
    key: str = Field(description="topic slug, channel, YYYY-MM or YYYY-MM-DD")
    label: str


class StatsRating(BaseModel):
    department: str = Field(description="department slug")
    day: date | None = Field(description="YYYY-MM-DD; null for the whole period")
    due: Count
    answered: Count
    answered_on_time: Count
    overdue: Count
    on_time_rate: Rate
    avg_answer_hours: float | None = Field(description="in working hours")
    confirmation_rate: Rate
    reopen_rate: Rate


class Stats(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    first: date = Field(alias="from")
    last: date = Field(alias="to")
    filters: dict[str, str | None]
    summary: StatsFigures
    previous_year: StatsFigures
    by_topic: list[StatsCounts]
    by_channel: list[StatsCounts]
    by_month: list[StatsCounts]
    by_day: list[StatsCounts]
    rating: list[StatsRating]
    rating_daily: list[StatsRating]


class StatsQuery(BaseModel):
    """Parsed by the dashboard's own filter reader (booking.analytics.views.parse_filters), shared with the page."""

    first: date | None = Field(default=None, alias="from")
    last: date | None = Field(default=None, alias="to")
    department: str | None = Field(default=None, description="department slug")
    topic: str | None = Field(default=None, description="topic slug")
    channel: Channel | None = None
    applicant_type: ApplicantType | None = None
    location: str | None = Field(default=None, description="office (location) slug")


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


@documented({200: (Stats, "The figures"), 401: (api.Error, "No valid API key"),
             422: (api.Error, "Invalid parameters, by field"), 429: (api.Error, "Too many requests")},
            query=StatsQuery, security=[{"partnerKey": []}])
def stats() -> ResponseReturnValue:
    """Analytics: bookings, channels, topics, waits, utilisation and follow-up deadlines

    The supervisors' dashboard figures for a period of local dates (inclusive; each department's
    time zone), with the same dates a year earlier and the department rating. Bookings count on
    the consultation's date; pending holds are not counted. Follow-up deadline figures count on
    the due date and follow the department, topic and channel filters. At most 366 days; `to`
    defaults to today, `from` to 30 days before `to`.
    """
    require_partner()
    try:
        choices = parse_filters(request.args, None, utcnow().date())
    except BadFilter as exc:
        raise validation_error({exc.field: _("This value is not valid here.")}) from None
    response = jsonify(stats_json(dashboard(db.session, choices.filters, utcnow()), request.args))
    response.headers["Cache-Control"] = "no-store"
    return response


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/stats", view_func=stats)
