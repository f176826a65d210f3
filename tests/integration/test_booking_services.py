"""Booking rules in the services: holds and their expiry, codes, limits, experts, alternatives."""

from __future__ import annotations

import dataclasses
import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import booking.services as booking_services
from booking.availability import search_slots
from booking.citizens import validate_citizen
from booking.codes import CODE_ALPHABET, CODE_LENGTH
from booking.models import Booking, BookingStatus
from booking.services import (
    BookingPolicy,
    LimitReached,
    SlotTaken,
    cancel_booking,
    confirm_hold,
    expire_holds,
    hold_slot,
    reschedule_booking,
)
from scheduler.app import configure_sqlite
from scheduler.audit import Actor, AuditEntry
from scheduler.config import normalise_database_url
from scheduler.db import Base
from scheduler.errors import DomainError
from tests.booking_fixtures import bookable_setup, two_office_setup

POLICY = BookingPolicy(hold_minutes=15, active_per_topic=1, max_code_attempts=3, secret_key="k" * 40)
ACTOR = Actor("citizen", None, "citizen")


def citizen(n: int = 1, **kw: Any) -> Any:
    fields = {"name": f"Гражданин {n}", "email": f"c{n}@example.org", "phone": f"+7 912 000-00-{n:02d}",
              "applicant_type": "individual", **kw}
    return validate_citizen(**fields)


def hold(session: Any, setup: Any, start: Any, now: Any, who: Any = None, **kw: Any) -> Any:
    return hold_slot(session, topic=setup.topic, channel="video", start=start, citizen=who or citizen(),
                     question="Вопрос о замене плиты", now=now, policy=kw.pop("policy", POLICY), actor=ACTOR, **kw)


def free_starts(session: Any, setup: Any, now: Any, expert_id: int | None = None) -> set[Any]:
    return {s.start for s in search_slots(session, setup.topic, "video", setup.day, setup.day, now,
                                          expert_id=expert_id)}


@pytest.fixture
def setup(session: Any) -> Any:
    return bookable_setup(session)


def now_before(setup: Any) -> Any:
    return setup.at(8) - timedelta(days=1)


def test_a_hold_takes_the_time_and_its_expiry_gives_it_back(session: Any, setup: Any) -> None:
    now = now_before(setup)
    start = setup.at(10)
    result = hold(session, setup, start, now, expert_id=setup.experts[0].id)
    booking = result.booking
    assert booking.status == BookingStatus.PENDING and booking.hold_expires_at == now + timedelta(minutes=15)
    assert len(booking.code) == CODE_LENGTH and set(booking.code) <= set(CODE_ALPHABET)
    assert start not in free_starts(session, setup, now, setup.experts[0].id)
    later = now + timedelta(minutes=15)
    # Free again the moment the hold runs out, even before the sweep records it.
    assert start in free_starts(session, setup, later, setup.experts[0].id)
    assert expire_holds(session, later) == 1
    assert booking.status == BookingStatus.CANCELLED
    assert [e.kind for e in booking.events] == ["held", "hold_expired"]


def test_code_confirms_and_wrong_codes_release_the_hold(session: Any, setup: Any) -> None:
    now = now_before(setup)
    first = hold(session, setup, setup.at(10), now)
    confirm_hold(session, first.booking, first.confirmation_code, now, POLICY, ACTOR)
    assert first.booking.status == BookingStatus.CONFIRMED and first.booking.sequence == 1

    second = hold(session, setup, setup.at(11), now, who=citizen(2))
    wrong = "000000" if second.confirmation_code != "000000" else "111111"
    for attempt in range(1, 3):
        with pytest.raises(DomainError) as caught:
            confirm_hold(session, second.booking, wrong, now, POLICY, ACTOR)
        assert str(3 - attempt) in caught.value.fields["code"]
    with pytest.raises(DomainError):
        confirm_hold(session, second.booking, wrong, now, POLICY, ACTOR)
    assert second.booking.status == BookingStatus.CANCELLED
    with pytest.raises(DomainError):
        confirm_hold(session, second.booking, second.confirmation_code, now, POLICY, ACTOR)


