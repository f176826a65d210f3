"""Follow-up ticket operations: open, work, answer, confirm or reject, reassign, extend, watch deadlines.

Rules kept here so that the staff pages, the citizen's page, the API and the periodic jobs share them:

* a ticket is opened only from a *completed* consultation; one whose outcome says it was resolved
  on the spot is refused, and one with no outcome recorded yet gets ``needs_followup``, because
  opening a ticket is exactly the statement that an answer is owed;
* the due instant is computed once, at opening, from the competent department's calendar and
  business hours (``scheduler.calendar.followup_due_at``); reassignment never moves it, only a
  supervisor's extension with a reason does;
* every move follows ``TRANSITIONS`` and is recorded in the ticket's history and the audit log;
  an illegal move is a DomainError with code ``conflict``;
* services never commit; the caller commits once, and mail leaves only after that commit.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from datetime import date, datetime, time, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from booking.codes import derived_token, new_salt, token_hash
from booking.links import staff_ticket_url, ticket_url
from booking.models import Booking, BookingStatus, Outcome
from booking.tickets.models import AWAITING_ANSWER, Ticket, TicketCounter, TicketEvent, TicketStatus
from scheduler.audit import Actor, record
from scheduler.auth.access import Action, may
from scheduler.auth.models import Role, User
from scheduler.calendar import closing_time_from_hours, followup_due_at
from scheduler.departments.models import Department
from scheduler.errors import DomainError, ErrorCode
from scheduler.mail.compose import queue_email

DEFAULT_WORKING_DAYS = 4
SUMMARY_MAX = 2000
TEXT_MAX = 10_000
EXTEND_HORIZON_DAYS = 366  # a due time is a promise to the citizen: a year ahead at most
# A department with no business hours configured still needs a close of business for its
# deadlines: the common Monday-Friday 9:00-18:00.
FALLBACK_HOURS: dict[int, tuple[time, time]] = {d: (time(9), time(18)) for d in range(5)}


# --- numbers, tokens, due times -----------------------------------------------------------------

def next_ticket_number(session: Session, year: int) -> str:
    """The next number of ``year``, "YYYY-NNNNNN", without gaps caused by races and without duplicates.

    One ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` bumps the year's counter atomically:
    on PostgreSQL concurrent transactions queue on the counter row's lock until the holder
    commits; on SQLite writers are serialised by ``BEGIN IMMEDIATE``. The unique index on
    ``tickets.number`` is the last line of defence.
    """
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    table = TicketCounter.__table__
    statement = (
        insert(table).values(year=year, last_number=1)
        .on_conflict_do_update(index_elements=[table.c.year], set_={"last_number": table.c.last_number + 1})
        .returning(table.c.last_number)
    )
    number = session.execute(statement).scalar_one()
    return f"{year:04d}-{number:06d}"


def citizen_token(secret_key: str, ticket: Ticket) -> str:
    """The secret of the ticket's confirm/reject link, reproducible only with the app's secret key."""
    return derived_token(secret_key, "ticket", ticket.number, ticket.citizen_token_salt)


def citizen_url(ticket: Ticket, config: Mapping[str, Any]) -> str:
    return ticket_url(ticket.number, citizen_token(str(config["SECRET_KEY"]), ticket))


def ticket_hours(department: Department) -> dict[int, list[tuple[time, time]]]:
    """The weekly hours that terms and working hours are counted in (weekdays 9-18 when none are set)."""
    return department.hours_by_weekday() or {weekday: [span] for weekday, span in FALLBACK_HOURS.items()}


def closing_time_for(department: Department) -> Callable[[date], time]:
    """The department's close of business on a date: the end of its office hours that day
    (``scheduler.calendar.office_hours_on``, so an hour early on a pre-holiday day), which is also
    the end of the day the slot engine books."""
    return closing_time_from_hours(ticket_hours(department), department.working_calendar)


def due_at_for(department: Department, opened_at: datetime, working_days: int) -> datetime:
    """When a follow-up opened at ``opened_at`` for ``department`` is due (PRODUCT.md, Civil Code 191-194)."""
    return followup_due_at(opened_at, working_days, department.working_calendar, department.zone,
                           closing_time_for(department))


# --- history ----------------------------------------------------------------------------------------

def _event(session: Session, ticket: Ticket, kind: str, actor: Actor, now: datetime, *, text: str = "",
           internal: bool = True, to: TicketStatus | None = None, before: TicketStatus | None = None,
           **details: Any) -> TicketEvent:
    event = TicketEvent(at=now, kind=kind, from_status=before.value if before else None,
                        to_status=to.value if to else None, actor_type=actor.kind, actor_id=actor.id,
                        actor_label=actor.label, is_internal=internal, text=text, details=details)
    ticket.events.append(event)
    changes: dict[str, Any] = dict(details)
    if to is not None:
        changes["status"] = [before.value if before else None, to.value]
    record(session, actor, f"ticket.{kind}", "ticket", ticket.number, changes, department_id=ticket.department.id)
    return event


def transition(session: Session, ticket: Ticket, to: TicketStatus, kind: str, actor: Actor, now: datetime,
               *, text: str = "", internal: bool = False, **details: Any) -> None:
    """Move along the state machine (booking.tickets.models.TRANSITIONS), with history and audit."""
    before = ticket.status
    if not ticket.can_become(to):
        raise DomainError({"ticket": _l("This ticket cannot change like that now.")}, code=ErrorCode.CONFLICT)
    ticket.status = to
    _event(session, ticket, kind, actor, now, text=text, internal=internal, to=to, before=before, **details)


def _clean(value: str, field: str, maximum: int, *, required: bool = True) -> str:
    value = (value or "").strip()
    if required and not value:
        raise DomainError({field: _l("This field is required.")})
    if len(value) > maximum:
        raise DomainError({field: _l("The text is too long (at most %(n)s characters).", n=maximum)})
    return value


# --- opening ------------------------------------------------------------------------------------------

def open_followup(session: Session, booking: Booking, *, summary: str, actor: Actor, now: datetime,
                  config: Mapping[str, Any], department: Department | None = None,
                  assignee: User | None = None) -> Ticket:
    """Open a follow-up ticket for a completed consultation and tell the citizen by email.

    ``department`` is the competent one (default: the topic's); the term is the topic's
    ``followup_working_days``, counted in the competent department's calendar and hours.
    """
    if booking.status != BookingStatus.COMPLETED:
        raise DomainError({"booking": _l("A follow-up can be opened only after the consultation was held.")},
                          code=ErrorCode.CONFLICT)
    if booking.outcome == Outcome.RESOLVED:
        raise DomainError({"booking": _l("This consultation was recorded as resolved; no answer is owed.")},
                          code=ErrorCode.CONFLICT)
    summary = _clean(summary, "summary", SUMMARY_MAX)
    competent = department or booking.topic.department
    if not competent.is_active:
        raise DomainError({"department": _l("This department is not active.")})
    if assignee is not None and (not assignee.is_active or assignee.role not in (Role.EXPERT, Role.SUPERVISOR)):
        raise DomainError({"assignee": _l("Choose an active expert or supervisor.")})
    if booking.outcome is None:
        booking.outcome = Outcome.NEEDS_FOLLOWUP
    working_days = booking.topic.followup_working_days or DEFAULT_WORKING_DAYS
    year = now.astimezone(competent.zone).year
    ticket = Ticket(
        number=next_ticket_number(session, year), booking=booking, department=competent,
        origin_department=booking.topic.department, assignee=assignee,
        opened_by_id=actor.id if actor.kind == "staff" else None, summary=summary, status=TicketStatus.OPEN,
        working_days=working_days, opened_at=now, due_at=due_at_for(competent, now, working_days),
        citizen_token_salt=new_salt(),
    )
    ticket.citizen_token_hash = token_hash(citizen_token(str(config["SECRET_KEY"]), ticket))
    session.add(ticket)
    _event(session, ticket, "opened", actor, now, internal=False, to=TicketStatus.OPEN,
           department=competent.slug, due_at=ticket.due_at.isoformat(), booking=booking.code)
    queue_email(session, to=booking.citizen_email, template="ticket_opened", locale=booking.locale,
                context=_email_context(ticket, config))
    session.flush()
    return ticket


def citizen_token_matches(ticket: Ticket, token: str) -> bool:
    return bool(token) and bool(ticket.citizen_token_hash) and hmac.compare_digest(
        token_hash(token), ticket.citizen_token_hash)


def _email_context(ticket: Ticket, config: Mapping[str, Any]) -> dict[str, Any]:
    return {"ticket": ticket, "booking": ticket.booking, "zone": ticket.department.zone,
            "link": citizen_url(ticket, config)}


# --- work ----------------------------------------------------------------------------------------------

def start_work(session: Session, ticket: Ticket, actor: Actor, now: datetime, assignee: User | None = None) -> None:
    """Someone takes the ticket: open or reopened → in progress (the taker becomes the assignee if none)."""
    transition(session, ticket, TicketStatus.IN_PROGRESS, "started", actor, now)
    if assignee is not None and ticket.assignee_id is None:
        ticket.assignee = assignee


def answer(session: Session, ticket: Ticket, text: str, actor: Actor, now: datetime,
           config: Mapping[str, Any]) -> None:
    """Record the answer and email it to the citizen with the confirm/reject link."""
    text = _clean(text, "answer", TEXT_MAX)
    if ticket.status in (TicketStatus.OPEN, TicketStatus.REOPENED):
        start_work(session, ticket, actor, now)
    transition(session, ticket, TicketStatus.ANSWERED, "answered", actor, now, text=text)
    ticket.answer_text = text
    ticket.answered_at = now
    if ticket.first_answered_at is None:
        ticket.first_answered_at = now
    queue_email(session, to=ticket.booking.citizen_email, template="ticket_answered", locale=ticket.booking.locale,
                context=_email_context(ticket, config))


def confirm_answer(session: Session, ticket: Ticket, actor: Actor, now: datetime) -> None:
    """The citizen says the answer solved the problem: the ticket is closed."""
    transition(session, ticket, TicketStatus.CLOSED, "confirmed", actor, now)
    ticket.closed_at = now


def reject_answer(session: Session, ticket: Ticket, comment: str, actor: Actor, now: datetime) -> None:
    """The citizen says it did not: the ticket is reopened with their comment (required)."""
    comment = _clean(comment, "comment", TEXT_MAX)
    transition(session, ticket, TicketStatus.REOPENED, "rejected", actor, now, text=comment)
    ticket.reopen_count += 1


def reassign(session: Session, ticket: Ticket, department: Department, actor: Actor, now: datetime,
             assignee: User | None = None, note: str = "") -> None:
    """Hand the ticket to another competent department (or person); the due time does not move."""
    if ticket.status not in AWAITING_ANSWER:
        raise DomainError({"ticket": _l("Only a ticket that is still awaiting an answer can be reassigned.")},
                          code=ErrorCode.CONFLICT)
    if not department.is_active:
        raise DomainError({"department": _l("This department is not active.")})
    if assignee is not None and not assignee.is_active:
        raise DomainError({"assignee": _l("Choose an active staff member.")})
    before = (ticket.department.slug, ticket.assignee_id)
    if before == (department.slug, assignee.id if assignee else None):
        raise DomainError({"department": _l("The ticket is already there.")})
    ticket.department = department
    ticket.assignee = assignee
    _event(session, ticket, "reassigned", actor, now, text=_clean(note, "note", TEXT_MAX, required=False),
           department=[before[0], department.slug], assignee=[before[1], assignee.id if assignee else None])


def extend_due_to_day(session: Session, ticket: Ticket, day: date, reason: str, actor_user: User,
                      now: datetime) -> None:
    """Extend the due time to the department's close of business on ``day``, a working day of it."""
    department = ticket.department
    # The bounds come first: the working calendar cannot reason about the first or last days of the era.
    if day > now.astimezone(department.zone).date() + timedelta(days=EXTEND_HORIZON_DAYS):
        raise DomainError({"due_at": _l("Choose a day within a year from today.")})
    if day < ticket.due_at.astimezone(department.zone).date():
        raise DomainError({"due_at": _l("The new due time must be later than the current one.")})
    if not department.working_calendar.is_working_day(day):
        raise DomainError({"due_at": _l("Choose a working day of the department.")})
    new_due = datetime.combine(day, closing_time_for(department)(day), tzinfo=department.zone)
    extend_due(session, ticket, new_due, reason, actor_user, now)


def extend_due(session: Session, ticket: Ticket, new_due: datetime, reason: str, actor_user: User,
               now: datetime) -> None:
    """A supervisor of the ticket's department (or an admin) moves the due time later, with a reason."""
    if not may(actor_user, Action.EXTEND_DEADLINE, ticket.scope):
        raise DomainError({"due_at": _l("Only a supervisor of the department can extend the due time.")},
                          code=ErrorCode.FORBIDDEN)
    if ticket.status not in AWAITING_ANSWER:
        raise DomainError({"ticket": _l("Only a ticket that is still awaiting an answer can be extended.")},
                          code=ErrorCode.CONFLICT)
    reason = _clean(reason, "reason", TEXT_MAX)
    if new_due.tzinfo is None:
        raise DomainError({"due_at": _l("Give the time with its UTC offset.")})
    if new_due <= ticket.due_at:
        raise DomainError({"due_at": _l("The new due time must be later than the current one.")})
    before = ticket.due_at
    ticket.due_at = new_due
    ticket.extended_reason = reason
    # New time, new reminders.
    ticket.due_soon_notified_at = None
    ticket.overdue_notified_at = None
    _event(session, ticket, "extended", Actor.staff(actor_user), now, text=reason,
           due_at=[before.isoformat(), new_due.isoformat()])


def comment(session: Session, ticket: Ticket, text: str, actor: Actor, now: datetime) -> None:
    """An internal note by staff; never shown to the citizen."""
    _event(session, ticket, "comment", actor, now, text=_clean(text, "comment", TEXT_MAX))


# --- deadline watch -------------------------------------------------------------------------------

def supervisors_of(session: Session, department_id: int) -> list[User]:
    return list(session.scalars(
        select(User).where(User.role == Role.SUPERVISOR, User.department_id == department_id,
                           User.is_active_account.is_(True)).order_by(User.id)
    ))


def _remind(session: Session, ticket: Ticket, template: str, config: Mapping[str, Any]) -> list[str]:
    people = supervisors_of(session, ticket.department_id)
    if ticket.assignee is not None and ticket.assignee.is_active:
        people.insert(0, ticket.assignee)
    sent: list[str] = []
    for person in people:
        if person.email in sent:
            continue
        queue_email(session, to=person.email, template=template, locale="ru",
                    context={"ticket": ticket, "zone": ticket.department.zone, "person": person,
                             "link": staff_ticket_url(ticket.number)})
        sent.append(person.email)
    return sent


def sweep_deadlines(session: Session, now: datetime, config: Mapping[str, Any]) -> dict[str, int]:
    """Mark tickets due soon and overdue, and remind the assignee and supervisors once per threshold."""
    soon = now + timedelta(hours=int(config["TICKET_DUE_SOON_HOURS"]))
    system = Actor.system("deadline watch")
    counts = {"due_soon": 0, "overdue": 0}
    overdue = session.scalars(
        select(Ticket).where(Ticket.status.in_(AWAITING_ANSWER), Ticket.due_at <= now,
                             Ticket.overdue_notified_at.is_(None)).order_by(Ticket.due_at).with_for_update()
    ).all()
    for ticket in overdue:
        ticket.overdue_notified_at = now
        ticket.due_soon_notified_at = ticket.due_soon_notified_at or now  # no "due soon" after "overdue"
        sent = _remind(session, ticket, "ticket_overdue", config)
        _event(session, ticket, "overdue", system, now, notified=len(sent))
        counts["overdue"] += 1
    due_soon = session.scalars(
        select(Ticket).where(Ticket.status.in_(AWAITING_ANSWER), Ticket.due_at > now, Ticket.due_at <= soon,
                             Ticket.due_soon_notified_at.is_(None)).order_by(Ticket.due_at).with_for_update()
    ).all()
    for ticket in due_soon:
        ticket.due_soon_notified_at = now
        sent = _remind(session, ticket, "ticket_due_soon", config)
        _event(session, ticket, "due_soon", system, now, notified=len(sent))
        counts["due_soon"] += 1
    return counts


def close_unconfirmed(session: Session, now: datetime, config: Mapping[str, Any]) -> int:
    """Close answers the citizen left unjudged for TICKET_CONFIRMATION_DAYS as "answered, not confirmed"."""
    cutoff = now - timedelta(days=int(config["TICKET_CONFIRMATION_DAYS"]))
    stale = session.scalars(
        select(Ticket).where(Ticket.status == TicketStatus.ANSWERED, Ticket.answered_at <= cutoff)
        .order_by(Ticket.id).with_for_update()
    ).all()
    system = Actor.system("confirmation timeout")
    for ticket in stale:
        transition(session, ticket, TicketStatus.CLOSED_UNCONFIRMED, "closed_unconfirmed", system, now)
        ticket.closed_at = now
    return len(stale)


# --- who may see what -------------------------------------------------------------------------------

def citizen_tickets(session: Session, email: str) -> list[Ticket]:
    """The tickets opened from this citizen's consultations, newest first."""
    return list(session.scalars(
        select(Ticket).join(Booking, Ticket.booking_id == Booking.id).where(Booking.citizen_email == email)
        .order_by(Ticket.opened_at.desc(), Ticket.id.desc())
    ))
