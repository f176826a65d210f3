"""The topic a partner booking or a slot search reads is kept per process for TOPICS_CACHE_SECONDS.

The bound the README states: a change made by another process is seen at most that late, one made
by this process at once; a topic that does not exist is never kept; the copy each request gets is
its own (nothing written back, the booking made with it is whole).
"""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, update

from booking.apikeys import create_key
from booking.models import Booking
from scheduler.audit import Actor
from scheduler.departments.models import Topic
from tests.booking_fixtures import bookable_setup
from tests.integration.test_booking_cost import statements
from tests.web.test_api_bookings import bearer, booking_body, other_citizen


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    clock = Clock()
    monkeypatch.setattr("booking.api.catalogue.time", SimpleNamespace(monotonic=clock.monotonic))
    app.config["TOPICS_CACHE_SECONDS"] = 5.0
    yield clock
    app.config["TOPICS_CACHE_SECONDS"] = 0.0
    app.extensions.pop("okno_topics_by_slug", None)


@pytest.fixture
def setup(session: Any) -> Any:
    found = bookable_setup(session)
    session.commit()
    return found


def topic_reads(sent: list[str]) -> int:
    """Reads of a topic by its slug (the busy times also join topics, for their buffers)."""
    return sum("FROM topics" in s and "topics.slug =" in s for s in sent)


def search(client: Any, setup: Any, session: Any) -> tuple[Any, int]:
    day = setup.day.isoformat()
    with statements(session) as sent:
        answer = client.get(f"/api/v1/slots?topic={setup.topic.slug}&channel=video&from={day}&to={day}")
    return answer, topic_reads(sent)


def test_a_topic_is_read_once_within_the_bound_and_again_after_it(
        client: Any, session: Any, setup: Any, clock: Clock) -> None:
    first, reads = search(client, setup, session)
    assert first.status_code == 200 and reads == 1
    second, reads = search(client, setup, session)
    assert second.status_code == 200 and reads == 0
    assert second.get_json() == first.get_json()
    clock.now += 5.0
    third, reads = search(client, setup, session)
    assert third.status_code == 200 and reads == 1


def test_a_change_by_another_process_shows_within_the_bound_and_one_by_this_process_at_once(
        client: Any, session: Any, setup: Any, clock: Clock) -> None:
    assert search(client, setup, session)[0].status_code == 200
    # Another node switches the topic off: plain SQL on the connection, which this process does not see.
    session.connection().exec_driver_sql(f"UPDATE topics SET is_active = false WHERE id = {setup.topic.id}")
    assert search(client, setup, session)[0].status_code == 200  # within the bound: as read
    clock.now += 5.0
    assert search(client, setup, session)[0].status_code == 404  # the bound passed

    session.connection().exec_driver_sql(f"UPDATE topics SET is_active = true WHERE id = {setup.topic.id}")
    clock.now += 5.0
    assert search(client, setup, session)[0].status_code == 200
    session.execute(update(Topic).where(Topic.id == setup.topic.id).values(is_active=False))
    session.commit()  # this process: at once
    assert search(client, setup, session)[0].status_code == 404


def test_a_topic_that_does_not_exist_is_never_kept(app: Flask, client: Any, session: Any, setup: Any,
                                                   clock: Clock) -> None:
    for n in range(3):
        day = setup.day.isoformat()
        assert client.get(f"/api/v1/slots?topic=made-up-{n}&channel=video&from={day}&to={day}").status_code == 404
    assert app.extensions.get("okno_topics_by_slug", {}) == {}


def test_bookings_made_with_the_kept_topic_are_whole_and_write_nothing_to_it(
        client: Any, session: Any, setup: Any, clock: Clock) -> None:
    key = create_key(session, "Портал", Actor.system("test"))[1]
    session.commit()
    codes = []
    for n, hour in enumerate((10, 11)):
        with statements(session) as sent:
            answer = client.post("/api/v1/bookings", json=booking_body(setup, hour, citizen=other_citizen(n)),
                                 headers=bearer(key))
        assert answer.status_code == 201, answer.get_data(as_text=True)
        assert not any(s.startswith("UPDATE topics") or s.startswith("UPDATE departments") for s in sent), sent
        codes.append(answer.get_json()["code"])
    assert topic_reads(sent) == 0  # the second booking read no topic
    bookings = session.scalars(select(Booking).where(Booking.code.in_(codes))).all()
    assert {b.topic_id for b in bookings} == {setup.topic.id}
    assert sorted(b.starts_at for b in bookings) == [setup.at(10), setup.at(11)]
