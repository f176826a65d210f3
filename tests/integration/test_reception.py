"""Reception desk services: check-in windows, walk-ins, calling, the visit's state machine, no-shows, races."""

from __future__ import annotations

import functools
import threading
from datetime import date, time, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from booking import consultation
from booking.models import Booking, BookingStatus, Outcome
from booking.reception import services
from booking.reception.models import WaitingEntry, WaitingStatus
from scheduler.app import configure_sqlite
from scheduler.audit import Actor
from scheduler.config import normalise_database_url
from scheduler.db import Base
from scheduler.errors import DomainError
from tests.reception_fixtures import POLICY, VISIT_STATES, ReceptionSetup, a_day_ahead, book, reception_setup, visit

DESK = Actor.system("desk")
WINDOWS = services.Windows(early_minutes=60, late_minutes=15)


@pytest.fixture
def setup(session: Any) -> ReceptionSetup:
    return reception_setup(session, a_day_ahead())


def booked(session: Any, setup: ReceptionSetup, hour: int = 10, minute: int = 0, expert: int = 0) -> Booking:
    return book(session, setup, setup.at(hour, minute), setup.at(8), expert=setup.experts[expert])


def error_code(call: Any) -> str:
    with pytest.raises(DomainError) as caught:
        call()
    return caught.value.code


# --------------------------------------------------------------------------- check-in


def test_check_in_by_code_numbers_the_visitor_and_records_the_arrival(session: Any, setup: ReceptionSetup) -> None:
    first, second = booked(session, setup, 10), booked(session, setup, 10, 30)
    now = setup.at(9, 40)
    services.check_in(session, second.code.lower(), setup.location, now, WINDOWS, DESK)
    services.check_in(session, f"{first.code[:4]}-{first.code[4:]}", setup.location, now, WINDOWS, DESK)
    assert (second.status, second.checked_in_at, second.queue_number) == (BookingStatus.CHECKED_IN, now, 1)
    assert first.queue_number == 2
    assert [e.kind for e in first.events][-1] == "checked_in"


def test_a_second_check_in_of_the_same_visitor_says_already_checked_in(session: Any, setup: ReceptionSetup) -> None:
    booking = booked(session, setup)
    services.check_in(session, booking.code, setup.location, setup.at(9, 55), WINDOWS, DESK)
    code = error_code(lambda: services.check_in(session, booking.code, setup.location, setup.at(9, 56), WINDOWS, DESK))
    assert code == "already_checked_in"
    assert booking.queue_number == 1


@pytest.mark.parametrize(("hour", "minute", "expected"), [
    (8, 59, "too_early"), (9, 0, None), (10, 15, None), (10, 16, "too_late"),
])
def test_check_in_is_open_from_the_early_to_the_late_window(session: Any, setup: ReceptionSetup, hour: int,
                                                              minute: int, expected: str | None) -> None:
    booking = booked(session, setup)
    now = setup.at(hour, minute)
    if expected is None:
        services.check_in(session, booking.code, setup.location, now, WINDOWS, DESK)
        assert booking.status == BookingStatus.CHECKED_IN
    else:
        assert error_code(lambda: services.check_in(session, booking.code, setup.location, now, WINDOWS, DESK)) \
            == expected
        assert booking.status == BookingStatus.CONFIRMED


def test_a_booking_for_another_location_or_day_or_an_unknown_code_is_refused_clearly(
        session: Any, setup: ReceptionSetup) -> None:
    booking = booked(session, setup)
    other = reception_setup(session, setup.day)
    now = setup.at(9, 50)
    assert error_code(lambda: services.check_in(session, booking.code, other.location, now, WINDOWS, DESK)) \
        == "wrong_location"
    tomorrow = now + timedelta(days=1)
    assert error_code(lambda: services.check_in(session, booking.code, setup.location, tomorrow, WINDOWS, DESK)) \
        == "wrong_day"
    assert error_code(lambda: services.check_in(session, "ZZZZ-ZZZZ", setup.location, now, WINDOWS, DESK)) \
        == "not_found"
    assert booking.status == BookingStatus.CONFIRMED


def test_a_cancelled_booking_cannot_be_checked_in(session: Any, setup: ReceptionSetup) -> None:
    from booking.services import cancel_booking

    booking = booked(session, setup)
    cancel_booking(session, booking, setup.at(9), DESK)
    assert error_code(lambda: services.check_in(session, booking.code, setup.location, setup.at(9, 50), WINDOWS,
                                                DESK)) == "conflict"


# --------------------------------------------------------------------------- walk-ins