def test_an_expired_hold_cannot_be_confirmed(session: Any, setup: Any) -> None:
    now = now_before(setup)
    result = hold(session, setup, setup.at(10), now)
    with pytest.raises(DomainError) as caught:
        confirm_hold(session, result.booking, result.confirmation_code, now + timedelta(minutes=16), POLICY, ACTOR)
    assert caught.value.code == "hold_expired"


@pytest.mark.parametrize("same", ["email", "phone"])
def test_one_active_booking_per_topic_by_email_and_by_phone(session: Any, setup: Any, same: str) -> None:
    now = now_before(setup)
    hold(session, setup, setup.at(10), now, who=citizen(1))
    other = citizen(2, **({"email": "c1@example.org"} if same == "email" else {"phone": "+7 912 000-00-01"}))
    with pytest.raises(LimitReached):
        hold(session, setup, setup.at(11), now, who=other)
    # A higher configured limit lets the same person book again.
    hold(session, setup, setup.at(11), now, who=other, policy=BookingPolicy(active_per_topic=2, secret_key="k" * 40))


def test_any_expert_takes_the_next_free_one_then_the_slot_is_gone(session: Any, setup: Any) -> None:
    now = now_before(setup)
    start = setup.at(10)
    first = hold(session, setup, start, now, who=citizen(1)).booking
    second = hold(session, setup, start, now, who=citizen(2)).booking
    assert {first.expert_id, second.expert_id} == {e.id for e in setup.experts}
    session.commit()  # both were earlier requests
    with pytest.raises(SlotTaken) as caught:
        hold(session, setup, start, now, who=citizen(3))
    session.rollback()
    alternatives = caught.value.find_alternatives(session)
    assert alternatives and all(a.start != start for a in alternatives)
    nearest = min(abs((a.start - start).total_seconds()) for a in alternatives)
    assert nearest == 30 * 60


def test_a_time_outside_availability_is_refused(session: Any, setup: Any) -> None:
    with pytest.raises(SlotTaken):
        hold(session, setup, setup.at(13, 30), now_before(setup))
    with pytest.raises(SlotTaken):  # off the grid
        hold(session, setup, setup.at(10, 10), now_before(setup))


def test_the_database_refuses_a_second_active_booking_of_the_same_seat(session: Any, setup: Any) -> None:
    now = now_before(setup)
    booking = hold(session, setup, setup.at(10), now, expert_id=setup.experts[0].id).booking
    twin = Booking(**{c.key: getattr(booking, c.key) for c in Booking.__table__.columns
                      if c.key not in ("id", "code")}, code="TWINTWIN")
    with pytest.raises(IntegrityError), session.begin_nested():
        session.add(twin)
        session.flush()


def test_cancel_frees_the_time_at_once_and_is_audited(session: Any, setup: Any) -> None:
    now = now_before(setup)
    result = hold(session, setup, setup.at(10), now, expert_id=setup.experts[0].id)
    confirm_hold(session, result.booking, result.confirmation_code, now, POLICY, ACTOR)
    cancel_booking(session, result.booking, now, ACTOR)
    assert setup.at(10) in free_starts(session, setup, now, setup.experts[0].id)
    actions = [a.action for a in session.query(AuditEntry).filter_by(entity_id=result.booking.code)
               .order_by(AuditEntry.id)]
    assert actions == ["booking.held", "booking.confirmed", "booking.cancelled"]
    with pytest.raises(DomainError):
        cancel_booking(session, result.booking, now, ACTOR)


