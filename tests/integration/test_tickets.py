"""Follow-up ticket services: opening, numbering, the state machine, reassignment, extension,
the deadline watch, closing unconfirmed answers and the department rating."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from booking.citizens import validate_citizen
from booking.models import Outcome
from booking.services import confirm_booking, hold_slot
from booking.tickets import services
from booking.tickets.answer_hours import working_hours_between
from booking.tickets.models import TRANSITIONS, Ticket, TicketCounter, TicketEvent, TicketStatus
from booking.tickets.rating import department_rating, period_rating
from scheduler.audit import Actor, AuditEntry
from scheduler.auth.models import Role
from scheduler.config import normalise_database_url
from scheduler.errors import DomainError
from scheduler.mail.compose import read_content
from scheduler.mail.models import OutboxMessage
from tests.booking_fixtures import MOSCOW, bookable_setup
from tests.factories import make_department
from tests.helpers import make_user
from tests.ticket_fixtures import CONFIG, POLICY, completed_booking

CITIZEN = Actor("citizen", None, "citizen")
# Monday 6 April 2026, an ordinary week without holidays.
MONDAY = datetime(2026, 4, 6, 11, 0, tzinfo=MOSCOW)


@pytest.fixture
def setup(session: Any) -> Any:
    return bookable_setup(session)


@pytest.fixture
def expert_actor(setup: Any) -> Actor:
    return Actor.staff(setup.experts[0].user)


def open_ticket(session: Any, setup: Any, n: int = 1, now: datetime = MONDAY, **kw: Any) -> Ticket:
    booking = completed_booking(session, setup, n, hour=9 + n % 4, minute=30 * (n // 4 % 2))
    return services.open_followup(session, booking, summary=kw.pop("summary", "Нужен ответ газовой службы"),
                                  actor=Actor.staff(setup.experts[0].user), now=now, config=CONFIG, **kw)


def mails(session: Any, template: str) -> list[OutboxMessage]:
    return list(session.scalars(select(OutboxMessage).where(OutboxMessage.template == template)
                                .order_by(OutboxMessage.id)))


# --- opening ---------------------------------------------------------------------------------------

def test_opening_numbers_the_ticket_sets_its_due_time_and_tells_the_citizen(session: Any, setup: Any) -> None:
    ticket = open_ticket(session, setup)
    assert ticket.number == "2026-000001"
    assert ticket.status == TicketStatus.OPEN
    # Opened on Monday: Tue, Wed, Thu, Fri are the four working days; due at Friday's close.
    assert ticket.due_at == datetime(2026, 4, 10, 18, 0, tzinfo=MOSCOW)
    assert ticket.department_id == setup.department.id == ticket.origin_department_id
    assert ticket.booking.outcome == Outcome.NEEDS_FOLLOWUP
    assert [e.kind for e in ticket.events] == ["opened"]
    [mail] = mails(session, "ticket_opened")
    assert mail.to_address == ticket.booking.citizen_email
    assert f"/tickets/{ticket.number}?token=" in read_content(mail).text_body
    token = services.citizen_token(CONFIG["SECRET_KEY"], ticket)
    assert services.citizen_token_matches(ticket, token)
    assert not services.citizen_token_matches(ticket, token[:-1] + "x")
    assert session.scalar(select(AuditEntry).where(AuditEntry.action == "ticket.opened")) is not None


def test_numbers_are_sequential_per_year_and_restart_each_year(session: Any) -> None:
    assert [services.next_ticket_number(session, 2026) for _ in range(3)] == [
        "2026-000001", "2026-000002", "2026-000003"]
    assert services.next_ticket_number(session, 2027) == "2027-000001"
    assert services.next_ticket_number(session, 2026) == "2026-000004"
    assert session.get(TicketCounter, 2026).last_number == 4


def test_the_term_comes_from_the_topic_and_the_deadline_from_the_competent_department(
        session: Any, setup: Any) -> None:
    setup.topic.followup_working_days = 2
    far_east = make_department(session, slug="vladivostok", timezone="Asia/Vladivostok",
                               hours={d: [(time(8), time(12)), (time(13), time(17))] for d in range(5)})
    ticket = open_ticket(session, setup, department=far_east)
    # Monday 11:00 in Moscow is Monday 18:00 in Vladivostok: Tue, Wed → Wednesday's close there.
    assert ticket.due_at == datetime(2026, 4, 8, 17, 0, tzinfo=far_east.zone)
    assert ticket.working_days == 2 and ticket.department == far_east


def test_a_ticket_needs_a_held_consultation_not_marked_resolved(session: Any, setup: Any) -> None:
    booking = completed_booking(session, setup)
    booking.outcome = Outcome.RESOLVED
    with pytest.raises(DomainError) as refused:
        services.open_followup(session, booking, summary="x", actor=CITIZEN, now=MONDAY, config=CONFIG)
    assert refused.value.code == "conflict"
    booking.outcome = None
    with pytest.raises(DomainError) as empty:
        services.open_followup(session, booking, summary="   ", actor=CITIZEN, now=MONDAY, config=CONFIG)
    assert empty.value.code == "validation" and "summary" in empty.value.fields


def test_a_ticket_cannot_be_opened_before_the_consultation_was_held(session: Any, setup: Any) -> None:
    before = setup.at(8) - timedelta(days=1)
    held = hold_slot(session, topic=setup.topic, channel="video", start=setup.at(11), now=before,
                     citizen=validate_citizen(name="Иван Иванов", email="ivan@example.org",
                                              phone="+7 912 000-02-01", applicant_type="individual"),
                     question="Вопрос о подключении газа", policy=POLICY, actor=CITIZEN)
    confirm_booking(session, held.booking, before, CITIZEN)
    with pytest.raises(DomainError) as refused:
        services.open_followup(session, held.booking, summary="Ответ", actor=CITIZEN, now=MONDAY, config=CONFIG)
    assert refused.value.code == "conflict"
    assert session.scalar(select(Ticket)) is None


# --- the state machine -----------------------------------------------------------------------------

ILLEGAL = [(before, after) for before in TicketStatus for after in TicketStatus if after not in TRANSITIONS[before]]


@pytest.mark.parametrize(("before", "after"), ILLEGAL)
def test_the_state_machine_refuses_every_illegal_move(session: Any, setup: Any, before: TicketStatus,
                                                      after: TicketStatus) -> None:
    ticket = open_ticket(session, setup)
    ticket.status = before
    with pytest.raises(DomainError) as refused:
        services.transition(session, ticket, after, "test", CITIZEN, MONDAY)
    assert refused.value.code == "conflict"
    assert ticket.status == before


def test_the_whole_life_of_a_ticket_open_work_answer_reject_answer_confirm(
        session: Any, setup: Any, expert_actor: Actor) -> None:
    ticket = open_ticket(session, setup)
    expert = setup.experts[0].user
    services.start_work(session, ticket, expert_actor, MONDAY + timedelta(hours=1), assignee=expert)
    assert ticket.status == TicketStatus.IN_PROGRESS and ticket.assignee == expert
    services.answer(session, ticket, "Замена плиты согласована.", expert_actor, MONDAY + timedelta(hours=5), CONFIG)
    assert ticket.status == TicketStatus.ANSWERED
    [answered] = mails(session, "ticket_answered")
    assert "Замена плиты согласована." in read_content(answered).text_body
    assert f"/tickets/{ticket.number}?token=" in read_content(answered).text_body
    with pytest.raises(DomainError):
        services.reject_answer(session, ticket, "  ", CITIZEN, MONDAY + timedelta(days=1))
    services.reject_answer(session, ticket, "Не указан срок замены", CITIZEN, MONDAY + timedelta(days=1))
    assert ticket.status == TicketStatus.REOPENED and ticket.reopen_count == 1
    # Answering a reopened ticket goes through "in progress" again, and both steps are recorded.
    services.answer(session, ticket, "Замена — до 20 апреля.", expert_actor, MONDAY + timedelta(days=2), CONFIG)
    services.confirm_answer(session, ticket, CITIZEN, MONDAY + timedelta(days=2, hours=3))
    assert ticket.status == TicketStatus.CLOSED and ticket.closed_at == MONDAY + timedelta(days=2, hours=3)
    assert ticket.first_answered_at == MONDAY + timedelta(hours=5)
    assert [e.kind for e in ticket.events] == ["opened", "started", "answered", "rejected", "started", "answered",
                                               "confirmed"]
    rejected = next(e for e in ticket.events if e.kind == "rejected")
    assert rejected.text == "Не указан срок замены" and rejected.from_status == "answered"
    with pytest.raises(DomainError) as late:
        services.reject_answer(session, ticket, "Передумал", CITIZEN, MONDAY + timedelta(days=3))
    assert late.value.code == "conflict"


def test_an_answer_cannot_be_confirmed_before_there_is_one(session: Any, setup: Any) -> None:
    ticket = open_ticket(session, setup)
    with pytest.raises(DomainError) as refused:
        services.confirm_answer(session, ticket, CITIZEN, MONDAY)
    assert refused.value.code == "conflict" and ticket.status == TicketStatus.OPEN


# --- reassignment, extension, comments -----------------------------------------------------------

def test_reassignment_moves_the_ticket_but_never_its_due_time(session: Any, setup: Any, expert_actor: Actor) -> None:
    ticket = open_ticket(session, setup)
    due = ticket.due_at
    other = make_department(session, slug="construction", timezone="Asia/Yekaterinburg")
    services.reassign(session, ticket, other, expert_actor, MONDAY + timedelta(hours=1), note="Вопрос о проекте")
    assert ticket.department == other and ticket.due_at == due
    event = ticket.events[-1]
    assert event.kind == "reassigned" and event.is_internal and event.details["department"] == [
        setup.department.slug, "construction"]
    services.start_work(session, ticket, expert_actor, MONDAY + timedelta(hours=2))
    services.answer(session, ticket, "Ответ", expert_actor, MONDAY + timedelta(hours=3), CONFIG)
    with pytest.raises(DomainError) as refused:
        services.reassign(session, ticket, setup.department, expert_actor, MONDAY + timedelta(hours=4))
    assert refused.value.code == "conflict"


def test_only_the_departments_supervisor_extends_the_due_time_and_must_say_why(session: Any, setup: Any) -> None:
    ticket = open_ticket(session, setup)
    later = ticket.due_at + timedelta(days=3)
    expert = setup.experts[0].user
    stranger = make_user(session, role=Role.SUPERVISOR, department_id=make_department(session).id)
    supervisor = make_user(session, role=Role.SUPERVISOR, department_id=setup.department.id)
    for outsider in (expert, stranger):
        with pytest.raises(DomainError) as refused:
            services.extend_due(session, ticket, later, "Нужен выезд", outsider, MONDAY)
        assert refused.value.code == "forbidden"
    with pytest.raises(DomainError) as no_reason:
        services.extend_due(session, ticket, later, " ", supervisor, MONDAY)
    assert "reason" in no_reason.value.fields
    with pytest.raises(DomainError):
        services.extend_due(session, ticket, ticket.due_at - timedelta(hours=1), "Раньше", supervisor, MONDAY)
    before = ticket.due_at
    ticket.due_soon_notified_at = MONDAY
    services.extend_due(session, ticket, later, "Нужен выезд на объект", supervisor, MONDAY)
    assert ticket.due_at == later and ticket.extended_reason == "Нужен выезд на объект"
    assert ticket.due_soon_notified_at is None  # the new due time gets its own reminders
    event = ticket.events[-1]
    assert event.kind == "extended" and event.actor_id == supervisor.id
    assert event.details["due_at"] == [before.isoformat(), later.isoformat()]


@pytest.mark.parametrize("day", [date(9999, 12, 31), date(1, 1, 1), date(2027, 4, 8)])
def test_a_due_day_out_of_range_is_refused_on_the_field(session: Any, setup: Any, day: date) -> None:
    """The first and last days of the era once reached the working calendar and broke it (a 500 on the form)."""
    ticket = open_ticket(session, setup)
    supervisor = make_user(session, role=Role.SUPERVISOR, department_id=setup.department.id)
    before = ticket.due_at
    with pytest.raises(DomainError) as refused:
        services.extend_due_to_day(session, ticket, day, "Нужен выезд", supervisor, MONDAY)
    assert set(refused.value.fields) == {"due_at"}
    assert ticket.due_at == before
    within_a_year = date(2027, 4, 6)  # a Tuesday, 365 days after MONDAY
    services.extend_due_to_day(session, ticket, within_a_year, "Нужен выезд", supervisor, MONDAY)
    assert ticket.due_at.astimezone(setup.department.zone).date() == within_a_year


def test_internal_comments_are_recorded_and_kept_from_the_citizen(session: Any, setup: Any,
                                                                   expert_actor: Actor) -> None:
    ticket = open_ticket(session, setup)
    services.comment(session, ticket, "Позвонить в РЭС", expert_actor, MONDAY)
    event = ticket.events[-1]
    assert (event.kind, event.text, event.is_internal) == ("comment", "Позвонить в РЭС", True)
    assert not ticket.events[0].is_internal  # "opened" is the citizen's business too


# --- the deadline watch ----------------------------------------------------------------------------

def test_the_watch_reminds_the_assignee_and_supervisors_once_per_threshold(session: Any, setup: Any) -> None:
    expert = setup.experts[0].user
    ticket = open_ticket(session, setup, assignee=expert)
    supervisor = make_user(session, role=Role.SUPERVISOR, department_id=setup.department.id)
    make_user(session, role=Role.SUPERVISOR, department_id=make_department(session).id)  # not theirs
    answered = open_ticket(session, setup, 2)
    services.answer(session, answered, "Ответ", Actor.staff(expert), MONDAY, CONFIG)

    assert services.sweep_deadlines(session, MONDAY + timedelta(days=1), CONFIG) == {"due_soon": 0, "overdue": 0}
    soon = ticket.due_at - timedelta(hours=10)
    assert services.sweep_deadlines(session, soon, CONFIG) == {"due_soon": 1, "overdue": 0}
    assert {m.to_address for m in mails(session, "ticket_due_soon")} == {expert.email, supervisor.email}
    assert services.sweep_deadlines(session, soon + timedelta(hours=1), CONFIG) == {"due_soon": 0, "overdue": 0}
    assert ticket.due_soon_notified_at == soon

    late = ticket.due_at + timedelta(minutes=1)
    assert services.sweep_deadlines(session, late, CONFIG) == {"due_soon": 0, "overdue": 1}
    assert services.sweep_deadlines(session, late + timedelta(days=1), CONFIG) == {"due_soon": 0, "overdue": 0}
    assert len(mails(session, "ticket_overdue")) == 2 and len(mails(session, "ticket_due_soon")) == 2
    assert [e.kind for e in ticket.events if e.actor_type == "system"] == ["due_soon", "overdue"]
    assert ticket.is_overdue(late)


def test_a_ticket_found_already_overdue_gets_only_the_overdue_reminder(session: Any, setup: Any) -> None:
    ticket = open_ticket(session, setup)
    supervisor = make_user(session, role=Role.SUPERVISOR, department_id=setup.department.id)
    assert services.sweep_deadlines(session, ticket.due_at + timedelta(days=2), CONFIG) == {"due_soon": 0,
                                                                                            "overdue": 1}
    assert [m.to_address for m in mails(session, "ticket_overdue")] == [supervisor.email]
    assert services.sweep_deadlines(session, ticket.due_at + timedelta(days=3), CONFIG)["due_soon"] == 0


def test_answers_left_unjudged_close_as_answered_not_confirmed(session: Any, setup: Any, expert_actor: Actor) -> None:
    old = open_ticket(session, setup)
    fresh = open_ticket(session, setup, 2)
    services.answer(session, old, "Ответ", expert_actor, MONDAY, CONFIG)
    services.answer(session, fresh, "Ответ", expert_actor, MONDAY + timedelta(days=3), CONFIG)
    assert services.close_unconfirmed(session, MONDAY + timedelta(days=7, minutes=-1), CONFIG) == 0
    assert services.close_unconfirmed(session, MONDAY + timedelta(days=7), CONFIG) == 1
    assert old.status == TicketStatus.CLOSED_UNCONFIRMED and fresh.status == TicketStatus.ANSWERED
    assert old.events[-1].kind == "closed_unconfirmed" and old.events[-1].actor_type == "system"


def test_the_periodic_job_sweeps_and_closes_in_one_committed_run(app: Any, session: Any, setup: Any) -> None:
    from booking.tickets.jobs import watch_deadlines

    ticket = open_ticket(session, setup, now=datetime.now(UTC) - timedelta(days=30))
    counts = watch_deadlines()
    assert counts["overdue"] == 1 and ticket.overdue_notified_at is not None


# --- numbering under concurrency -----------------------------------------------------------------

def test_concurrent_openings_never_share_or_skip_a_number(database_url: str, fresh_database_url: str) -> None:
    """Twenty threads, each its own connection and transaction, bump one year's counter at once."""
    if not database_url.startswith("postgres"):
        pytest.skip("SQLite serialises writers (BEGIN IMMEDIATE); the race exists on PostgreSQL")
    engine = create_engine(normalise_database_url(fresh_database_url), pool_size=20, max_overflow=0)
    try:
        TicketCounter.__table__.create(engine)
        barrier = threading.Barrier(20)
        numbers: list[str] = []
        lock = threading.Lock()

        def take() -> None:
            with Session(engine) as session:
                barrier.wait()
                number = services.next_ticket_number(session, 2026)
                session.commit()
            with lock:
                numbers.append(number)

        threads = [threading.Thread(target=take) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(numbers) == [f"2026-{n:06d}" for n in range(1, 21)]
    finally:
        engine.dispose()


# --- the department rating -----------------------------------------------------------------------

def test_working_hours_count_only_business_hours_on_working_days(session: Any, setup: Any) -> None:
    department = make_department(session, hours={d: [(time(9), time(13)), (time(14), time(18))] for d in range(5)})
    friday_4pm = datetime(2026, 4, 10, 16, 0, tzinfo=MOSCOW)
    monday_10am = datetime(2026, 4, 13, 10, 0, tzinfo=MOSCOW)
    assert working_hours_between(friday_4pm, monday_10am, department) == pytest.approx(3.0)
    # The lunch break does not count.
    assert working_hours_between(datetime(2026, 4, 13, 12, 0, tzinfo=MOSCOW),
                                 datetime(2026, 4, 13, 15, 0, tzinfo=MOSCOW), department) == pytest.approx(2.0)
    # The May holidays do not count either, and Thu 30 April, the day before them, closes an hour early
    # (art. 95, as the slot engine and the deadline read it): 30 April 16:00 to Mon 4 May 10:00 is 1 + 1 hours.
    assert working_hours_between(datetime(2026, 4, 30, 16, 0, tzinfo=MOSCOW),
                                 datetime(2026, 5, 4, 10, 0, tzinfo=MOSCOW), department) == pytest.approx(2.0)
    assert working_hours_between(datetime(2026, 4, 30, 17, 0, tzinfo=MOSCOW),
                                 datetime(2026, 4, 30, 18, 0, tzinfo=MOSCOW), department) == 0.0


def test_a_tickets_answer_time_is_counted_once_when_first_answered_and_again_if_it_changes_hands(
        session: Any, setup: Any, expert_actor: Actor) -> None:
    ticket = open_ticket(session, setup)
    session.flush()
    assert ticket.answer_working_hours is None
    services.answer(session, ticket, "Ответ", expert_actor, MONDAY + timedelta(days=1, hours=1), CONFIG)
    session.flush()
    own = working_hours_between(ticket.opened_at, ticket.first_answered_at, setup.department)
    assert own > 0 and ticket.answer_working_hours == pytest.approx(own)
    # a second answer does not move the first one
    services.reject_answer(session, ticket, "Не то", CITIZEN, MONDAY + timedelta(days=2))
    services.answer(session, ticket, "Ответ 2", expert_actor, MONDAY + timedelta(days=3), CONFIG)
    session.flush()
    assert ticket.answer_working_hours == pytest.approx(own)
    # handed to another department (reopened, still awaiting an answer): counted in its office hours
    services.reject_answer(session, ticket, "Не то", CITIZEN, MONDAY + timedelta(days=4))
    other = make_department(session, slug="construction", timezone="Asia/Yekaterinburg",
                            hours={d: [(time(8), time(12))] for d in range(5)})
    services.reassign(session, ticket, other, expert_actor, MONDAY + timedelta(days=4))
    session.flush()
    theirs = working_hours_between(ticket.opened_at, ticket.first_answered_at, other)
    assert theirs != own and ticket.answer_working_hours == pytest.approx(theirs)


def test_the_rating_counts_each_departments_tickets_on_their_due_day(session: Any, setup: Any,
                                                                      expert_actor: Actor) -> None:
    on_time, late, unanswered, reopened = (open_ticket(session, setup, n) for n in range(1, 5))
    other_day = open_ticket(session, setup, 5, now=MONDAY + timedelta(days=1))
    services.answer(session, on_time, "Ответ", expert_actor, MONDAY + timedelta(hours=2), CONFIG)
    services.confirm_answer(session, on_time, CITIZEN, MONDAY + timedelta(days=1))
    services.answer(session, late, "Ответ", expert_actor, late.due_at + timedelta(hours=1), CONFIG)
    services.answer(session, reopened, "Ответ", expert_actor, MONDAY + timedelta(hours=4), CONFIG)
    services.reject_answer(session, reopened, "Не то", CITIZEN, MONDAY + timedelta(days=1))
    assert unanswered.status == TicketStatus.OPEN
    now = datetime(2026, 4, 20, 12, 0, tzinfo=MOSCOW)
    friday = on_time.due_at.astimezone(MOSCOW).date()

    [row, next_row] = department_rating(session, friday, friday + timedelta(days=3), now)
    assert (row.day, next_row.day) == (friday, other_day.due_at.astimezone(MOSCOW).date())
    assert (row.due, row.answered, row.answered_on_time, row.overdue) == (4, 3, 2, 2)
    assert (row.confirmed, row.reopened) == (1, 1)
    assert row.confirmation_rate == pytest.approx(1 / 3) and row.reopen_rate == pytest.approx(1 / 3)
    # Working hours from opening (Mon 11:00) to the first answer: 2, 4, and Mon 11-18 + Tue..Fri 9-18 + 1 h.
    assert row.avg_answer_hours == pytest.approx(round((2 + 4 + (7 + 9 * 4 + 0)) / 3, 2), abs=0.01)
    assert (next_row.due, next_row.overdue) == (1, 1)

    [total] = period_rating(session, friday, friday + timedelta(days=3), now)
    assert (total.day, total.due, total.answered_on_time, total.overdue) == (None, 5, 2, 3)
    assert department_rating(session, friday, friday, now, department_ids=[-1]) == []
    assert department_rating(session, friday, friday, now, channel="in_person") == []
    [by_topic] = department_rating(session, friday, friday, now, topic_ids=[setup.topic.id], channel="video")
    assert by_topic == row
    assert session.scalar(select(TicketEvent).where(TicketEvent.kind == "rejected")) is not None