def test_a_walk_in_gets_the_nearest_free_time_today_without_an_email(session: Any, setup: ReceptionSetup) -> None:
    booked(session, setup, 10, 0, expert=0)
    booked(session, setup, 10, 0, expert=1)
    now = setup.at(9, 45)
    result = services.register_walk_in(session, location=setup.location, topic=setup.topic, name="  Иван  Петров ",
                                       phone="8 912 000-11-22", now=now, policy=POLICY, actor=DESK)
    booking = result.booking
    assert booking is not None and result.entry is None
    assert booking.starts_at == setup.at(10, 30)
    assert (booking.status, booking.is_walk_in, booking.source) == (BookingStatus.CHECKED_IN, True, "desk")
    assert (booking.citizen_name, booking.citizen_phone, booking.citizen_email) == ("Иван Петров", "+79120001122", "")
    assert booking.checked_in_at == now and booking.queue_number == result.queue_number == 1


def test_walk_ins_without_email_do_not_count_against_each_others_booking_limit(
        session: Any, setup: ReceptionSetup) -> None:
    now = setup.at(9, 45)
    numbers = [services.register_walk_in(session, location=setup.location, topic=setup.topic, name=f"Гость {n}",
                                         phone=f"+7 912 000-11-{n:02d}", now=now, policy=POLICY, actor=DESK)
               for n in range(3)]
    assert all(r.booking is not None for r in numbers)
    assert [r.queue_number for r in numbers] == [1, 2, 3]


def test_with_no_free_time_left_a_walk_in_joins_the_waiting_list(session: Any, setup: ReceptionSetup) -> None:
    small = reception_setup(session, setup.day, starts=time(10), ends=time(10, 30), experts=1)
    book(session, small, small.at(10), small.at(8))
    result = services.register_walk_in(session, location=small.location, topic=small.topic, name="Иван Петров",
                                       phone="+7 912 000-11-22", now=small.at(9, 50), policy=POLICY, actor=DESK)
    assert result.booking is None and result.entry is not None
    assert (result.entry.status, result.entry.queue_number, result.entry.day) == (WaitingStatus.WAITING, 1, small.day)


def test_a_walk_in_needs_a_name_a_real_phone_and_a_topic_received_today(session: Any, setup: ReceptionSetup) -> None:
    with pytest.raises(DomainError) as caught:
        services.register_walk_in(session, location=setup.location, topic=setup.topic, name=" ", phone="123",
                                  now=setup.at(9), policy=POLICY, actor=DESK)
    assert set(caught.value.fields) == {"name", "phone"}
    elsewhere = reception_setup(session, setup.day)
    with pytest.raises(DomainError) as caught:
        services.register_walk_in(session, location=setup.location, topic=elsewhere.topic, name="Иван",
                                  phone="+7 912 000-11-22", now=setup.at(9), policy=POLICY, actor=DESK)
    assert set(caught.value.fields) == {"topic"}


# --------------------------------------------------------------------------- calling and the visit


def test_call_next_takes_booked_visitors_by_time_then_the_waiting_list(session: Any, setup: ReceptionSetup) -> None:
    late, early = booked(session, setup, 10, 30), booked(session, setup, 10, 0)
    now = setup.at(9, 50)
    services.check_in(session, late.code, setup.location, now, WINDOWS, DESK)
    services.check_in(session, early.code, setup.location, now, WINDOWS, DESK)
    entry = WaitingEntry(location_id=setup.location.id, topic_id=setup.topic.id, day=setup.day, queue_number=9,
                         visitor_name="Гость", visitor_phone="+79120001122", registered_at=now)
    session.add(entry)
    session.flush()
    expert = setup.experts[0]
    called = [services.call_next(session, setup.location, now, "Окно 2", DESK, expert) for _ in range(4)]
    assert called == [early, late, entry, None]
    assert (early.called_at, early.call_window, entry.call_window, entry.expert_id) == (now, "Окно 2", "Окно 2",
                                                                                         expert.id)


def test_an_expert_calls_only_their_own_visitors(session: Any, setup: ReceptionSetup) -> None:
    mine = booked(session, setup, 10, 0, expert=1)
    services.check_in(session, mine.code, setup.location, setup.at(9, 50), WINDOWS, DESK)
    assert services.call_next(session, setup.location, setup.at(9, 51), "1", DESK, setup.experts[0]) is None
    assert services.call_next(session, setup.location, setup.at(9, 51), "1", DESK, setup.experts[1]) is mine


def test_a_call_needs_a_window(session: Any, setup: ReceptionSetup) -> None:
    assert error_code(lambda: services.call_next(session, setup.location, setup.at(10), "  ", DESK)) == "validation"


