"""A short-lived cache of free slots per topic, channel, expert and day, beneath ``search_slots``.

What a cached answer may get wrong, and for how long (the documented bound):

- Every commit that changes what the search reads (bookings, holds, schedules, overrides,
  reception days, experts, topics, departments, offices) bumps a version stamp: this process's at
  once, and the one shared through Redis (``okno:slots:version``) right after the commit, so that
  every node and worker stops using what it cached before. A time booked on any node is therefore
  shown free only in the moment between that commit and the bump reaching Redis.
- Whatever happens (Redis down or not configured, a write this module cannot see), no entry is used
  longer than ``SLOT_CACHE_SECONDS`` after it was computed (default 10; 0 turns the cache off).
- A hold that expires while its entry lives keeps its time shown busy, again at most that long.
- The nearest free times offered with a refusal ("that time is taken") may be read without the
  version stamp, from entries at most ``RECENT_SECONDS`` old whatever was booked since: in a rush
  every booking bumps the stamp, and the losers (most requests) would otherwise each search weeks
  afresh. Such an offer may name a time booked in those seconds; booking it is refused as cheaply.
- The API's encoded answer to one question (topic, channel, expert, dates, shape) is sent again, as
  it was, to the same question for at most ``SLOT_ANSWER_SECONDS`` (1; 0 turns it off) while the
  stamp is unchanged: in a rush
  thousands ask the same thing within the same second. Within that second a slot may still be listed
  a moment after it passed its notice; booking it is refused as any taken time is.
- The cache is never asked under a booking's lock: booking re-checks the time uncached, and the
  database's unique index stays the last word, so a stale answer never books a time twice.
- A session holding its own uncommitted changes to those tables neither reads nor fills the cache.
"""

from __future__ import annotations

import logging
import threading
import time as monotonic_clock
from collections import OrderedDict, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import chain, count
from typing import Any

import redis
from flask import current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session

from booking.models import Booking
from scheduler.availability.engine import Slot
from scheduler.config import redis_client_options
from scheduler.db import may_write_to
from scheduler.departments.models import BusinessHours, Department, Location, Topic
from scheduler.experts.models import Expert, expert_topics
from scheduler.schedules.models import (
    DateOverride,
    ReceptionDay,
    ReceptionException,
    WeeklyAvailability,
    reception_experts,
    reception_topics,
)

log = logging.getLogger(__name__)

VERSION_KEY = "okno:slots:version"
# What the search reads: a change to any of these makes cached slots stale.
WATCHED = (Booking, WeeklyAvailability, DateOverride, ReceptionDay, ReceptionException, Expert, Topic, Department,
           BusinessHours, Location)
WATCHED_TABLES = frozenset(model.__table__.name for model in WATCHED) | {
    expert_topics.name, reception_topics.name, reception_experts.name}
MAX_ENTRIES = 4096
# How old an entry the offers that come with a refusal may use, without looking at the version stamp.
RECENT_SECONDS = 2.0
MAX_ANSWERS = 256
# After Redis failed, it is not asked again for this long (a search must not wait on a dead server).
REDIS_RETRY_SECONDS = 5.0
_CHANGED = "okno_slots_changed"

_local_versions = count(1)
_local_version = next(_local_versions)


@dataclass(frozen=True)
class _Entry:
    stamp: tuple[int | None, int]
    made: float  # monotonic
    now: datetime  # the ``now`` the slots were computed for
    today: date
    slots: tuple[Slot, ...]


class SlotCache:
    """One process's entries, and its way to the shared version stamp."""

    def __init__(self, seconds: float, redis_url: str, redis_options: dict[str, float],
                 answer_seconds: float = 0.0) -> None:
        self.seconds = seconds
        self.answer_seconds = min(answer_seconds, seconds)
        self._entries: OrderedDict[tuple[Any, ...], _Entry] = OrderedDict()
        self._answers: OrderedDict[tuple[Any, ...], tuple[tuple[int | None, int], float, bytes]] = OrderedDict()
        self._lock = threading.Lock()
        self._redis = redis.Redis.from_url(redis_url, **redis_options) if redis_url else None
        self._redis_down_until = 0.0

    def stamp(self) -> tuple[int | None, int]:
        """(the shared version, or None when Redis is unavailable; this process's version)."""
        shared = None
        if self._redis is not None and monotonic_clock.monotonic() >= self._redis_down_until:
            try:
                shared = int(self._redis.get(VERSION_KEY) or 0)
            except redis.RedisError as error:
                self._redis_failed(error)
        return shared, _local_version

    def bump_shared(self) -> None:
        if self._redis is None or monotonic_clock.monotonic() < self._redis_down_until:
            return
        try:
            self._redis.incr(VERSION_KEY)
        except redis.RedisError as error:
            self._redis_failed(error)

    def _redis_failed(self, error: Exception) -> None:
        self._redis_down_until = monotonic_clock.monotonic() + REDIS_RETRY_SECONDS
        log.error("slot cache: Redis unavailable (%s); cached slots live at most %s s", error, self.seconds)

    def get(self, key: tuple[Any, ...], stamp: tuple[int | None, int] | None, now: datetime,
            today: date) -> _Entry | None:
        """The entry, if still valid: computed under ``stamp`` and at most ``seconds`` old, or, with no
        stamp given, at most ``RECENT_SECONDS`` old whatever its stamp."""
        entry = self._entries.get(key)
        if entry is None or entry.today != today or (stamp is not None and entry.stamp != stamp):
            return None
        age = monotonic_clock.monotonic() - entry.made
        if age > self.seconds or (stamp is None and age > RECENT_SECONDS):
            return None
        if not entry.now <= now <= entry.now + timedelta(seconds=self.seconds):
            return None
        return entry

    def put(self, key: tuple[Any, ...], entry: _Entry) -> None:
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > MAX_ENTRIES:
                self._entries.popitem(last=False)

    def answer(self, key: tuple[Any, ...], stamp: tuple[int | None, int]) -> bytes | None:
        """The answer kept for ``key`` if it was made under ``stamp`` at most ``answer_seconds`` ago."""
        kept = self._answers.get(key)
        if kept is None or kept[0] != stamp or not 0 <= monotonic_clock.monotonic() - kept[1] <= self.answer_seconds:
            return None
        return kept[2]

    def keep_answer(self, key: tuple[Any, ...], stamp: tuple[int | None, int], made: float, body: bytes) -> None:
        with self._lock:
            self._answers[key] = (stamp, made, body)
            self._answers.move_to_end(key)
            while len(self._answers) > MAX_ANSWERS:
                self._answers.popitem(last=False)

    def close(self) -> None:
        """Forget the entries and close the connections to Redis."""
        with self._lock:
            self._entries.clear()
            self._answers.clear()
        if self._redis is not None:
            self._redis.close()


