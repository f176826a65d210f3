"""Running a consultation: who sees it, no-show, completion with an outcome, notes; the feed's secret and ETag."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, select, update

from booking import consultation
from booking.citizens import validate_citizen
from booking.models import Booking, BookingStatus, Outcome
from booking.privacy.anonymise import anonymise_bookings
from booking.services import BookingPolicy, cancel_booking, confirm_booking, hold_slot, reschedule_booking
from booking.workspace import feed, services
from scheduler.audit import Actor, AuditEntry
from scheduler.auth.access import Action, Scope, may
from scheduler.auth.models import Role
from scheduler.errors import DomainError
from scheduler.experts.models import Expert
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
    """Each change the feed shows gives a new ETag (the version listener, not the service, bumps it);
    what it does not show, and the clock within a day, leave it alone."""
    expert = setup.experts[0]
    booking = confirmed(session, setup, 10)
    now = setup.at(8)

    def tag(at: Any = now) -> str:
        session.flush()  # the version is bumped as the change is written
        return feed.feed_etag(expert, at, CONFIG)

    seen = [tag()]

    def changed(at: Any = now) -> bool:
        seen.append(tag(at))
        return seen[-1] not in seen[:-1]

    assert tag(now + timedelta(minutes=5)) == seen[0]
    confirmed(session, setup, 10, expert=1, n=2)  # a colleague's booking changes nothing here
    assert tag() == seen[0]
    held = hold_slot(session, topic=setup.topic, channel="video", start=setup.at(9), now=now, policy=POLICY,
                     actor=CITIZEN, expert_id=expert.id, question="Вопрос",
                     citizen=validate_citizen(name="Гражданин 3", email="c3@example.org", phone="+7 912 000-00-03",
                                              applicant_type="individual"))
    assert tag() == seen[0]  # an unconfirmed hold is not in the feed
    confirm_booking(session, held.booking, now, CITIZEN)
    assert changed()  # a new consultation
    reschedule_booking(session, booking, setup.at(11), now, CITIZEN)
    assert changed()  # moved within the day
    actor = staff(session, setup)
    feed.set_feed_detail(session, expert, "names", actor)
    assert changed()  # the citizens' names now show
    feed.set_feed_detail(session, expert, "minimal", actor)
    assert changed()
    expert.user.full_name = "Иван Петров"
    assert changed()  # the calendar's name
    setup.topic.title = "Замена колонки"
    assert changed()  # every event's summary
    cancel_booking(session, held.booking, now, CITIZEN)
    assert changed()  # a cancelled consultation leaves the feed
    far = now + timedelta(days=365)
    before_move = feed.feed_last_modified(expert, far)
    # moved away to the colleague: gone from this feed, and Last-Modified says so
    reschedule_booking(session, booking, setup.at(12), now + timedelta(minutes=1), CITIZEN,
                       expert_id=setup.experts[1].id)
    assert changed()
    assert feed.feed_events(session, expert, now, CONFIG) == []
    assert feed.feed_last_modified(expert, far) >= before_move
    assert expert.feed_changed_at is not None
    earlier = expert.feed_changed_at - timedelta(hours=1)
    assert feed.feed_last_modified(expert, earlier) == earlier  # never in the future
    # the window moves at midnight UTC: a new day is a new feed, and Last-Modified is at least that midnight
    midnight = feed.feed_day(now) + timedelta(days=1)
    assert tag(midnight - timedelta(seconds=1)) == seen[-1]
    assert changed(midnight)
    assert feed.feed_last_modified(expert, far) == feed.feed_day(far)


def test_the_feed_window_is_whole_utc_days(setup: Any) -> None:
    now = setup.at(8)
    first, last = feed.feed_window(now, CONFIG)
    day = feed.feed_day(now)
    assert (first, last) == (day - timedelta(days=30), day + timedelta(days=181))
    assert feed.feed_window(day + timedelta(hours=23, minutes=59), CONFIG) == (first, last)


def test_a_version_bump_rolls_back_with_its_change(session: Any, setup: Any) -> None:
    expert = setup.experts[0]
    booking = confirmed(session, setup, 10)
    session.flush()
    version = session.scalar(select(Expert.feed_version).where(Expert.id == expert.id))
    nested = session.begin_nested()
    cancel_booking(session, booking, setup.at(8), CITIZEN)
    session.flush()
    assert session.scalar(select(Expert.feed_version).where(Expert.id == expert.id)) == version + 1
    nested.rollback()
    assert session.scalar(select(Expert.feed_version).where(Expert.id == expert.id)) == version


def test_statements_run_past_the_models_bump_the_feed_too(session: Any, setup: Any) -> None:
    """A bulk insert and a bulk update (the retention's anonymisation) are seen as well as object changes.

    Each step runs in its own savepoint, as it would in its own transaction: an expert's version is
    bumped once per transaction (clients only ever see committed versions).
    """
    expert = setup.experts[0]
    now = setup.at(8)
    with session.begin_nested():
        booking = confirmed(session, setup, 10)
        session.flush()
    tags = [feed.feed_etag(expert, now, CONFIG)]
    start = setup.at(12)
    with session.begin_nested():
        session.execute(insert(Booking), [{
            "code": "BULK0001", "topic_id": setup.topic.id, "channel": "video", "expert_id": expert.id,
            "starts_at": start, "ends_at": start + timedelta(minutes=30), "seat": 1, "status": BookingStatus.CONFIRMED,
            "citizen_name": "Гражданин", "citizen_email": "bulk@example.org", "citizen_phone": "+79120000000",
            "applicant_type": "individual", "question": "Вопрос", "consent_at": now, "manage_token_salt": "s" * 32,
            "manage_token_hash": ""}])
    tags.append(feed.feed_etag(expert, now, CONFIG))
    with session.begin_nested():
        anonymise_bookings(session, [booking.id], now)
    tags.append(feed.feed_etag(expert, now, CONFIG))
    assert len(set(tags)) == 3
    held = hold_slot(session, topic=setup.topic, channel="video", start=setup.at(9), now=now, policy=POLICY,
                     actor=CITIZEN, expert_id=expert.id, question="Вопрос",
                     citizen=validate_citizen(name="Гражданин 3", email="c3@example.org", phone="+7 912 000-00-03",
                                              applicant_type="individual"))
    session.flush()
    tags.append(feed.feed_etag(expert, now, CONFIG))
    counted = session.execute(update(Booking).where(Booking.id == held.booking.id).values(confirmation_attempts=2)
                              .returning(Booking.confirmation_attempts)
                              .execution_options(synchronize_session=False)).scalar_one()
    assert counted == 2  # the statement's own answer still reaches its caller
    assert feed.feed_etag(expert, now, CONFIG) == tags[-1]  # an unconfirmed hold is in no feed
    assert tags[-1] == tags[-2]


def test_a_booking_given_its_expert_as_an_object_bumps_that_experts_feed(session: Any, setup: Any) -> None:
    expert = setup.experts[0]
    now = setup.at(8)
    session.flush()
    before = feed.feed_etag(expert, now, CONFIG)
    start = setup.at(12)
    session.add(Booking(code="OBJ00001", topic=setup.topic, channel="video", expert=expert, starts_at=start,
                        ends_at=start + timedelta(minutes=30), status=BookingStatus.CONFIRMED, citizen_name="Гражданин",
                        citizen_email="obj@example.org", citizen_phone="+79120000000", applicant_type="individual",
                        question="Вопрос", consent_at=now, manage_token_salt="s" * 32, manage_token_hash=""))
    session.flush()
    assert feed.feed_etag(expert, now, CONFIG) != before
