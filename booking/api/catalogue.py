"""Reading what can be booked: topics and free slots. No key needed."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from flask import Blueprint, Flask, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import contains_eager, selectinload

from booking.api import models as api
from booking.api.errors import not_found, validation_error
from booking.api.plumbing import parse_or_422, query_args
from booking.availability import search_slots, topic_experts
from scheduler.db import utcnow
from scheduler.departments.models import Department, Topic
from scheduler.extensions import db
from scheduler.openapi import documented

TOO_MANY = (api.Error, "Too many requests")


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
    """The active topic, with its department and office hours (every search and booking reads them) in one query."""
    return db.session.scalars(
        select(Topic)
        .join(Department)
        .where(Topic.slug == slug, Topic.is_active.is_(True), Department.is_active.is_(True))
        .options(contains_eager(Topic.department).joinedload(Department.hours))
    ).unique().one_or_none()


@dataclass(frozen=True)
class TopicListing:
    """The encoded topic list as one process last read it."""

    body: bytes
    etag: str
    read_at: float  # time.monotonic()


_LISTING = "okno_topic_listing"


def topic_listing(app: Flask, max_age: float, now: float) -> TopicListing:
    """The topic list, read from the database at most once per ``max_age`` seconds in this process.

    The bound: a topic added, changed or switched off shows in the list at most ``max_age`` seconds
    late (TOPICS_CACHE_SECONDS); booking reads the topic itself, so a stale list never books anything
    that is off. Two threads refreshing at once both read; either result is current.
    """
    cached: TopicListing | None = app.extensions.get(_LISTING)
    if cached is not None and 0 <= now - cached.read_at < max_age:
        return cached
    body = jsonify([api.Topic.of(t).model_dump(mode="json") for t in active_topics()]).get_data()
    listing = TopicListing(body, hashlib.sha256(body).hexdigest()[:32], now)
    app.extensions[_LISTING] = listing
    return listing


@documented({200: (list[api.Topic], "Active topics, by department"), 304: (None, "Unchanged since the ETag sent "
                                                                                "in If-None-Match"),
             429: TOO_MANY})
def topics() -> ResponseReturnValue:
    """Topics that can be booked"""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    listing = topic_listing(app, float(app.config["TOPICS_CACHE_SECONDS"]), time.monotonic())
    response = app.response_class(listing.body, mimetype="application/json")
    response.set_etag(listing.etag)
    return response.make_conditional(request)


@documented({200: (api.SlotsAnswer, "Free slots (CompactSlotList with shape=compact)"),
             404: (api.Error, "No such topic"),
             422: (api.Error, "Invalid parameters, by field"), 429: TOO_MANY}, query=api.SlotsQuery)
def slots() -> ResponseReturnValue:
    """Free slots of a topic

    Sorted by start. Dates are inclusive and read in the department's time zone; at most 62 days
    per request. ``shape=compact`` answers the same slots as rows (CompactSlotList), about a third
    of the size. The answer may be up to SLOT_CACHE_SECONDS old (10 by default): a time booked
    meanwhile is refused with 409 slot_taken when booked, never booked twice.
    """
    query = parse_or_422(api.SlotsQuery, query_args(), missing=api.SlotsQuery.missing())
    topic = find_topic(query.topic)
    if topic is None:
        raise not_found(_("There is no such topic."))
    if query.channel not in topic.channels:
        raise validation_error({"channel": _("This topic is not offered on this channel.")})
    if query.expert is not None and not topic_experts(db.session, topic, query.expert):
        raise validation_error({"expert": _("This expert does not consult on this topic.")})
    found = search_slots(db.session, topic, query.channel.value, query.first_day, query.last_day, utcnow(),
                         expert_id=query.expert, cached=True)
    if query.shape == "compact":
        return jsonify(api.CompactSlotList.payload(found, query.channel.value))
    return jsonify(api.SlotList.payload(found))


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/topics", view_func=topics)
    bp.add_url_rule("/slots", view_func=slots)
