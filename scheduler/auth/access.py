"""Who may do what to which record: one rule table (role × action → reach), asked by every staff view."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, false, or_, true

from scheduler.auth.models import Role, User


class Action(enum.StrEnum):
    """Something a staff member does to a record; the record's ``Scope`` says where it belongs."""

    WORK_DESK = "work_desk"  # check in, walk-ins, calls, no-shows at an office's reception desk
    CONDUCT_AT_DESK = "conduct_at_desk"  # call, start, complete a visit as the expert on duty
    VIEW_BOOKING_PERSONAL_DATA = "view_booking_personal_data"  # the consultation card with the citizen
    RECORD_OUTCOME = "record_outcome"  # no-show, completion, notes from the workspace card
    OPEN_FOLLOWUP = "open_followup"  # a follow-up ticket from a consultation
    JOIN_VIDEO_AS_EXPERT = "join_video_as_expert"  # a moderator token for the video room
    VIEW_CALENDAR = "view_calendar"  # an expert's workspace calendar and its feed address
    MANAGE_SCHEDULE = "manage_schedule"  # an expert's weekly hours and date overrides
    MANAGE_RECEPTION_DAYS = "manage_reception_days"  # an office's reception days
    HANDLE_TICKET = "handle_ticket"  # see, start, answer, comment on, reassign a ticket
    EXTEND_DEADLINE = "extend_deadline"  # move a ticket's due time later
    VIEW_ANALYTICS = "view_analytics"  # a department's dashboard and exports
    VIEW_TICKET_CONTACTS = "view_ticket_contacts"  # the citizen's email and phone on a ticket
    VIEW_AUDIT = "view_audit"  # the audit log's entries (an entry of no department: admins only)


class Reach(enum.Enum):
    """How far a role's permission for an action reaches."""

    NOTHING = "nothing"
    EVERYTHING = "everything"
    DEPARTMENT = "department"  # records of the user's own department (none without one)
    OFFICE = "office"  # the office the user is tied to (reception staff)
    PERSONAL = "personal"  # records the user is personally named on (assigned expert, assignee, opener)
    # records the user is named on, or that wait in their queue (the record's scope names whose:
    # for a ticket, the experts of its department who consult on its topic while nobody has it)
    PERSONAL_OR_QUEUE = "personal_or_queue"


ALL, DEPT, OFFICE, OWN, OWN_OR_QUEUE = (Reach.EVERYTHING, Reach.DEPARTMENT, Reach.OFFICE, Reach.PERSONAL,
                                       Reach.PERSONAL_OR_QUEUE)

# The whole policy. A role missing from a row reaches nothing. Admins reach everything except what
# only the assigned expert may do (a moderator token, the visit at the desk): nobody acts as another
# expert, an admin who is the assigned expert included as that expert. Least privilege for personal
# data: an expert handles the tickets they are named on or that wait in their queue, and sees the
# citizen's contact details only on a ticket assigned to them (``Ticket.contact_scope``); a supervisor
# reads the audit entries of their own department, an admin every entry.
RULES: dict[Action, dict[Role, Reach]] = {
    Action.WORK_DESK: {Role.ADMIN: ALL, Role.SUPERVISOR: DEPT, Role.RECEPTION: OFFICE},
    Action.CONDUCT_AT_DESK: {Role.ADMIN: OWN, Role.EXPERT: OWN},
    Action.VIEW_BOOKING_PERSONAL_DATA: {Role.ADMIN: ALL, Role.SUPERVISOR: DEPT, Role.EXPERT: OWN},
    Action.RECORD_OUTCOME: {Role.ADMIN: ALL, Role.SUPERVISOR: DEPT, Role.EXPERT: OWN},
    Action.OPEN_FOLLOWUP: {Role.ADMIN: ALL, Role.SUPERVISOR: DEPT, Role.EXPERT: OWN},
    Action.JOIN_VIDEO_AS_EXPERT: {Role.ADMIN: OWN, Role.EXPERT: OWN},
    Action.VIEW_CALENDAR: {Role.ADMIN: ALL, Role.SUPERVISOR: DEPT, Role.EXPERT: OWN},
    Action.MANAGE_SCHEDULE: {Role.ADMIN: ALL, Role.SUPERVISOR: DEPT, Role.EXPERT: OWN},
    Action.MANAGE_RECEPTION_DAYS: {Role.ADMIN: ALL, Role.SUPERVISOR: DEPT},
    Action.HANDLE_TICKET: {Role.ADMIN: ALL, Role.SUPERVISOR: DEPT, Role.EXPERT: OWN_OR_QUEUE},
    Action.EXTEND_DEADLINE: {Role.ADMIN: ALL, Role.SUPERVISOR: DEPT},
    Action.VIEW_ANALYTICS: {Role.ADMIN: ALL, Role.SUPERVISOR: DEPT},
    Action.VIEW_TICKET_CONTACTS: {Role.ADMIN: ALL, Role.SUPERVISOR: DEPT, Role.EXPERT: OWN},
    Action.VIEW_AUDIT: {Role.ADMIN: ALL, Role.SUPERVISOR: DEPT},
}


