"""The expert's calendar subscription feed: a secret, revocable address polled by calendar programs.

The address carries a token derived from the app's secret key and the expert's salt (like the
manage token in booking.codes); only its hash is stored. A new salt revokes the old address.

Polling is cheap: the ETag is a digest of the expert's feed version (bumped by every change to what
the feed shows, see booking.feed_version), the window's day and the feed's settings, all
read with the expert the token names; a matching ``If-None-Match`` (or ``If-Modified-Since``) is
answered 304 with no further query, whatever the history.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections import OrderedDict
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, Response, abort, current_app, request
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.http import is_resource_modified

from booking import links
from booking.codes import derived_token, new_salt, token_hash, tokens_match
from booking.ical import FEED_DETAILS, FEED_STATUSES, FeedEvent, feed_calendar
from booking.models import Booking
from scheduler.audit import Actor, record
from scheduler.db import utcnow
from scheduler.departments.models import Location, Topic
from scheduler.errors import DomainError
from scheduler.experts.models import Expert
from scheduler.extensions import db

# Bump when the feed's content changes shape, so that clients holding an old ETag refetch.
FEED_FORMAT = "2"

feed_bp = Blueprint("feed", __name__)


class _RenderedFeeds:
    """The last few rendered feeds of this process, by ETag: clients that poll without conditional
    headers (some do) then cost one light query instead of building 2,000 events again."""

    def __init__(self, size: int = 16) -> None:
        self._size = size
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            body = self._items.get(key)
            if body is not None:
                self._items.move_to_end(key)
            return body

    def put(self, key: str, body: bytes) -> None:
        with self._lock:
            self._items[key] = body
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


rendered_feeds = _RenderedFeeds()


# --------------------------------------------------------------------------- the secret address


def feed_token(secret_key: str, expert_id: int, salt: str) -> str:
    """The feed's secret, reproducible only with the app's secret key (so the page can show it again)."""
    return derived_token(secret_key, "feed", expert_id, salt)


def current_feed_token(expert: Expert, config: Mapping[str, Any]) -> str | None:
    if not expert.feed_token_salt:
        return None
    return feed_token(str(config["SECRET_KEY"]), expert.id, expert.feed_token_salt)


def feed_url(expert: Expert, config: Mapping[str, Any]) -> str | None:
    token = current_feed_token(expert, config)
    return None if token is None else links.feed_url(token)


def issue_feed_token(session: Session, expert: Expert, config: Mapping[str, Any], actor: Actor) -> str:
    """Give the expert a new feed address; any earlier one stops working."""
    had_feed = expert.feed_token_salt is not None
    expert.feed_token_salt = new_salt()
    token = feed_token(str(config["SECRET_KEY"]), expert.id, expert.feed_token_salt)
    expert.feed_token_hash = token_hash(token)
    record(session, actor, "expert.feed_regenerated" if had_feed else "expert.feed_enabled", "expert", expert.id,
           department_id=expert.department_id)
    return token


def revoke_feed(session: Session, expert: Expert, actor: Actor) -> None:
    if expert.feed_token_salt is None:
        return
    expert.feed_token_salt = None
    expert.feed_token_hash = None
    record(session, actor, "expert.feed_revoked", "expert", expert.id,
           department_id=expert.department_id)


def set_feed_detail(session: Session, expert: Expert, detail: str, actor: Actor) -> None:
    if detail not in FEED_DETAILS:
        raise DomainError({"detail": _l("Choose what the feed shows.")})
    if detail != expert.feed_detail:
        record(session, actor, "expert.feed_detail", "expert", expert.id, {"feed_detail": [expert.feed_detail, detail]},
               department_id=expert.department_id)
        expert.feed_detail = detail


def expert_by_feed_token(session: Session, token: str, config: Mapping[str, Any]) -> Expert | None:
    """The expert whose current address this is; None for revoked, replaced or made-up tokens."""
    if not token or len(token) > 100:
        return None
    expert = session.scalars(select(Expert).where(Expert.feed_token_hash == token_hash(token))).first()
    if expert is None or not expert.is_active or not expert.feed_token_hash or not expert.feed_token_salt:
        return None
    # The token must also be the one the current secret key derives: rotating the key revokes every feed.
    expected = current_feed_token(expert, config)
    if expected is None or not hmac.compare_digest(expected, token) or not tokens_match(token, expert.feed_token_hash):
        return None
    return expert


# --------------------------------------------------------------------------- what the feed shows


def feed_day(now: datetime) -> datetime:
    """The start of ``now``'s UTC day: the window moves once a day, at midnight UTC, so that a poll can
    tell whether it moved from the date alone."""
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def feed_window(now: datetime, config: Mapping[str, Any]) -> tuple[datetime, datetime]:
    """Consultations starting from FEED_PAST_DAYS before today to FEED_FUTURE_DAYS after it (whole UTC days)."""
    day = feed_day(now)
    return (day - timedelta(days=int(config["FEED_PAST_DAYS"])),
            day + timedelta(days=int(config["FEED_FUTURE_DAYS"]) + 1))


def _window_filter(expert: Expert, now: datetime, config: Mapping[str, Any]) -> list[Any]:
    first, last = feed_window(now, config)
    return [Booking.expert_id == expert.id, Booking.starts_at >= first, Booking.starts_at < last,
            Booking.status.in_(FEED_STATUSES)]


def feed_etag(expert: Expert, now: datetime, config: Mapping[str, Any]) -> str:
    """The feed's version, without a query: the expert's version stamp (bumped by every change to what
    the feed shows, booking.feed_version), the window's day, and the feed's shape."""
    head = [FEED_FORMAT, expert.id, expert.feed_version, feed_day(now).date().isoformat(), expert.feed_detail,
            config["PUBLIC_BASE_URL"], config["FEED_REFRESH_MINUTES"], config["FEED_PAST_DAYS"],
            config["FEED_FUTURE_DAYS"], config.get("BABEL_DEFAULT_LOCALE", "ru")]
    return hashlib.sha256(repr(head).encode("utf-8")).hexdigest()[:32]


def feed_last_modified(expert: Expert, now: datetime) -> datetime:
    """When anything the feed shows last changed: the last bump, or the window's last move at midnight.

    Never in the future (HTTP forbids it): "now" only makes clients refetch, it never hides a change.
    """
    moments = [feed_day(now)]
    if expert.feed_changed_at is not None:
        moments.append(expert.feed_changed_at)
    return min(max(moments), now)


def feed_events(session: Session, expert: Expert, now: datetime, config: Mapping[str, Any]) -> list[FeedEvent]:
    """The window's consultations, as the columns an event shows (one indexed range query, no models)."""
    query = (select(Booking.code, Booking.sequence, Booking.starts_at, Booking.ends_at, Booking.channel,
                    Booking.citizen_name, Topic.title, Location.name, Location.address)
             .join(Topic, Topic.id == Booking.topic_id).outerjoin(Location, Location.id == Booking.location_id)
             .where(*_window_filter(expert, now, config)).order_by(Booking.starts_at, Booking.id))
    return [FeedEvent(*row) for row in session.execute(query)]


