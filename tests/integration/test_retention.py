"""Retention: past each period nothing in any table names the citizen, and the figures stay the same.

One citizen is put everywhere personal data can be kept (a booking with its emails delivered over
real SMTP, a staff note and an outcome note, a follow-up ticket with its answer, a walk-in on the
waiting list, a personal-page link, a partner API hold with its stored idempotent answer, the audit
log), the clock is moved past every period and the hourly job is run. Then every text and JSON
column of every table is scanned for the citizen's name, email, phone, INN, organisation,
question, notes and tokens.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import JSON, String, Text, func, select

from booking import consultation, notifications
from booking.analytics.queries import StatsFilter, dashboard
from booking.api.idempotency import IdempotentRequest
from booking.apikeys import create_key
from booking.citizens import validate_citizen
from booking.codes import token_hash
from booking.links import manage_token_for
from booking.models import Booking, BookingStatus, CitizenLink, Outcome
from booking.privacy.jobs import purge_personal_data
from booking.privacy.retention import purge
from booking.reception import services as desk
from booking.reception.models import WaitingStatus
from booking.services import confirm_booking, hold_slot
from booking.tickets import services as tickets
from booking.tickets.models import Ticket, TicketStatus
from booking.tickets.rating import period_rating
from booking.workspace.services import add_note
from scheduler.audit import Actor, AuditEntry
from scheduler.auth.models import Role
from scheduler.db import Base
from scheduler.extensions import db
from scheduler.mail.delivery import RetryPolicy, SMTPTransport, deliver_due
from scheduler.mail.models import OutboxMessage, OutboxStatus
from scheduler.privacy.policy import Kind, RetentionPolicy
from tests.booking_fixtures import bookable_setup
from tests.helpers import csrf_token, make_user
from tests.reception_fixtures import POLICY as DESK_POLICY
from tests.reception_fixtures import book, reception_setup
from tests.smtp_server import smtp_server
from tests.ticket_fixtures import CITIZEN, CONFIG, POLICY
from tests.web.test_api_bookings import bearer

NAME = "Аполлинария Кукушкина-Ретенцева"
EMAIL = "kukushkina.retention@example.org"
PHONE = "+7 912 765-43-21"
ORGANISATION = "ООО «Кукушкин Дом»"
INN = "7707083893"
QUESTION = "Можно ли перенести газовую трубу на балкон в доме 17 по улице Ретенции?"
OUTCOME_NOTE = "Гражданке объяснили порядок согласования переноса трубы"
STAFF_NOTE = "Гражданка пришла с копией техпаспорта квартиры 42"
SUMMARY = "Ответить про согласование переноса трубы в квартире 42"
ANSWER = "Перенос трубы в квартире 42 согласуйте с управляющей компанией"
DESK = Actor.system("desk")
SENDER = "okno <no-reply@okno.example.org>"
MAIL_POLICY = RetryPolicy(max_attempts=3, backoff=timedelta(seconds=30), backoff_max=timedelta(minutes=10),
                          lease=timedelta(minutes=5))


def text_values(session: Any) -> list[tuple[str, str, str]]:
    """(table, column, value) of every string and JSON column of every table, as text."""
    found = []
    for table in Base.metadata.sorted_tables:
        columns = [c for c in table.columns if isinstance(c.type, (String, Text, JSON))]
        if not columns:
            continue
        for row in session.execute(select(*columns)):
            for column, value in zip(columns, row, strict=True):
                if value not in (None, "", {}, []):
                    found.append((table.name, column.name, str(value)))
    return found


def traces(session: Any, needles: dict[str, str]) -> set[tuple[str, str, str]]:
    """(what, table, column) wherever one of the citizen's values appears."""
    values = [(table, column, value.lower()) for table, column, value in text_values(session)]
    return {(what, table, column) for what, needle in needles.items() for table, column, value in values
            if needle.lower() in value}


def figures(session: Any, first: date, last: date, now: datetime) -> tuple[Any, Any]:
    return dashboard(session, StatsFilter(first=first, last=last), now), period_rating(session, first, last, now)


