"""The slot cache beneath search_slots: what invalidates it, here and on another node, and its bound."""

from __future__ import annotations

import secrets
import socket
import time as wall_clock
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, time, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, insert

import booking.slot_cache
from booking.availability import search_slots
from booking.models import ApplicantType, Booking, BookingStatus
from booking.services import SlotTaken, cancel_booking
from booking.slot_cache import SlotCache
from scheduler.audit import Actor
from scheduler.config import redis_client_options
from scheduler.db import utcnow
from scheduler.extensions import db
from scheduler.schedules.models import Channel, OverrideKind
from tests.booking_fixtures import bookable_setup
from tests.factories import add_override
from tests.integration.test_booking_services import POLICY, citizen, hold

ACTOR = Actor("citizen", None, "citizen")


@contextmanager
def use_cache(app: Flask, seconds: float, redis_url: str, answer_seconds: float = 1.0) -> Iterator[SlotCache]:
    cache = SlotCache(seconds, redis_url, redis_client_options(app.config), answer_seconds=answer_seconds)
    app.extensions["okno_slot_cache"] = cache
    try:
        yield cache
    finally:
        app.extensions.pop("okno_slot_cache", None)
        cache.close()


@pytest.fixture
def cache(app: Flask, session: Any, redis_url: str) -> Iterator[SlotCache]:
    with use_cache(app, 60, redis_url) as cache:
        yield cache


@pytest.fixture
def setup(session: Any) -> Any:
    built = bookable_setup(session)
    session.commit()  # committed (a savepoint here): a session with its own changes does not use the cache
    return built


def statements(session: Any) -> Any:
    """A list filled with the SQL statements sent while it is alive (read it after the block)."""
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    engine = session.get_bind().engine
    event.listen(engine, "before_cursor_execute", record)
    return sent, lambda: event.remove(engine, "before_cursor_execute", record)


def shown(session: Any, setup: Any, now: datetime, **kw: Any) -> set[tuple[datetime, int]]:
    found = search_slots(session, setup.topic, "video", setup.day, setup.day, now, cached=True, **kw)
    return {(s.start, s.expert.id) for s in found}


def now_before(setup: Any) -> datetime:
    return setup.at(8) - timedelta(days=1)


def booking_behind_the_sessions_back(session: Any, setup: Any, start: datetime, expert_id: int,
                                     minutes: int = 30) -> None:
    """A booking written as another node would: no event of this process's session sees it."""
    now = utcnow()
    session.connection().execute(insert(Booking.__table__).values(
        code=f"NODE{secrets.token_hex(3).upper()}", topic_id=setup.topic.id, channel=Channel.VIDEO.value,
        expert_id=expert_id, starts_at=start, ends_at=start + timedelta(minutes=minutes), seat=1,
        status=BookingStatus.CONFIRMED.value, created_at=now, confirmed_at=now, source="web",
        citizen_name="Другой узел", citizen_email="node@example.org", citizen_phone="+79120000099",
        applicant_type=ApplicantType.INDIVIDUAL.value, consent_at=now, manage_token_salt=secrets.token_hex(16),
        manage_token_hash=secrets.token_hex(32), sequence=0))


def test_a_repeated_search_is_answered_from_the_cache(session: Any, setup: Any, cache: SlotCache) -> None:
    now = now_before(setup)
    first = shown(session, setup, now)
    sent, stop = statements(session)
    try:
        again = shown(session, setup, now + timedelta(seconds=1))
    finally:
        stop()
    assert again == first and len(first) == 16
    # Only the topic's experts are read: no schedules, no bookings.
    assert len(sent) == 1 and "bookings" not in sent[0]


def test_booking_and_cancelling_here_show_at_once(session: Any, setup: Any, cache: SlotCache) -> None:
    now = now_before(setup)
    expert = setup.experts[0].id
    start = setup.at(10)
    assert (start, expert) in shown(session, setup, now)
    result = hold(session, setup, start, now, expert_id=expert)
    # Not committed yet: this session does not trust the cache, and sees its own hold.
    assert (start, expert) not in shown(session, setup, now)
    session.commit()
    assert (start, expert) not in shown(session, setup, now)
    cancel_booking(session, result.booking, now, ACTOR)
    session.commit()
    assert (start, expert) in shown(session, setup, now)


def test_a_rolled_back_booking_leaves_the_cache_right(session: Any, setup: Any, cache: SlotCache) -> None:
    now = now_before(setup)
    start = setup.at(10)
    before = shown(session, setup, now)
    nested = session.begin_nested()
    hold(session, setup, start, now, expert_id=setup.experts[0].id, policy=POLICY)
    nested.rollback()
    session.commit()
    assert shown(session, setup, now) == before


def test_another_nodes_stamp_invalidates(app: Flask, session: Any, setup: Any, cache: SlotCache,
                                         redis_url: str) -> None:
    now = now_before(setup)
    expert = setup.experts[1].id
    start = setup.at(11)
    assert (start, expert) in shown(session, setup, now)
    booking_behind_the_sessions_back(session, setup, start, expert)
    assert (start, expert) in shown(session, setup, now)  # stale: nothing told this node yet
    other_node = SlotCache(60, redis_url, redis_client_options(app.config))
    other_node.bump_shared()  # what the other node's commit does
    other_node.close()
    assert (start, expert) not in shown(session, setup, now)


