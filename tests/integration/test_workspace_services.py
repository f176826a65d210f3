"""Running a consultation: who sees it, no-show, completion with an outcome, notes; the feed's secret and ETag."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from booking import consultation
from booking.citizens import validate_citizen
from booking.models import Booking, BookingStatus, Outcome
from booking.services import BookingPolicy, cancel_booking, confirm_booking, hold_slot, reschedule_booking
from booking.workspace import feed, services
from scheduler.audit import Actor, AuditEntry
from scheduler.auth.access import Action, Scope, may
from scheduler.auth.models import Role
from scheduler.errors import DomainError
from tests.booking_fixtures import bookable_setup
from tests.factories import make_department
from tests.helpers import make_user

POLICY = BookingPolicy(secret_key="k" * 40)
CITIZEN = Actor("citizen", None, "citizen")
CONFIG = {"SECRET_KEY": "s" * 40, "PUBLIC_BASE_URL": "http://okno.example.org", "FEED_PAST_DAYS": 30,
          "FEED_FUTURE_DAYS": 180, "FEED_REFRESH_MINUTES": 15, "BABEL_DEFAULT_LOCALE": "ru"}


def confirmed(session: Any, setup: Any, hour: int, minute: int = 0, expert: int = 0, n: int = 1) -> Booking:
    """A confirmed booking of setup.experts[expert] at hour:minute on setup.day, made the real way."""
    now = setup.at(8) - timedelta(days=1)
    who = validate_citizen(name=f"Гражданин {n}", email=f"c{n}@example.org", phone=f"+7 912 000-00-{n:02d}",
                           applicant_type="individual")
    held = hold_slot(session, topic=setup.topic, channel="video", start=setup.at(hour, minute), citizen=who,
                     question=f"Вопрос {n}", now=now, policy=POLICY, actor=CITIZEN,
                     expert_id=setup.experts[expert].id)
    confirm_booking(session, held.booking, now, CITIZEN)
    session.flush()
    return held.booking


@pytest.fixture
def setup(session: Any) -> Any:
    return bookable_setup(session)


def staff(session: Any, setup: Any) -> Actor:
    return Actor.staff(setup.experts[0].user)


def test_no_show_only_after_the_start_and_recorded(session: Any, setup: Any) -> None:
    booking = confirmed(session, setup, 10)
    with pytest.raises(DomainError) as early:
        consultation.mark_no_show(session, booking, setup.at(9, 59), staff(session, setup))
    assert early.value.code == "too_early" and booking.status == BookingStatus.CONFIRMED
    consultation.mark_no_show(session, booking, setup.at(10, 10), staff(session, setup))
    assert booking.status == BookingStatus.NO_SHOW and booking.no_show_at == setup.at(10, 10)
    assert booking.events[-1].kind == "no_show" and booking.events[-1].actor_type == "staff"
    audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "booking.no_show")).one()
    assert audit.entity_id == booking.code and audit.actor_id == setup.experts[0].user.id
    with pytest.raises(DomainError) as again:
        consultation.complete(session, booking, Outcome.RESOLVED, setup.at(10, 20), staff(session, setup))
    assert again.value.code == "conflict"


@pytest.mark.parametrize("outcome", list(Outcome))
def test_completion_records_the_outcome_and_its_note(session: Any, setup: Any, outcome: Outcome) -> None:
    booking = confirmed(session, setup, 10)
    consultation.complete(session, booking, outcome.value, setup.at(10, 30), staff(session, setup),
                          "  Нужен ответ газовой службы  ")
    assert booking.status == BookingStatus.COMPLETED and booking.completed_at == setup.at(10, 30)
    assert booking.outcome == outcome and booking.outcome_note == "Нужен ответ газовой службы"
    assert booking.events[-1].details == {"outcome": outcome.value}
    assert session.scalars(select(AuditEntry).where(AuditEntry.action == "booking.completed")).one()


def test_completion_is_refused_before_the_start_for_a_cancelled_booking_and_without_an_outcome(
        session: Any, setup: Any) -> None:
    booking = confirmed(session, setup, 10)
    for outcome, at, code in (("maybe", setup.at(10, 30), "validation"), ("resolved", setup.at(9), "too_early")):
        with pytest.raises(DomainError) as refused:
            consultation.complete(session, booking, outcome, at, staff(session, setup))
        assert refused.value.code == code
    assert booking.status == BookingStatus.CONFIRMED and booking.outcome is None
    cancel_booking(session, booking, setup.at(8), CITIZEN)
    with pytest.raises(DomainError) as cancelled:
        consultation.complete(session, booking, "resolved", setup.at(10, 30), staff(session, setup))
    assert cancelled.value.code == "conflict"


def test_notes_are_kept_with_their_author_and_the_audit_does_not_copy_their_text(session: Any, setup: Any) -> None:
    booking = confirmed(session, setup, 10)
    author = setup.experts[0].user
    with pytest.raises(DomainError):
        services.add_note(session, booking, author, "   ", setup.at(9))
    note = services.add_note(session, booking, author, "Перезвонить после 15:00", setup.at(9))
    assert services.booking_notes(session, booking) == [(note, author)]
    audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "booking.note_added")).one()
    assert "Перезвонить" not in repr(audit.changes)


def test_only_the_assigned_expert_supervisors_of_the_department_and_admins_see_a_booking(
        session: Any, setup: Any) -> None:
    booking = confirmed(session, setup, 10)
    other_department = make_department(session)
    allowed = {
        "assigned expert": (setup.experts[0].user, True),
        "colleague": (setup.experts[1].user, False),
        "supervisor": (make_user(session, role=Role.SUPERVISOR, department_id=setup.department.id), True),
        "other supervisor": (make_user(session, role=Role.SUPERVISOR,
                                       department_id=other_department.id), False),
        "supervisor without department": (make_user(session, role=Role.SUPERVISOR), False),
        "reception": (make_user(session, role=Role.RECEPTION), False),
        "admin": (make_user(session, role=Role.ADMIN), True),
    }
    for who, (user, expected) in allowed.items():
        assert may(user, Action.VIEW_BOOKING_PERSONAL_DATA, booking.scope) is expected, who
        assert may(user, Action.VIEW_CALENDAR, Scope.of_expert(setup.experts[0])) is expected, who
    supervisor = allowed["supervisor"][0]
    assert services.visible_experts(session, supervisor) == sorted(setup.experts, key=lambda e: (e.name, e.id))
    assert services.visible_experts(session, setup.experts[1].user) == [setup.experts[1]]


def test_the_day_lists_the_experts_own_consultations_in_order_without_unconfirmed_holds(
        session: Any, setup: Any) -> None:
    late = confirmed(session, setup, 11, n=1)
    early = confirmed(session, setup, 9, n=2)
    confirmed(session, setup, 10, expert=1, n=3)
    hold_slot(session, topic=setup.topic, channel="video", start=setup.at(12), now=setup.at(8) - timedelta(days=1),
              citizen=validate_citizen(name="Пётр", email="p@example.org", phone="+7 912 111-11-11",
                                       applicant_type="individual"),
              question="", policy=POLICY, actor=CITIZEN, expert_id=setup.experts[0].id)
    starts, ends = services.local_day_bounds(setup.day, 1, setup.department.zone)
    assert services.expert_bookings(session, setup.experts[0], starts, ends) == [early, late]
    next_day = services.local_day_bounds(setup.day + timedelta(days=1), 1, setup.department.zone)
    assert services.expert_bookings(session, setup.experts[0], *next_day) == []


@pytest.mark.parametrize(("day", "hours"), [(date(2026, 3, 29), 23), (date(2026, 10, 25), 25), (date(2026, 6, 1), 24)])
def test_a_local_day_is_as_long_as_the_clock_says(day: date, hours: int) -> None:
    starts, ends = services.local_day_bounds(day, 1, ZoneInfo("Europe/Berlin"))
    assert ends - starts == timedelta(hours=hours)


# --------------------------------------------------------------------------- the feed


def test_the_feed_token_works_until_regenerated_or_revoked(session: Any, setup: Any) -> None:
    expert = setup.experts[0]
    actor = staff(session, setup)
    first = feed.issue_feed_token(session, expert, CONFIG, actor)
    assert expert.feed_token_hash and first not in expert.feed_token_hash
    assert feed.expert_by_feed_token(session, first, CONFIG) is expert
    assert feed.feed_url(expert, CONFIG) == f"http://okno.example.org/calendar/{first}.ics"
    assert feed.expert_by_feed_token(session, first, {**CONFIG, "SECRET_KEY": "t" * 40}) is None
    second = feed.issue_feed_token(session, expert, CONFIG, actor)
    assert second != first
    assert feed.expert_by_feed_token(session, first, CONFIG) is None
    assert feed.expert_by_feed_token(session, second, CONFIG) is expert
    feed.revoke_feed(session, expert, actor)
    assert feed.expert_by_feed_token(session, second, CONFIG) is None and feed.feed_url(expert, CONFIG) is None
    actions = session.scalars(
        select(AuditEntry.action).where(AuditEntry.entity_type == "expert").order_by(AuditEntry.id)
    ).all()
    assert actions == ["expert.feed_enabled", "expert.feed_regenerated", "expert.feed_revoked"]
    assert feed.expert_by_feed_token(session, "", CONFIG) is None


def test_the_etag_changes_with_what_the_feed_shows_and_only_then(session: Any, setup: Any) -> None:
    expert = setup.experts[0]
    booking = confirmed(session, setup, 10)
    now = setup.at(8)
    tag = feed.feed_etag(session, expert, now, CONFIG)
    assert feed.feed_etag(session, expert, now + timedelta(minutes=5), CONFIG) == tag
    confirmed(session, setup, 10, expert=1, n=2)  # a colleague's booking changes nothing here
    assert feed.feed_etag(session, expert, now, CONFIG) == tag
    far = now + timedelta(days=365)
    before_move = feed.feed_last_modified(session, expert, far)
    reschedule_booking(session, booking, setup.at(11), now, CITIZEN)
    moved = feed.feed_etag(session, expert, now, CONFIG)
    assert moved != tag
    expert.feed_detail = "names"
    assert feed.feed_etag(session, expert, now, CONFIG) != moved
    expert.feed_detail = "minimal"
    # moved away to the colleague: gone from this feed, and Last-Modified says so
    reschedule_booking(session, booking, setup.at(12), now + timedelta(minutes=1), CITIZEN,
                       expert_id=setup.experts[1].id)
    assert feed.feed_etag(session, expert, now, CONFIG) != moved
    assert feed.feed_bookings(session, expert, now, CONFIG) == []
    assert feed.feed_last_modified(session, expert, far) > before_move
    assert feed.feed_last_modified(session, expert, now - timedelta(days=1)) == now - timedelta(days=1)