@pytest.fixture
def citizen_everywhere(app: Flask, session: Any, client: Any) -> dict[str, Any]:
    """The citizen in every table that can hold personal data; returns the needles and the period."""
    setup = bookable_setup(session)
    staff = make_user(session, role=Role.SUPERVISOR, department_id=setup.department.id)
    start = setup.at(10)
    before = start - timedelta(days=1)
    citizen = validate_citizen(name=NAME, email=EMAIL, phone=PHONE, applicant_type="legal_entity",
                               organisation=ORGANISATION, inn=INN)
    held = hold_slot(session, topic=setup.topic, channel="video", start=start, citizen=citizen, question=QUESTION,
                     now=before, policy=POLICY, actor=CITIZEN, expert_id=setup.experts[0].id)
    booking = held.booking
    notifications.send_confirmation_code(session, booking, held.confirmation_code, app.config)
    confirm_booking(session, booking, before, CITIZEN)
    notifications.send_confirmed(session, booking, app.config, before)
    consultation.complete(session, booking, Outcome.NEEDS_FOLLOWUP, start + timedelta(minutes=30), DESK,
                          note=OUTCOME_NOTE)
    add_note(session, booking, staff, STAFF_NOTE, start + timedelta(minutes=31))
    opened = start + timedelta(minutes=40)
    ticket = tickets.open_followup(session, booking, summary=SUMMARY, actor=Actor.staff(staff), now=opened,
                                   config=CONFIG)
    tickets.start_work(session, ticket, Actor.staff(staff), opened + timedelta(hours=1), assignee=staff)
    tickets.answer(session, ticket, ANSWER, Actor.staff(staff), opened + timedelta(hours=2), CONFIG)
    tickets.confirm_answer(session, ticket, CITIZEN, opened + timedelta(hours=3))
    assert ticket.status == TicketStatus.CLOSED
    session.commit()

    # A walk-in with no time left joins the waiting list, then gives up.
    office = reception_setup(session, setup.day, starts=time(10), ends=time(10, 30), experts=1)
    book(session, office, office.at(10), office.at(8))
    entry = desk.register_walk_in(session, location=office.location, topic=office.topic, name=NAME, phone=PHONE,
                                  now=office.at(9, 50), policy=DESK_POLICY, actor=DESK).entry
    assert entry is not None
    desk.move_waiting(session, entry, WaitingStatus.LEFT, office.at(10, 10), DESK)
    session.commit()

    # A partner's hold for the same citizen, retried with an Idempotency-Key: the answer is stored.
    _row, key = create_key(session, "Городской портал", Actor.system("test"))
    session.commit()
    body = {"topic": setup.topic.slug, "channel": "video", "start": setup.at(11).isoformat(),
            "citizen": {"name": NAME, "email": EMAIL, "phone": PHONE, "applicant_type": "individual"},
            "question": QUESTION, "consent_personal_data": True}
    # (The test's session commits before each request, which runs in a session of its own on the
    # same connection: a savepoint of ours left open around it would take its rows on a rollback.)
    answer = client.post("/api/v1/bookings", json=body,
                         headers={**bearer(key), "Idempotency-Key": "3b9e3a4c-retention-test"})
    assert answer.status_code == 201, answer.get_json()
    assert session.scalar(select(func.count()).select_from(IdempotentRequest)) == 1

    # A hold the citizen never confirmed.
    hold_slot(session, topic=setup.topic, channel="video", start=setup.at(12), citizen=citizen, question=QUESTION,
              now=before, policy=POLICY, actor=CITIZEN, expert_id=setup.experts[0].id)

    # A personal-page link, asked for on the page.
    session.commit()
    page = client.post("/me", data={"email": EMAIL, "csrf_token": csrf_token(client, "/me")})
    assert page.status_code == 302
    assert session.scalar(select(func.count()).select_from(CitizenLink)) == 1

    with smtp_server() as (handler, port):
        transport = SMTPTransport(host="127.0.0.1", port=port, starttls=False, timeout=5)
        while deliver_due(session, transport, SENDER, datetime.now().astimezone(), MAIL_POLICY).sent:
            pass
        assert len(handler.messages) >= 4  # the code, the confirmation, the API hold's code, the link
        delivered = "\n".join(str(message.get_body(("plain",)).get_content()) for message in handler.messages)
    assert set(session.scalars(select(OutboxMessage.status))) == {OutboxStatus.SENT}
    session.commit()

    link_token = re.search(r"/me/([A-Za-z0-9_\-]+)", delivered)  # delivered mail keeps no body in the outbox
    assert link_token is not None
    session.refresh(booking)
    session.refresh(ticket)
    api_booking = session.scalar(select(Booking).where(Booking.source == "api", Booking.citizen_email == EMAIL))
    assert api_booking is not None
    needles = {
        "name": NAME, "surname": "Ретенцева", "email": EMAIL, "email user": EMAIL.split("@")[0],
        "phone": booking.citizen_phone, "phone digits": "7654321", "INN": INN, "organisation": "Кукушкин Дом",
        "question": "перенести газовую трубу", "outcome note": OUTCOME_NOTE, "staff note": STAFF_NOTE,
        "summary": SUMMARY, "answer": ANSWER,
        "manage token": manage_token_for(booking, app.config),
        "manage token hash": booking.manage_token_hash,
        "API manage token hash": api_booking.manage_token_hash,
        "ticket token": tickets.citizen_token(CONFIG["SECRET_KEY"], ticket),
        "ticket token hash": ticket.citizen_token_hash,
        "link token": link_token.group(1), "link token hash": token_hash(link_token.group(1)),
        "video room": booking.video_room or "",
    }
    return {"needles": needles, "day": setup.day, "booking": booking, "ticket": ticket}