def slot_cache() -> SlotCache | None:
    """The app's cache (None outside an app, or when SLOT_CACHE_SECONDS is 0)."""
    if not has_app_context():
        return None
    app = current_app
    cache = app.extensions.get("okno_slot_cache")
    if cache is None:
        seconds = float(app.config.get("SLOT_CACHE_SECONDS", 0))
        if seconds <= 0:
            return None
        cache = app.extensions.setdefault("okno_slot_cache", SlotCache(
            seconds, app.config.get("REDIS_URL", ""), redis_client_options(app.config),
            answer_seconds=float(app.config.get("SLOT_ANSWER_SECONDS", 0))))
    return cache


def cached_slots(
    session: Session,
    key: tuple[Any, ...],
    first_day: date,
    last_day: date,
    now: datetime,
    today: date,
    earliest: datetime,
    day_of_instant: Callable[[datetime], date],
    compute: Callable[[date, date], list[Slot]],
    recent: bool = False,
) -> list[Slot]:
    """The slots of ``first_day..last_day`` (``key`` names topic, channel and expert), per day from the
    cache where it holds a valid entry, the missing days computed by ``compute`` in one call.

    ``today`` is the department's date (the horizon moves with it), ``earliest`` the first start
    bookable at ``now`` (an entry computed a little earlier may still list a slot that has just
    passed its notice), ``day_of_instant`` the department-local date of an instant. ``recent``:
    entries up to ``RECENT_SECONDS`` old serve whatever the version stamp (for the offers that come
    with a refusal, see the module's account).
    """
    cache = slot_cache()
    if cache is None or session.info.get(_CHANGED):
        return compute(first_day, last_day)
    # Before reading the database: a change committed after this is a newer stamp.
    stamp = None if recent else cache.stamp()
    days = [first_day + timedelta(days=n) for n in range((last_day - first_day).days + 1)]
    found: dict[date, tuple[Slot, ...]] = {}
    missing = []
    for day in days:
        entry = cache.get((*key, day), stamp, now, today)
        if entry is None:
            missing.append(day)
        else:
            found[day] = entry.slots
    if missing:
        if stamp is None:
            stamp = cache.stamp()
        by_day: dict[date, list[Slot]] = defaultdict(list)
        for slot in compute(missing[0], missing[-1]):
            by_day[day_of_instant(slot.start)].append(slot)
        made = monotonic_clock.monotonic()
        for n in range((missing[-1] - missing[0]).days + 1):
            day = missing[0] + timedelta(days=n)
            found[day] = tuple(by_day.get(day, ()))
            cache.put((*key, day), _Entry(stamp, made, now, today, found[day]))
    # Only the slots of the day ``earliest`` falls on (or before) can have passed it since they were computed.
    cut = day_of_instant(earliest)
    return [slot for day in days for slot in found[day] if day > cut or slot.start >= earliest]


def cached_answer(session: Session, key: tuple[Any, ...], build: Callable[[], bytes]) -> bytes:
    """The encoded answer to the question ``key``: the one made for it less than ``SLOT_ANSWER_SECONDS``
    ago under the current stamp, else ``build()`` (which searches through the cache as usual)."""
    cache = slot_cache()
    if cache is None or cache.answer_seconds <= 0 or session.info.get(_CHANGED):
        return build()
    stamp = cache.stamp()  # before building: a change committed meanwhile is a newer stamp
    body = cache.answer(key, stamp)
    if body is None:
        made = monotonic_clock.monotonic()
        body = build()
        cache.keep_answer(key, stamp, made, body)
    return body


# --------------------------------------------------------------------------- invalidation


def _bump_local() -> None:
    global _local_version
    _local_version = next(_local_versions)


@event.listens_for(Session, "after_flush")
def _note_flushed_changes(session: Session, _context: Any) -> None:
    if any(isinstance(item, WATCHED) for item in chain(session.new, session.dirty, session.deleted)):
        session.info[_CHANGED] = True
        _bump_local()


@event.listens_for(Session, "do_orm_execute")
def _note_bulk_changes(state: ORMExecuteState) -> None:
    """``session.execute(update(...))`` and the like bypass the flush: look at the table they write."""
    if may_write_to(state, WATCHED_TABLES):
        state.session.info[_CHANGED] = True
        _bump_local()


@event.listens_for(Session, "after_commit")
def _publish_changes(session: Session) -> None:
    if session.info.pop(_CHANGED, False):
        _bump_local()
        cache = slot_cache()
        if cache is not None:
            cache.bump_shared()


@event.listens_for(Session, "after_rollback")
def _forget_changes(session: Session) -> None:
    session.info.pop(_CHANGED, None)