def test_offers_made_with_a_refusal_use_recent_entries_whatever_the_stamp(
        app: Flask, session: Any, setup: Any, cache: SlotCache, redis_url: str, monkeypatch: Any) -> None:
    """In a rush every booking bumps the stamp; the losers' offers may be a few seconds old, no older."""
    monkeypatch.setattr(booking.slot_cache, "RECENT_SECONDS", 0.4)
    now = now_before(setup)
    expert = setup.experts[1].id
    start, later = setup.at(11), setup.at(12)
    assert (start, expert) in shown(session, setup, now)
    booking_behind_the_sessions_back(session, setup, start, expert)
    other_node = SlotCache(60, redis_url, redis_client_options(app.config))
    other_node.bump_shared()
    other_node.close()
    assert (start, expert) in shown(session, setup, now, recent=True)  # an offer: seconds old at most
    assert (start, expert) not in shown(session, setup, now)  # what is shown follows the stamp
    booking_behind_the_sessions_back(session, setup, later, expert)  # no bump: this node is not told
    assert (later, expert) in shown(session, setup, now, recent=True)
    wall_clock.sleep(0.5)
    assert (later, expert) not in shown(session, setup, now, recent=True)  # past RECENT_SECONDS: read afresh


def test_without_redis_an_entry_lives_at_most_its_seconds(app: Flask, session: Any, setup: Any) -> None:
    with socket.socket() as probe:  # a port nobody listens on: Redis down
        probe.bind(("127.0.0.1", 0))
        dead = f"redis://127.0.0.1:{probe.getsockname()[1]}/0"
    with use_cache(app, 0.5, dead):
        now = utcnow()
        expert = setup.experts[0].id
        start = setup.at(12)
        assert (start, expert) in shown(session, setup, now)
        booking_behind_the_sessions_back(session, setup, start, expert)
        assert (start, expert) in shown(session, setup, now)  # stale within the bound
        wall_clock.sleep(0.6)
        assert (start, expert) not in shown(session, setup, utcnow())


def test_a_cached_day_drops_slots_that_passed_their_notice(session: Any, cache: SlotCache) -> None:
    setup = bookable_setup(session, experts=1, min_notice_minutes=60)
    session.commit()
    now = setup.at(8, 30)
    first = shown(session, setup, now)
    assert min(start for start, _ in first) == setup.at(9, 30)
    later = shown(session, setup, now + timedelta(minutes=30))
    assert min(start for start, _ in later) == setup.at(10)
    assert later == {s for s in first if s[0] >= setup.at(10)}


def test_the_check_under_the_lock_never_reads_the_cache(session: Any, setup: Any, cache: SlotCache) -> None:
    now = now_before(setup)
    expert = setup.experts[0].id
    start = setup.at(9)
    shown(session, setup, now)  # fills the cache
    booking_behind_the_sessions_back(session, setup, start, expert)
    assert (start, expert) in shown(session, setup, now)  # stale, shown...
    with pytest.raises(SlotTaken):  # ...but never booked twice
        hold(session, setup, start, now, who=citizen(5), expert_id=expert)


def test_busy_times_bounded_by_date_still_see_a_booking_that_began_before_the_range(
        session: Any) -> None:
    setup = bookable_setup(session, experts=1)
    expert = setup.experts[0]
    add_override(session, expert, setup.day, kind=OverrideKind.HOURS, intervals=[["00:00", "02:00"]])
    previous = setup.day - timedelta(days=1)
    started = datetime.combine(previous, time(23, 30), tzinfo=setup.at(0).tzinfo)
    booking_behind_the_sessions_back(session, setup, started, expert.id, minutes=60)  # 23:30 .. 00:30
    found = {s.start for s in search_slots(session, setup.topic, "video", setup.day, setup.day,
                                           now_before(setup) - timedelta(days=1))}
    assert setup.at(0) not in found and setup.at(0, 30) in found


def slots_answer(client: Any, setup: Any, **extra: str) -> tuple[Any, list[str]]:
    day = setup.day.isoformat()
    query = "&".join(f"{k}={v}" for k, v in {"topic": setup.topic.slug, "channel": "video", "from": day, "to": day,
                                              **extra}.items())
    sent, stop = statements(db.session)
    try:
        answer = client.get(f"/api/v1/slots?{query}")
    finally:
        stop()
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer, sent


def test_the_same_question_within_a_second_gets_the_same_answer_without_a_search(
        client: Any, session: Any, setup: Any, cache: SlotCache, monkeypatch: Any) -> None:
    first, _sent = slots_answer(client, setup)
    again, sent = slots_answer(client, setup)
    assert again.data == first.data and len(first.get_json()["slots"]) == 16
    assert not any("bookings" in s or "weekly_availability" in s for s in sent), sent  # the topic alone
    compact, sent = slots_answer(client, setup, shape="compact")  # another question: searched (from the cache)
    assert compact.get_json()["shape"] == "compact" and len(compact.get_json()["slots"]) == 16

    monkeypatch.setattr(cache, "answer_seconds", 0.2)
    wall_clock.sleep(0.3)
    _later, sent = slots_answer(client, setup)
    assert any("experts" in s for s in sent), sent  # past the bound: searched again


def test_a_booking_here_changes_the_answer_at_once(client: Any, session: Any, setup: Any, cache: SlotCache) -> None:
    start, expert = setup.at(10), setup.experts[0].id
    listed = {(s["start"], s["expert"]["id"]) for s in slots_answer(client, setup)[0].get_json()["slots"]}
    assert (start.isoformat(), expert) in listed
    hold(session, setup, start, now_before(setup), expert_id=expert)
    session.commit()
    listed = {(s["start"], s["expert"]["id"]) for s in slots_answer(client, setup)[0].get_json()["slots"]}
    assert (start.isoformat(), expert) not in listed


def test_with_slot_answer_seconds_0_every_question_is_searched(
        app: Flask, client: Any, session: Any, setup: Any, redis_url: str) -> None:
    with use_cache(app, 60, redis_url, answer_seconds=0):
        slots_answer(client, setup)
        _again, sent = slots_answer(client, setup)
    assert any("experts" in s for s in sent), sent  # searched (its days from the slot cache)