def test_reschedule_keeps_the_code_and_refuses_a_taken_time(session: Any, setup: Any) -> None:
    now = now_before(setup)
    mine = hold(session, setup, setup.at(10), now, expert_id=setup.experts[0].id)
    confirm_hold(session, mine.booking, mine.confirmation_code, now, POLICY, ACTOR)
    other = hold(session, setup, setup.at(12), now, who=citizen(2), expert_id=setup.experts[0].id)
    code = mine.booking.code
    with pytest.raises(SlotTaken):
        reschedule_booking(session, mine.booking, setup.at(12), now, ACTOR, expert_id=setup.experts[0].id)
    reschedule_booking(session, mine.booking, setup.at(11), now, ACTOR)
    assert mine.booking.code == code and mine.booking.starts_at == setup.at(11)
    assert mine.booking.expert_id == setup.experts[0].id  # stays with the same expert when free
    assert setup.at(10) in free_starts(session, setup, now, setup.experts[0].id)
    assert other.booking.status == BookingStatus.PENDING


def test_past_bookings_cannot_be_cancelled_or_moved(session: Any, setup: Any) -> None:
    now = now_before(setup)
    result = hold(session, setup, setup.at(10), now)
    confirm_hold(session, result.booking, result.confirmation_code, now, POLICY, ACTOR)
    after = setup.at(10, 30)
    with pytest.raises(DomainError):
        cancel_booking(session, result.booking, after, ACTOR)
    with pytest.raises(DomainError):
        reschedule_booking(session, result.booking, setup.at(12), after, ACTOR)


def test_applicant_type_must_be_allowed_by_the_topic(session: Any, setup: Any) -> None:
    setup.topic.allows_individuals = False
    with pytest.raises(DomainError) as caught:
        hold(session, setup, setup.at(10), now_before(setup))
    assert "applicant_type" in caught.value.fields


# --- seats and offices: one expert in one place; the office chosen is the office booked ---------------------


@pytest.fixture
def two_offices(session: Any) -> Any:
    return two_office_setup(session)


def hold_in_person(session: Any, setup: Any, start: Any, now: Any, who: Any, **kw: Any) -> Any:
    return hold_slot(session, topic=setup.topic, channel="in_person", start=start, citizen=who,
                     question="Вопрос о замене плиты", now=now, policy=POLICY, actor=ACTOR, **kw)


def in_person_free(session: Any, setup: Any, now: Any) -> dict[tuple[Any, int | None], int]:
    return {(s.start, s.slot.location_id): s.slot.seats_left
            for s in search_slots(session, setup.topic, "in_person", setup.day, setup.day, now)}


def test_a_seated_expert_is_not_offered_in_a_second_office(session: Any, two_offices: Any) -> None:
    setup, (first, second) = two_offices
    now = now_before(setup)
    held = hold_in_person(session, setup, setup.at(10), now, citizen(1), location_id=first.id)
    assert held.booking.location_id == first.id
    free = in_person_free(session, setup, now)
    assert free[(setup.at(10), first.id)] == 1
    assert (setup.at(10), second.id) not in free
    assert free[(setup.at(9, 30), second.id)] == 2
    # The second office is refused with a clear reason; the first keeps its last seat.
    with pytest.raises(SlotTaken) as refused:
        hold_in_person(session, setup, setup.at(10), now, citizen(2), location_id=second.id)
    assert refused.value.location_id == second.id
    assert any(word in str(refused.value.fields["start"]).lower() for word in ("office", "офис"))
    assert all(alt.slot.location_id == second.id for alt in refused.value.find_alternatives(session))
    other = hold_in_person(session, setup, setup.at(10), now, citizen(3), location_id=first.id)
    assert (other.booking.location_id, other.booking.seat) == (first.id, 2)