def test_a_whole_visit_keeps_the_figures_for_analytics(session: Any, setup: ReceptionSetup) -> None:
    booking = booked(session, setup)
    services.check_in(session, booking.code, setup.location, setup.at(9, 50), WINDOWS, DESK)
    assert services.visit_state(booking) == "checked_in"
    services.call_next(session, setup.location, setup.at(10, 2), "Кабинет 5", DESK)
    assert services.visit_state(booking) == "called"
    services.start_consultation(session, booking, setup.at(10, 3), DESK)
    assert services.visit_state(booking) == "in_consultation"
    consultation.complete(session, booking, Outcome.RESOLVED, setup.at(10, 25), DESK)
    assert services.visit_state(booking) == "completed"
    assert booking.called_at - booking.checked_in_at == timedelta(minutes=12)  # type: ignore[operator]
    assert booking.completed_at - booking.started_at == timedelta(minutes=22)  # type: ignore[operator]
    assert booking.outcome == Outcome.RESOLVED
    assert [e.kind for e in booking.events][-4:] == ["checked_in", "called", "started", "completed"]


STATES = {state: functools.partial(visit, state=state) for state in VISIT_STATES}
MOVES = {
    "check_in": lambda s, setup, b: services.check_in(s, b.code, setup.location, setup.at(10, 5), WINDOWS, DESK),
    "start": lambda s, setup, b: services.start_consultation(s, b, setup.at(10, 30), DESK),
    "complete": lambda s, setup, b: consultation.complete(s, b, "resolved", setup.at(10, 30), DESK),
    "no_show": lambda s, setup, b: consultation.mark_no_show(s, b, setup.at(10, 30), DESK),
}
LEGAL = {
    ("expected", "check_in"), ("expected", "no_show"), ("checked_in", "no_show"), ("called", "start"),
    ("called", "complete"), ("called", "no_show"), ("in_consultation", "complete"),
}


@pytest.mark.parametrize(("state", "move"), [(s, m) for s in STATES for m in MOVES if (s, m) not in LEGAL])
def test_the_visit_refuses_every_illegal_move(session: Any, setup: ReceptionSetup, state: str, move: str) -> None:
    booking = STATES[state](session, setup)
    before = (booking.status, booking.called_at, booking.started_at, len(booking.events))
    with pytest.raises(DomainError):
        MOVES[move](session, setup, booking)
    assert (booking.status, booking.called_at, booking.started_at, len(booking.events)) == before


# The status each legal move leaves the booking in.
AFTER = {"check_in": BookingStatus.CHECKED_IN, "start": BookingStatus.CHECKED_IN, "complete": BookingStatus.COMPLETED,
         "no_show": BookingStatus.NO_SHOW}


@pytest.mark.parametrize(("state", "move"), sorted(LEGAL))
def test_the_visit_allows_each_legal_move(session: Any, setup: ReceptionSetup, state: str, move: str) -> None:
    booking = STATES[state](session, setup)
    events = len(booking.events)
    MOVES[move](session, setup, booking)
    assert booking.status == AFTER[move]
    if move == "start":
        assert booking.started_at == setup.at(10, 30)
    assert len(booking.events) > events  # every move is in the visit's history


def test_an_expected_visitor_is_not_a_no_show_before_the_appointment(session: Any, setup: ReceptionSetup) -> None:
    booking = booked(session, setup)
    assert error_code(lambda: consultation.mark_no_show(session, booking, setup.at(9, 59), DESK)) == "too_early"


@pytest.mark.parametrize(("before", "to", "allowed"), [
    (WaitingStatus.WAITING, WaitingStatus.STARTED, False), (WaitingStatus.WAITING, WaitingStatus.SERVED, False),
    (WaitingStatus.WAITING, WaitingStatus.LEFT, True), (WaitingStatus.CALLED, WaitingStatus.STARTED, True),
    (WaitingStatus.STARTED, WaitingStatus.LEFT, False), (WaitingStatus.SERVED, WaitingStatus.LEFT, False),
    (WaitingStatus.LEFT, WaitingStatus.CALLED, False), (WaitingStatus.STARTED, WaitingStatus.SERVED, True),
])
def test_the_waiting_list_keeps_its_own_state_machine(session: Any, setup: ReceptionSetup, before: WaitingStatus,
                                                      to: WaitingStatus, allowed: bool) -> None:
    entry = WaitingEntry(location_id=setup.location.id, topic_id=setup.topic.id, day=setup.day, queue_number=1,
                         visitor_name="Гость", visitor_phone="+79120001122", status=before, registered_at=setup.at(9))
    session.add(entry)
    session.flush()
    if allowed:
        services.move_waiting(session, entry, to, setup.at(10), DESK)
        assert entry.status == to
    else:
        with pytest.raises(DomainError):
            services.move_waiting(session, entry, to, setup.at(10), DESK)
        assert entry.status == before


