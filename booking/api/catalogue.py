"""Reading what can be booked: topics and free slots. No key needed."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from itertools import chain, count
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy import event, select
from sqlalchemy.orm import ORMExecuteState, Session, contains_eager, selectinload

from booking.api import models as api
from booking.api.errors import not_found, validation_error
from booking.api.plumbing import parse_or_422, query_args
from booking.availability import search_slots, topic_experts
from booking.slot_cache import cached_answer
from scheduler.db import may_write_to, utcnow
from scheduler.departments.models import BusinessHours, Department, Topic
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


def read_topic(session: Session, slug: str) -> Topic | None:
    """The active topic, with its department and office hours (every search and booking reads them) in one query."""
    return session.scalars(
        select(Topic)
        .join(Department)
        .where(Topic.slug == slug, Topic.is_active.is_(True), Department.is_active.is_(True))
        .options(contains_eager(Topic.department).joinedload(Department.hours))
    ).unique().one_or_none()


@dataclass(frozen=True)
class _KeptTopic:
    topic: Topic  # detached: never in a session; each request gets its own copy (``merge``)
    read_at: float  # time.monotonic()
    generation: int


_TOPICS = "okno_topics_by_slug"
_TOPIC_MODELS = (Topic, Department, BusinessHours)
_TOPIC_TABLES = frozenset(model.__table__.name for model in _TOPIC_MODELS)
_TOPICS_CHANGED = "okno_topics_changed"
_generations = count(1)
_generation = next(_generations)
MAX_KEPT_TOPICS = 1024


def find_topic(slug: str) -> Topic | None:
    """``read_topic`` in the request's session, from this process's copy when it read it lately.

    Every partner booking and search starts by reading its topic, department and office hours: in a
    booking rush, one round trip of every request, for rows that change a few times a year. The
    bound (TOPICS_CACHE_SECONDS, as for the topic list): a topic, its department or their hours
    changed by another process is seen here at most that late; changed by this process, at once.
    A booking still checks the time under the expert's lock against the topic it was given, so a
    stale copy can at most book a topic switched off moments ago, never a time twice. Topics that
    do not exist are never kept (made-up slugs cannot fill it).
    """
    max_age = float(current_app.config.get("TOPICS_CACHE_SECONDS", 0))
    session = db.session
    if max_age <= 0 or session.info.get(_TOPICS_CHANGED):
        return read_topic(session, slug)
    kept: dict[str, _KeptTopic] = current_app.extensions.setdefault(_TOPICS, {})
    entry = kept.get(slug)
    now = time.monotonic()
    if entry is not None and entry.generation == _generation and 0 <= now - entry.read_at < max_age:
        return session.merge(entry.topic, load=False)
    generation = _generation
    # Read apart from the request's session (on its connection and transaction: no second
    # connection), so the copy kept is in no session and nothing of the request's is touched.
    reader = Session(bind=session.connection())
    try:
        topic = read_topic(reader, slug)
    finally:
        reader.close()  # detached, as loaded
    if topic is None:
        return None
    if len(kept) >= MAX_KEPT_TOPICS:
        kept.clear()
    kept[slug] = _KeptTopic(topic, now, generation)
    return session.merge(topic, load=False)


@event.listens_for(Session, "after_flush")
def _note_topic_changes(session: Session, _context: Any) -> None:
    if any(isinstance(item, _TOPIC_MODELS) for item in chain(session.new, session.dirty, session.deleted)):
        session.info[_TOPICS_CHANGED] = True


@event.listens_for(Session, "do_orm_execute")
def _note_bulk_topic_changes(state: ORMExecuteState) -> None:
    if may_write_to(state, _TOPIC_TABLES):
        state.session.info[_TOPICS_CHANGED] = True


@event.listens_for(Session, "after_commit")
def _forget_changed_topics(session: Session) -> None:
    global _generation
    if session.info.pop(_TOPICS_CHANGED, False):
        _generation = next(_generations)


@event.listens_for(Session, "after_rollback")
def _keep_topics(session: Session) -> None:
    session.info.pop(_TOPICS_CHANGED, None)


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
    late (TOPICS_CACHE_SECONDS; ``find_topic`` keeps a booked topic no longer). Two threads refreshing
    at once both read; either result is current.
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
    channel = query.channel.value

    def answer() -> bytes:
        found = search_slots(db.session, topic, channel, query.first_day, query.last_day, utcnow(),
                             expert_id=query.expert, cached=True)
        if query.shape == "compact":
            return jsonify(api.CompactSlotList.payload(found, channel)).get_data()
        return jsonify(api.SlotList.payload(found)).get_data()

    key = ("api.slots", topic.id, channel, query.expert, query.first_day, query.last_day, query.shape)
    return current_app.response_class(cached_answer(db.session, key, answer), mimetype="application/json")


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/topics", view_func=topics)
    bp.add_url_rule("/slots", view_func=slots)
