"""Public pages: a topic's free times by day, server-rendered and usable without JavaScript."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from flask import Blueprint, abort, render_template, request
from sqlalchemy import select

from booking.availability import FoundSlot, search_slots, topic_experts
from scheduler.db import utcnow
from scheduler.departments.models import Department, Topic
from scheduler.extensions import db

bp = Blueprint("citizen", __name__)

DAYS_PER_PAGE = 7


def _start_day(topic: Topic) -> date:
    today = utcnow().astimezone(topic.department.zone).date()
    raw = request.args.get("from", "")
    try:
        chosen = date.fromisoformat(raw) if raw else today
    except ValueError:
        chosen = today
    return max(chosen, today)


def group_by_day(slots: list[FoundSlot]) -> dict[date, list[FoundSlot]]:
    days: dict[date, list[FoundSlot]] = defaultdict(list)
    for found in slots:
        days[found.start.date()].append(found)
    return dict(days)


def find_active_topic(slug: str) -> Topic:
    found = db.session.scalar(
        select(Topic).join(Department).where(Topic.slug == slug, Topic.is_active.is_(True),
                                              Department.is_active.is_(True))
    )
    if found is None:
        abort(404)
    return found


@bp.route("/topics/<slug>")
def topic(slug: str) -> Any:
    found_topic = find_active_topic(slug)
    channels = found_topic.channels
    channel = request.args.get("channel") or channels[0]
    if channel not in channels:
        channel = channels[0]
    experts = topic_experts(db.session, found_topic)
    expert_id = request.args.get("expert", type=int)
    if expert_id is not None and expert_id not in {e.id for e in experts}:
        expert_id = None
    first_day = _start_day(found_topic)
    horizon_end = utcnow().astimezone(found_topic.department.zone).date() + timedelta(days=found_topic.horizon_days)
    last_day = first_day + timedelta(days=DAYS_PER_PAGE - 1)
    slots = search_slots(db.session, found_topic, channel, first_day, last_day, utcnow(), expert_id=expert_id)
    return render_template(
        "citizen/topic.html",
        topic=found_topic,
        channel=channel,
        experts=experts,
        expert_id=expert_id,
        days=group_by_day(slots),
        first_day=first_day,
        previous_day=first_day - timedelta(days=DAYS_PER_PAGE),
        next_day=last_day + timedelta(days=1) if last_day < horizon_end else None,
        today=utcnow().astimezone(found_topic.department.zone).date(),
        now=utcnow(),
        display_zone=slots[0].start.tzinfo if slots else found_topic.department.zone,
    )