def render_feed(session: Session, expert: Expert, now: datetime, config: Mapping[str, Any]) -> bytes:
    locale = str(config.get("BABEL_DEFAULT_LOCALE", "ru"))
    with force_locale(locale):
        name = _("Consultations: %(name)s", name=expert.name)
    return feed_calendar(name, feed_events(session, expert, now, config), config, now,
                         detail=expert.feed_detail, locale=locale)


# --------------------------------------------------------------------------- the public route


@feed_bp.route("/calendar/<token>.ics")
def calendar_feed(token: str) -> Response:
    """No sign-in: calendar programs cannot. The unguessable address is the credential."""
    config = current_app.config
    expert = expert_by_feed_token(db.session, token, config)
    if expert is None:
        abort(404)
    now = utcnow()
    etag = feed_etag(expert, now, config)
    last_modified = feed_last_modified(expert, now)
    if is_resource_modified(request.environ, etag=etag, last_modified=last_modified):
        body = rendered_feeds.get(etag)
        if body is None:
            body = render_feed(db.session, expert, now, config)
            rendered_feeds.put(etag, body)
        response = Response(body, content_type="text/calendar; charset=utf-8")
    else:
        response = Response(status=304)
    response.set_etag(etag)
    response.last_modified = last_modified
    # Private: the address is a secret and the content personal. Clients revalidate on every poll.
    response.headers["Cache-Control"] = "private, no-cache"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex"
    response.headers["Content-Disposition"] = 'inline; filename="okno.ics"'
    return response
