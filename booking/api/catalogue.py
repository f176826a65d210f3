"""Reading what can be booked: topics and free slots. No key needed."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from booking.api import bp
from booking.api.errors import APIError, not_found, validation_error
from booking.api.params import QueryErrors, optional_int, parse_date, required_text
from booking.availability import MAX_RANGE_DAYS, FoundSlot, search_slots, topic_experts
from scheduler.db import utcnow
from scheduler.departments.models import Department, Location, Topic
from scheduler.extensions import db


def topic_json(topic: Topic) -> dict[str, Any]:
    department = topic.department
    return {
        "slug": topic.slug,
        "title": topic.title,
        "department": {"slug": department.slug, "title": department.title, "timezone": department.timezone},
        "duration_minutes": topic.duration_minutes,
        "channels": topic.channels,
        "applicant_types": topic.applicant_types,
        "followup_working_days": topic.followup_working_days,
    }


def location_json(location: Location | None) -> dict[str, Any] | None:
    if location is None:
        return None
    return {"id": location.id, "name": location.name, "address": location.address}


def slot_json(found: FoundSlot) -> dict[str, Any]:
    return {
        "start": found.start.isoformat(),
        "end": found.end.isoformat(),
        "channel": found.slot.channel,
        "expert": {"id": found.expert.id, "name": found.expert.name},
        "location": location_json(found.location),
        "seats_left": found.slot.seats_left,
    }


def active_topics() -> list[Topic]:
    return list(
        db.session.scalars(
            select(Topic)
            .join(Department)
            .where(Topic.is_active.is_(True), Department.is_active.is_(True))
            .options(selectinload(Topic.department))
            .order_by(Department.title, Topic.title)
        )
    )


def find_topic(slug: str) -> Topic | None:
    return db.session.scalar(
        select(Topic)
        .join(Department)
        .where(Topic.slug == slug, Topic.is_active.is_(True), Department.is_active.is_(True))
    )


@bp.route("/topics")
def topics() -> ResponseReturnValue:
    return jsonify([topic_json(t) for t in active_topics()])


@bp.route("/slots")
def slots() -> ResponseReturnValue:
    args = request.args.to_dict()
    errors = QueryErrors()
    slug = required_text(args, "topic", errors)
    channel = required_text(args, "channel", errors)
    if channel is not None and channel not in ("video", "in_person"):
        errors["channel"] = _("Use video or in_person.")
    first_day = parse_date(args, "from", errors)
    last_day = parse_date(args, "to", errors)
    expert_id = optional_int(args, "expert", errors)
    if first_day and last_day:
        if last_day < first_day:
            errors["to"] = _("The end date must not be before the start date.")
        elif (last_day - first_day).days + 1 > MAX_RANGE_DAYS:
            errors["to"] = _("Ask for at most %(days)s days at a time.", days=MAX_RANGE_DAYS)
    if errors:
        raise validation_error(errors)
    assert slug and channel and first_day and last_day  # for the type checker: errors were raised above
    topic = find_topic(slug)
    if topic is None:
        raise not_found(_("There is no such topic."))
    if channel not in topic.channels:
        raise validation_error({"channel": _("This topic is not offered on this channel.")})
    if expert_id is not None and not topic_experts(db.session, topic, expert_id):
        raise validation_error({"expert": _("This expert does not consult on this topic.")})
    found = search_slots(db.session, topic, channel, first_day, last_day, utcnow(), expert_id=expert_id)
    return jsonify({"slots": [slot_json(s) for s in found]})


@bp.errorhandler(APIError)
def _api_error(exc: APIError) -> ResponseReturnValue:
    return exc.response()