@dataclass(frozen=True)
class Scope:
    """A record reduced to what permissions depend on: its department, its office, the people named on it
    and the people in whose queue it waits."""

    department_id: int | None = None
    location_id: int | None = None
    people: frozenset[int] = field(default_factory=frozenset)  # staff user ids
    queue: frozenset[int] = field(default_factory=frozenset)  # staff user ids

    @classmethod
    def of(cls, department_id: int | None = None, location_id: int | None = None,
           people: Iterable[int | None] = (), queue: Iterable[int | None] = ()) -> Scope:
        return cls(department_id, location_id, frozenset(p for p in people if p is not None),
                   frozenset(q for q in queue if q is not None))

    @classmethod
    def of_department(cls, department_id: int | None) -> Scope:
        return cls(department_id=department_id)

    @classmethod
    def of_location(cls, location: Any, people: Iterable[int | None] = ()) -> Scope:
        """An office (``Location``): it belongs to its department; ``people`` are the experts on duty there."""
        return cls.of(location.department_id, location.id, people)

    @classmethod
    def of_expert(cls, expert: Any) -> Scope:
        """An expert's schedule and calendar: their department's, and personally theirs."""
        return cls.of(expert.department_id, None, (expert.user_id,))


def reach(user: User, action: Action) -> Reach:
    if not getattr(user, "is_authenticated", False) or user.is_active_account is False:
        return Reach.NOTHING  # a switched-off account keeps no permission, even in a session still open
    return RULES[action].get(user.role, Reach.NOTHING)


def may(user: User, action: Action, scope: Scope) -> bool:
    """May ``user`` do ``action`` to the record described by ``scope``?"""
    granted = reach(user, action)
    if granted in (Reach.EVERYTHING, Reach.NOTHING):
        return granted is Reach.EVERYTHING
    in_department = user.department_id is not None and scope.department_id == user.department_id
    personal = user.id is not None and user.id in scope.people
    return {
        Reach.DEPARTMENT: in_department,
        Reach.OFFICE: user.location_id is not None and scope.location_id == user.location_id,
        Reach.PERSONAL: personal,
        Reach.PERSONAL_OR_QUEUE: personal or (user.id is not None and user.id in scope.queue),
    }[granted]


def may_anywhere(user: User, action: Action) -> bool:
    """Could ``user`` do ``action`` to anything at all (whether to offer the page's links)?"""
    granted = reach(user, action)
    if granted is Reach.DEPARTMENT and user.department_id is None:
        return False
    if granted is Reach.OFFICE:
        return user.location_id is not None
    return granted is not Reach.NOTHING


def condition(user: User, action: Action, *, department: Any = None, location: Any = None,
              people: Sequence[Any] = (), queue: Callable[[int], ColumnElement[bool]] | None = None,
              ) -> ColumnElement[bool]:
    """The same rule as ``may`` as an SQL condition over a listing's columns, so a list shows exactly what
    each of its rows would allow (columns not given count as "not this user's"). ``queue(user_id)`` is
    the listing's SQL form of "waits in this user's queue", agreeing with its records' ``Scope.queue``."""
    granted = reach(user, action)
    if granted is Reach.EVERYTHING:
        return true()
    parts: list[ColumnElement[bool]] = []
    if granted is Reach.DEPARTMENT and department is not None \
            and user.department_id is not None:
        parts.append(department == user.department_id)
    if granted in (Reach.PERSONAL, Reach.PERSONAL_OR_QUEUE) and user.id is not None:
        parts += [column == user.id for column in people]
    if granted is Reach.PERSONAL_OR_QUEUE and queue is not None and user.id is not None:
        parts.append(queue(user.id))
    if granted is Reach.OFFICE and location is not None and user.location_id is not None:
        parts.append(location == user.location_id)
    return or_(*parts) if parts else false()


def department_ids(user: User, action: Action) -> tuple[int, ...] | None:
    """The departments a department-scoped action reaches: None for every one, else the user's own (or none)."""
    granted = reach(user, action)
    if granted is Reach.EVERYTHING:
        return None
    if granted is Reach.DEPARTMENT and user.department_id is not None:
        return (user.department_id,)
    return ()


__all__ = ["RULES", "Action", "Reach", "Scope", "condition", "department_ids", "may", "may_anywhere", "reach"]