def test_past_every_period_no_trace_of_the_citizen_is_left_and_the_figures_stand(
        app: Flask, session: Any, client: Any, citizen_everywhere: dict[str, Any], time_machine: Any) -> None:
    needles = citizen_everywhere["needles"]
    day = citizen_everywhere["day"]
    before = traces(session, needles)
    # The scan sees every value while it is kept (so an empty result below means gone, not missed);
    # the link secrets themselves are never kept in clear (only their hashes; mail bodies are sealed).
    never_in_clear = {"manage token", "ticket token", "link token"}
    assert {what for what, _table, _column in before} == set(needles) - never_in_clear
    assert {"bookings", "booking_notes", "tickets", "ticket_events", "reception_waiting", "outbox_messages",
            "citizen_links"} <= {table for _what, table, _column in before}

    later = datetime.combine(day + timedelta(days=400), time(12)).astimezone()
    first, last = day - timedelta(days=1), day + timedelta(days=1)
    figures_before = figures(session, first, last, later)

    time_machine.move_to(later, tick=False)
    counts = purge_personal_data()
    # The held consultation and the partner's booking (confirmed, never marked held: over all the same).
    assert (counts["holds"], counts["bookings"], counts["tickets"], counts["walk_ins"], counts["links"]) == (
        1, 2 + 1, 1, 1, 1)  # + the other visitor booked at the office

    assert traces(session, needles) == set()
    assert session.scalar(select(func.count()).select_from(IdempotentRequest)) == 0
    assert figures(session, first, last, later) == figures_before
    # The rows stay, marked, with their counts and times.
    booking = session.get(Booking, citizen_everywhere["booking"].id)
    assert (booking.status, booking.anonymised_at) == (BookingStatus.COMPLETED, later)
    assert session.get(Ticket, citizen_everywhere["ticket"].id).closed_at is not None
    # The manage link emailed before opens nothing any more.
    session.commit()
    code = citizen_everywhere["booking"].code
    assert client.get(f"/manage/{code}", query_string={"token": needles["manage token"]},
                      follow_redirects=True).status_code == 404
    # The run is in the audit log, with counts only.
    run = session.scalar(select(AuditEntry).where(AuditEntry.action == "privacy.purged"))
    assert run is not None and run.changes["bookings"] == [None, 3]

    # Idempotent: a second run finds nothing left to do and records nothing.
    again = purge(db.session, RetentionPolicy.from_config(app.config), later)
    assert again.total == 0
    assert session.scalar(select(func.count()).where(AuditEntry.action == "privacy.purged")) == 1


