"""Public pages: a topic's free times by day, server-rendered and usable without JavaScript."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import render_template, request

from booking.availability import search_slots, topic_experts
from booking.citizen.choice import find_active_topic, first_shown_day, group_by_day
from scheduler.db import utcnow
from scheduler.extensions import db

DAYS_PER_PAGE = 7


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
    now = utcnow()
    today = now.astimezone(found_topic.department.zone).date()
    first_day = first_shown_day(request.args.get("from", ""), today)
    horizon_end = today + timedelta(days=found_topic.horizon_days)
    last_day = first_day + timedelta(days=DAYS_PER_PAGE - 1)
    slots = search_slots(db.session, found_topic, channel, first_day, last_day, now, expert_id=expert_id, cached=True)
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
        today=today,
        now=now,
        display_zone=slots[0].start.tzinfo if slots else found_topic.department.zone,
    )
