"""The expert's calendar subscription feed: a secret, revocable address polled by calendar programs.

The address carries a token derived from the app's secret key and the expert's salt (like the
manage token in booking.codes); only its hash is stored. A new salt revokes the old address.

Polling is cheap: the ETag is a digest of the few columns the feed shows, read with one light
query, and a matching ``If-None-Match`` (or ``If-Modified-Since``) is answered 304 before any
calendar is built.
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
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload
from werkzeug.http import is_resource_modified

from booking import links
from booking.codes import derived_token, new_salt, token_hash, tokens_match
from booking.ical import FEED_DETAIL_NAMES, FEED_DETAILS, FEED_STATUSES, feed_calendar
from booking.models import Booking, BookingEvent
from scheduler.audit import Actor, AuditEntry, record
from scheduler.db import utcnow
from scheduler.departments.models import Location, Topic
from scheduler.errors import DomainError
from scheduler.experts.models import Expert
from scheduler.extensions import db

# Bump when the feed's content changes shape, so that clients holding an old ETag refetch.
FEED_FORMAT = "1"

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


def feed_window(now: datetime, config: Mapping[str, Any]) -> tuple[datetime, datetime]:
    return (now - timedelta(days=int(config["FEED_PAST_DAYS"])), now + timedelta(days=int(config["FEED_FUTURE_DAYS"])))


def _window_filter(expert: Expert, now: datetime, config: Mapping[str, Any]) -> list[Any]:
    first, last = feed_window(now, config)
    return [Booking.expert_id == expert.id, Booking.starts_at >= first, Booking.starts_at < last,
            Booking.status.in_(FEED_STATUSES)]


def feed_etag(session: Session, expert: Expert, now: datetime, config: Mapping[str, Any]) -> str:
    """A digest of every value the feed would show, from one light query (no calendar is built)."""
    names = expert.feed_detail == FEED_DETAIL_NAMES
    columns = [Booking.code, Booking.sequence, Booking.status, Booking.starts_at, Booking.ends_at, Booking.channel,
               Topic.title, Location.name, Location.address]
    if names:
        columns.append(Booking.citizen_name)
    query = (select(*columns).join(Topic, Topic.id == Booking.topic_id)
             .outerjoin(Location, Location.id == Booking.location_id)
             .where(*_window_filter(expert, now, config)).order_by(Booking.starts_at, Booking.id))
    digest = hashlib.sha256()
    head = [FEED_FORMAT, expert.id, expert.name, expert.feed_detail, config["PUBLIC_BASE_URL"],
            config["FEED_REFRESH_MINUTES"], config.get("BABEL_DEFAULT_LOCALE", "ru")]
    digest.update(repr(head).encode("utf-8"))
    for row in session.execute(query):
        digest.update(repr(tuple(row)).encode("utf-8"))
    return digest.hexdigest()[:32]


def feed_last_modified(session: Session, expert: Expert, now: datetime) -> datetime:
    """When anything the feed could show last changed.

    Taken over the whole department's booking history (a booking rescheduled away to a
    colleague leaves this expert's feed, yet its history is no longer this expert's) and the
    expert's feed settings: it may say "modified" too often, never too rarely.
    """
    booking_change = session.scalar(
        select(func.max(BookingEvent.at)).join(Booking, Booking.id == BookingEvent.booking_id)
        .join(Topic, Topic.id == Booking.topic_id).where(Topic.department_id == expert.department_id)
    )
    settings_change = session.scalar(
        select(func.max(AuditEntry.at)).where(AuditEntry.entity_type == "expert",
                                              AuditEntry.entity_id == str(expert.id))
    )
    moments = [m for m in (booking_change, settings_change) if m is not None]
    # never in the future (HTTP forbids it); "now" only makes clients refetch, it never hides a change
    return min(max(moments), now) if moments else datetime(2000, 1, 1, tzinfo=UTC)


def feed_bookings(session: Session, expert: Expert, now: datetime, config: Mapping[str, Any]) -> list[Booking]:
    query = (select(Booking).where(*_window_filter(expert, now, config))
             .options(selectinload(Booking.topic), selectinload(Booking.location))
             .order_by(Booking.starts_at, Booking.id))
    return list(session.scalars(query))


def render_feed(session: Session, expert: Expert, now: datetime, config: Mapping[str, Any]) -> bytes:
    locale = str(config.get("BABEL_DEFAULT_LOCALE", "ru"))
    with force_locale(locale):
        name = _("Consultations: %(name)s", name=expert.name)
    return feed_calendar(name, feed_bookings(session, expert, now, config), config, now,
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
    etag = feed_etag(db.session, expert, now, config)
    last_modified = feed_last_modified(db.session, expert, now)
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