def test_the_office_chosen_is_the_office_booked(session: Any, two_offices: Any) -> None:
    setup, (first, second) = two_offices
    now = now_before(setup)
    held = hold_in_person(session, setup, setup.at(10), now, citizen(1), location_id=second.id)
    assert held.booking.location_id == second.id
    confirm_hold(session, held.booking, held.confirmation_code, now, POLICY, ACTOR)
    reschedule_booking(session, held.booking, setup.at(9, 30), now, ACTOR, location_id=second.id)
    assert (held.booking.starts_at, held.booking.location_id) == (setup.at(9, 30), second.id)
    # Someone takes a seat at 10:00 in the second office: the first office is refused at 10:00.
    hold_in_person(session, setup, setup.at(10), now, citizen(3), location_id=second.id)
    with pytest.raises(SlotTaken):
        reschedule_booking(session, held.booking, setup.at(10), now, ACTOR, location_id=first.id)
    reschedule_booking(session, held.booking, setup.at(10), now, ACTOR, location_id=second.id)
    assert (held.booking.location_id, held.booking.seat) == (second.id, 2)
    # Without a choice the first free office is taken, as before.
    anywhere = hold_in_person(session, setup, setup.at(10, 30), now, citizen(2))
    assert anywhere.booking.location_id == first.id


def test_an_office_is_only_for_in_person_consultations(session: Any, two_offices: Any) -> None:
    setup, (office, _second) = two_offices
    with pytest.raises(DomainError) as refused:
        hold(session, setup, setup.at(10), now_before(setup), location_id=office.id)
    assert set(refused.value.fields) == {"location"}
    with pytest.raises(DomainError) as unknown:
        hold_in_person(session, setup, setup.at(10), now_before(setup), citizen(1), location_id=office.id + 1000)
    assert set(unknown.value.fields) == {"location"} and unknown.value.code != "slot_taken"


def test_concurrent_wrong_codes_never_check_more_than_the_attempt_limit(
    database_url: str, fresh_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Twelve guesses at one hold at the same moment, each on its own connection: at most five are checked.

    Every thread read the hold before any guess was counted (as a request does under READ
    COMMITTED), so a limit checked on that copy would let all twelve through.
    """
    policy = dataclasses.replace(POLICY, max_code_attempts=5)
    guesses = 12
    engine = create_engine(normalise_database_url(fresh_database_url))
    if engine.dialect.name == "sqlite":
        configure_sqlite(engine)  # as the app does: BEGIN IMMEDIATE serialises writers
    checked: list[str] = []
    lock = threading.Lock()
    real_hash = booking_services.confirmation_code_hash

    def counting_hash(code: str, secret_key: str, booking_code: str) -> str:
        with lock:
            checked.append(code)
        return real_hash(code, secret_key, booking_code)

    monkeypatch.setattr(booking_services, "confirmation_code_hash", counting_hash)
    try:
        Base.metadata.create_all(engine)
        with Session(engine) as session:
            setup = bookable_setup(session)
            now = now_before(setup)
            result = hold(session, setup, setup.at(10), now, policy=policy)
            booking_id = result.booking.id
            wrong = "000000" if result.confirmation_code != "000000" else "111111"
            session.commit()
        checked.clear()  # holding computed the code's hash too; only the guesses count
        barrier = threading.Barrier(guesses)
        outcomes: list[str] = []

        def guess() -> None:
            with Session(engine, expire_on_commit=False) as session:
                booking = session.get(Booking, booking_id)
                assert booking is not None
                session.commit()  # the copy stays loaded; SQLite's write lock is released for the others
                barrier.wait()
                try:
                    confirm_hold(session, booking, wrong, now, policy, ACTOR)
                    session.commit()
                    outcome = "confirmed"
                except DomainError as exc:
                    # The request boundary commits a refusal that keeps its changes (the counted attempt).
                    if exc.keeps_changes:
                        session.commit()
                    else:
                        session.rollback()
                    outcome = exc.code.value
            with lock:
                outcomes.append(outcome)

        threads = [threading.Thread(target=guess) for _ in range(guesses)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(outcomes) == guesses and "confirmed" not in outcomes
        assert len(checked) == policy.max_code_attempts
        with Session(engine) as session:
            booking = session.get(Booking, booking_id)
            assert booking is not None
            assert booking.confirmation_attempts == policy.max_code_attempts
            assert booking.status == BookingStatus.CANCELLED
            assert [e.kind for e in booking.events].count("hold_released") == 1
    finally:
        engine.dispose()