def test_batches_are_bounded_a_dry_run_changes_nothing_and_an_open_followup_keeps_its_booking(
        app: Flask, session: Any) -> None:
    from tests.ticket_fixtures import completed_booking

    setup = bookable_setup(session)
    bookings = [completed_booking(session, setup, n, hour=9 + (n - 1) // 2, minute=30 * ((n - 1) % 2))
                for n in range(1, 6)]
    waiting = tickets.open_followup(session, bookings[0], summary="Ответ ещё готовят", actor=CITIZEN,
                                    now=bookings[0].ends_at, config=CONFIG)
    session.commit()
    policy = RetentionPolicy.from_config(app.config)
    later = bookings[-1].ends_at + timedelta(days=366)

    dry = purge(db.session, policy, later, dry_run=True, kinds=[Kind.BOOKINGS])
    assert dry.counts == {Kind.BOOKINGS: 4} and dry.batches == 0
    assert session.scalar(select(func.count()).select_from(Booking).where(Booking.anonymised_at.is_not(None))) == 0

    report = purge(db.session, policy, later, batch_size=3, kinds=[Kind.BOOKINGS])
    assert report.counts == {Kind.BOOKINGS: 4} and report.batches == 2
    assert report.longest_batch_seconds > 0
    kept = session.get(Booking, bookings[0].id)
    assert kept.anonymised_at is None and kept.citizen_email == "citizen1@example.org"
    assert {b.citizen_email for b in session.scalars(select(Booking).where(Booking.id != kept.id))} == {""}

    # Once the follow-up has closed and its period passed, both go.
    tickets.start_work(session, waiting, CITIZEN, later)
    tickets.answer(session, waiting, "Ответ", CITIZEN, later, CONFIG)
    tickets.confirm_answer(session, waiting, CITIZEN, later)
    session.commit()
    final = purge(db.session, policy, later + timedelta(days=366), kinds=[Kind.TICKETS, Kind.BOOKINGS])
    assert final.counts == {Kind.TICKETS: 1, Kind.BOOKINGS: 1}


def test_mail_is_purged_only_a_period_after_delivery_or_giving_up(app: Flask, session: Any) -> None:
    from scheduler.mail.compose import queue_email

    now = datetime(2027, 3, 1, 12, 0).astimezone()
    rows = {status: queue_email(session, to=f"{status.value}@example.org", template="test_message",
                                context={"name": "Анна"}) for status in OutboxStatus}
    for status, row in rows.items():
        row.status = status
        row.sent_at = now - timedelta(days=8) if status == OutboxStatus.SENT else None
        row.next_attempt_at = now - timedelta(days=8)
    fresh = queue_email(session, to="fresh@example.org", template="test_message", context={"name": "Анна"})
    fresh.status, fresh.sent_at = OutboxStatus.SENT, now - timedelta(days=6)
    session.commit()

    report = purge(db.session, RetentionPolicy.from_config(app.config), now, kinds=[Kind.OUTBOX])
    assert report.counts == {Kind.OUTBOX: 2}
    purged = {row.to_address or row.id: row for row in session.scalars(select(OutboxMessage))}
    assert set(purged) - {rows[OutboxStatus.SENT].id, rows[OutboxStatus.FAILED].id} == {
        "pending@example.org", "sending@example.org", "fresh@example.org"}
    for status in (OutboxStatus.SENT, OutboxStatus.FAILED):
        row = session.get(OutboxMessage, rows[status].id)
        assert (row.to_address, row.sealed_body, row.status) == ("", None, status)


def test_the_cli_prints_what_is_due_and_what_it_did_per_kind(app: Flask, session: Any, time_machine: Any) -> None:
    from tests.ticket_fixtures import completed_booking

    setup = bookable_setup(session)
    booking = completed_booking(session, setup, 7)
    session.commit()
    time_machine.move_to(booking.ends_at + timedelta(days=400), tick=False)
    runner = app.test_cli_runner()
    dry = runner.invoke(args=["privacy", "purge", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert re.search(r"^bookings\s+1 due\s+\(after 365 d\)$", dry.output, re.M), dry.output
    assert session.get(Booking, booking.id).citizen_email == "citizen7@example.org"
    done = runner.invoke(args=["privacy", "purge", "--batch-size", "500"])
    assert done.exit_code == 0, done.output
    assert re.search(r"^bookings\s+1 anonymised", done.output, re.M), done.output
    assert "batches of at most 500 rows" in done.output
    session.expire_all()
    assert session.get(Booking, booking.id).citizen_email == ""
    assert runner.invoke(args=["privacy", "purge", "--batch-size", "0"]).exit_code != 0