# --------------------------------------------------------------------------- no-shows


def test_the_sweep_marks_only_expected_in_person_visitors_past_the_grace_period(
        session: Any, setup: ReceptionSetup) -> None:
    absent, arrived, later = booked(session, setup, 10), booked(session, setup, 10, 0, expert=1), \
        booked(session, setup, 10, 30)
    services.check_in(session, arrived.code, setup.location, setup.at(9, 55), WINDOWS, DESK)
    assert consultation.sweep_no_shows(session, setup.at(10, 14), grace_minutes=15) == 0
    assert consultation.sweep_no_shows(session, setup.at(10, 15), grace_minutes=15) == 1
    assert (absent.status, absent.no_show_at) == (BookingStatus.NO_SHOW, setup.at(10, 15))
    assert absent.events[-1].actor_type == "system"
    assert (arrived.status, later.status) == (BookingStatus.CHECKED_IN, BookingStatus.CONFIRMED)


def test_the_time_a_no_show_frees_can_take_a_walk_in(session: Any, setup: ReceptionSetup) -> None:
    small = reception_setup(session, setup.day, starts=time(10), ends=time(11), experts=1)
    absent = book(session, small, small.at(10, 30), small.at(8))
    book(session, small, small.at(10), small.at(8))
    consultation.sweep_no_shows(session, small.at(10, 45), 15)
    assert absent.status == BookingStatus.NO_SHOW
    walk_in = services.register_walk_in(session, location=small.location, topic=small.topic, name="Гость",
                                        phone="+7 912 000-11-22", now=small.at(10, 20), policy=POLICY, actor=DESK)
    assert walk_in.booking is not None and walk_in.booking.starts_at == small.at(10, 30)


def test_the_periodic_job_marks_no_shows_with_the_configured_grace(app: Any, session: Any, time_machine: Any,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from booking.reception.jobs import sweep_no_shows

    # Twenty minutes after midnight in Moscow: the job must work in the first half-hour of a day too.
    setup = reception_setup(session, date(2026, 12, 2), starts=time(0), ends=time(23, 30))
    visitor = book(session, setup, setup.at(0), setup.at(0) - timedelta(minutes=1))
    time_machine.move_to(setup.at(0, 20), tick=False)
    monkeypatch.setitem(app.config, "RECEPTION_NO_SHOW_GRACE_MINUTES", 60)
    assert sweep_no_shows() == 0
    monkeypatch.setitem(app.config, "RECEPTION_NO_SHOW_GRACE_MINUTES", 0)
    assert sweep_no_shows() == 1
    assert (visitor.status, visitor.no_show_at) == (BookingStatus.NO_SHOW, setup.at(0, 20))


# --------------------------------------------------------------------------- concurrency


def test_two_desks_checking_in_the_same_visitor_get_one_success(database_url: str, fresh_database_url: str) -> None:
    """Two threads, each its own connection and transaction, check in one code at the same moment."""
    engine = create_engine(normalise_database_url(fresh_database_url))
    if engine.dialect.name == "sqlite":
        configure_sqlite(engine)  # as the app does: BEGIN IMMEDIATE serialises writers
    try:
        Base.metadata.create_all(engine)
        with Session(engine) as session:
            setup = reception_setup(session, a_day_ahead())
            code = booked(session, setup).code
            location_id = setup.location.id
            now = setup.at(9, 50)
            session.commit()
        barrier = threading.Barrier(2)
        outcomes: list[str] = []
        lock = threading.Lock()

        def desk() -> None:
            from scheduler.departments.models import Location

            with Session(engine) as session:
                barrier.wait()
                try:
                    location = session.get(Location, location_id)
                    assert location is not None
                    services.check_in(session, code, location, now, WINDOWS, DESK)
                    session.commit()
                    result = "ok"
                except DomainError as exc:
                    session.rollback()
                    result = exc.code
            with lock:
                outcomes.append(result)

        threads = [threading.Thread(target=desk) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcomes) == ["already_checked_in", "ok"]
        with Session(engine) as session:
            booking = session.scalar(select(Booking).where(Booking.code == code))
            assert booking is not None
            assert (booking.status, booking.queue_number) == (BookingStatus.CHECKED_IN, 1)
            assert [e.kind for e in booking.events].count("checked_in") == 1
    finally:
        engine.dispose()
