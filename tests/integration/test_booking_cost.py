"""What one booking costs the database, and that a loser of a race is turned away before any lock.

A partner booking is a handful of statements whatever the expert's history; a request for a time
already taken is answered from one lock-free read; an expired hold in the way is expired (and only
one near that time), so the time is booked at seat 1.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, select

from booking.apikeys import create_key
from booking.models import Booking, BookingStatus
from booking.services import SlotTaken, nearest_alternatives
from scheduler.audit import Actor
from scheduler.db import utcnow
from tests.booking_fixtures import bookable_setup
from tests.integration.test_booking_services import POLICY, citizen, hold
from tests.integration.test_slot_cache import use_cache

# Per partner booking on PostgreSQL: key, topic (with department and hours), the citizen's locks,
# the pre-check with their active bookings, the expert's lock (which is the feed-version bump too),
# hours, overrides, busy times, then one INSERT each for the booking, its events, its audit entries
# and its email. SQLite takes no locks (writers are serialised), so the feed version is bumped by
# its own UPDATE, and it writes the two events and the two audit entries one row at a time.
MAX_STATEMENTS = 12
MAX_STATEMENTS_SQLITE = 13
TRANSACTION_CONTROL = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT", "BEGIN")


@contextmanager
def statements(session: Any) -> Iterator[list[str]]:
    """The statements sent on the test's connection while the block runs (transaction control aside)."""
    sent: list[str] = []
    connection = session.get_bind()

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.lstrip().upper().startswith(TRANSACTION_CONTROL):
            sent.append(" ".join(statement.split()))

    event.listen(connection, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(connection, "before_cursor_execute", record)


@pytest.fixture
def setup(session: Any) -> Any:
    return bookable_setup(session)


def test_a_partner_booking_is_a_few_statements_and_its_reply_reads_nothing_after_the_writes(
        client: Any, session: Any, setup: Any) -> None:
    key = create_key(session, "Портал", Actor.system("test"))[1]
    expert = setup.experts[0]
    for hour, n in ((9, 1), (11, 2)):  # some history of the expert's day, which must not add statements
        hold(session, setup, setup.at(hour), setup.at(8) - timedelta(days=1), citizen(n), expert_id=expert.id)
    session.flush()
    body = {"topic": setup.topic.slug, "channel": "video", "start": setup.at(10).isoformat(), "expert": expert.id,
            "citizen": {"name": "Анна Смирнова", "email": "anna@example.org", "phone": "+7 912 345-67-89",
                        "applicant_type": "individual"},
            "question": "Хочу заменить плиту.", "consent_personal_data": True}
    with statements(session) as sent:
        answer = client.post("/api/v1/bookings", json=body, headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 201, answer.get_data(as_text=True)
    assert answer.get_json()["expert"]["id"] == expert.id
    most = MAX_STATEMENTS_SQLITE if session.get_bind().dialect.name == "sqlite" else MAX_STATEMENTS
    assert len(sent) <= most, "\n".join(sent)
    first_write = next(n for n, s in enumerate(sent) if s.startswith("INSERT"))
    assert all(s.startswith("INSERT") for s in sent[first_write:]), "\n".join(sent)  # no reload for the reply
    booking = session.scalar(select(Booking).where(Booking.code == answer.get_json()["code"]))
    assert booking.status == BookingStatus.CONFIRMED and booking.seat == 1
    assert [e.kind for e in booking.events] == ["held", "confirmed"]


def test_a_loser_is_refused_from_one_read_without_waiting_for_the_experts_lock(
        app: Flask, session: Any, setup: Any, redis_url: str) -> None:
    now = setup.at(8) - timedelta(days=1)
    expert = setup.experts[0]
    hold(session, setup, setup.at(10), now, citizen(1), expert_id=expert.id)
    session.commit()
    with use_cache(app, 60, redis_url):
        nearest_alternatives(session, setup.topic, "video", setup.at(10), now, expert.id)  # the rush's searches
        with statements(session) as sent, pytest.raises(SlotTaken) as refused:
            hold(session, setup, setup.at(10), now, citizen(2), expert_id=expert.id)
        assert not any("FOR UPDATE" in s for s in sent), "\n".join(sent)
        # The citizen's locks (PostgreSQL), then the pre-check with their active bookings: nothing
        # else, the offers included (from the cache, with the topic and experts the pre-check read).
        assert len(sent) <= 2, "\n".join(sent)
        with statements(session) as read_for_offers:
            offers = refused.value.find_alternatives(session)
        assert offers, "a refusal still offers the nearest free times"
        assert read_for_offers == []
        assert all(o.expert.id == expert.id and o.start != setup.at(10) for o in offers)


def test_a_losers_409_reloads_nothing_after_the_refusal(
        app: Flask, client: Any, session: Any, setup: Any, redis_url: str) -> None:
    key = create_key(session, "Портал", Actor.system("test"))[1]
    now = setup.at(8) - timedelta(days=1)
    expert = setup.experts[0]
    hold(session, setup, setup.at(10), now, citizen(1), expert_id=expert.id)
    session.commit()
    body = {"topic": setup.topic.slug, "channel": "video", "start": setup.at(10).isoformat(), "expert": expert.id,
            "citizen": {"name": "Анна Смирнова", "email": "anna@example.org", "phone": "+7 912 345-67-89",
                        "applicant_type": "individual"},
            "question": "Хочу заменить плиту.", "consent_personal_data": True}
    with use_cache(app, 60, redis_url):
        client.get(f"/api/v1/slots?topic={setup.topic.slug}&channel=video")  # fills nothing the 409 needs
        nearest_alternatives(session, setup.topic, "video", setup.at(10), utcnow(), expert.id)
        with statements(session) as sent:
            answer = client.post("/api/v1/bookings", json=body, headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 409, answer.get_data(as_text=True)
    payload = answer.get_json()
    assert payload["error"] == "slot_taken" and payload["alternatives"]
    assert all(a["start"] != setup.at(10).isoformat() for a in payload["alternatives"])
    # Key, topic, the citizen's locks (PostgreSQL) and the pre-check; the offers come from what was read.
    assert len(sent) <= 4, "\n".join(sent)


def test_with_no_expert_chosen_the_precheck_passes_the_time_to_a_free_colleague(session: Any, setup: Any) -> None:
    now = setup.at(8) - timedelta(days=1)
    first = hold(session, setup, setup.at(10), now, citizen(1)).booking
    second = hold(session, setup, setup.at(10), now, citizen(2)).booking
    assert (first.expert_id, second.expert_id) == (setup.experts[0].id, setup.experts[1].id)
    with pytest.raises(SlotTaken):
        hold(session, setup, setup.at(10), now, citizen(3))


def test_an_expired_hold_in_the_way_is_expired_and_one_far_away_is_left_to_the_sweep(
        session: Any, setup: Any) -> None:
    now = setup.at(8) - timedelta(days=3)
    expert = setup.experts[0]
    in_the_way = hold(session, setup, setup.at(10), now, citizen(1), expert_id=expert.id).booking
    far_day = setup.day + timedelta(days=7)
    far = hold(session, setup, setup.at(10, day=far_day), now, citizen(2, email="far@example.org"),
               expert_id=expert.id, policy=POLICY).booking
    session.flush()
    later = now + timedelta(minutes=POLICY.hold_minutes)
    taken = hold(session, setup, setup.at(10), later, citizen(3), expert_id=expert.id).booking
    session.flush()
    assert taken.seat == 1 and taken.expert_id == expert.id
    assert in_the_way.status == BookingStatus.CANCELLED and in_the_way.events[-1].kind == "hold_expired"
    assert far.status == BookingStatus.PENDING  # not this booking's business: the periodic sweep expires it
