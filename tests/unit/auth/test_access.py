"""The permission table: every role × action × scope, and the listing helpers that must agree with it."""

from __future__ import annotations

import pytest

from scheduler.auth.access import RULES, Action, Reach, Scope, department_ids, may, may_anywhere
from scheduler.auth.models import Role, User

OWN, OTHER = 1, 2  # departments
OFFICE, OTHER_OFFICE, SHARED_OFFICE = 10, 20, 30  # offices: of OWN, of OTHER, of no department
EXPERT_ID, COLLEAGUE_ID, STRANGER_ID = 7, 8, 11


def user(user_id: int, role: Role, *, department_id: int | None = None, location_id: int | None = None,
         active: bool = True) -> User:
    return User(id=user_id, role=role, department_id=department_id, location_id=location_id,
                is_active_account=active, email=f"u{user_id}@example.org", full_name="Staff", password_hash="")


USERS = {
    "admin": user(1, Role.ADMIN),
    "supervisor": user(2, Role.SUPERVISOR, department_id=OWN),
    "other supervisor": user(3, Role.SUPERVISOR, department_id=OTHER),
    "supervisor without department": user(4, Role.SUPERVISOR),
    "reception": user(5, Role.RECEPTION, location_id=OFFICE),
    "reception without office": user(6, Role.RECEPTION, department_id=OWN),
    "expert": user(EXPERT_ID, Role.EXPERT, department_id=OWN),
    "switched-off supervisor": user(9, Role.SUPERVISOR, department_id=OWN, active=False),
}

# The records an action is done to, reduced to their scope: a consultation (or ticket, schedule...) of the
# expert's own, of a colleague in the same department at the same office, of another department, an
# office of no department, and one nobody is named on that waits in the expert's queue (an unassigned
# ticket about a topic the expert consults on).
SCOPES = {
    "expert's own": Scope.of(OWN, OFFICE, (EXPERT_ID,)),
    "colleague's": Scope.of(OWN, OFFICE, (COLLEAGUE_ID,)),
    "other department's": Scope.of(OTHER, OTHER_OFFICE, (STRANGER_ID,)),
    "shared office": Scope.of(None, SHARED_OFFICE),
    "waiting in the expert's queue": Scope.of(OWN, OFFICE, (), (EXPERT_ID,)),
}

# One string per user and action: Y or N for each scope above, in order.
TABLE: dict[Action, dict[str, str]] = {
    Action.WORK_DESK: {
        "admin": "YYYYY", "supervisor": "YYNNY", "other supervisor": "NNYNN",
        "supervisor without department": "NNNNN", "reception": "YYNNY", "reception without office": "NNNNN",
        "expert": "NNNNN", "switched-off supervisor": "NNNNN",
    },
    Action.CONDUCT_AT_DESK: {
        "admin": "NNNNN", "supervisor": "NNNNN", "other supervisor": "NNNNN",
        "supervisor without department": "NNNNN", "reception": "NNNNN", "reception without office": "NNNNN",
        "expert": "YNNNN", "switched-off supervisor": "NNNNN",
    },
    Action.VIEW_BOOKING_PERSONAL_DATA: {
        "admin": "YYYYY", "supervisor": "YYNNY", "other supervisor": "NNYNN",
        "supervisor without department": "NNNNN", "reception": "NNNNN", "reception without office": "NNNNN",
        "expert": "YNNNN", "switched-off supervisor": "NNNNN",
    },
    Action.RECORD_OUTCOME: {
        "admin": "YYYYY", "supervisor": "YYNNY", "other supervisor": "NNYNN",
        "supervisor without department": "NNNNN", "reception": "NNNNN", "reception without office": "NNNNN",
        "expert": "YNNNN", "switched-off supervisor": "NNNNN",
    },
    Action.OPEN_FOLLOWUP: {
        "admin": "YYYYY", "supervisor": "YYNNY", "other supervisor": "NNYNN",
        "supervisor without department": "NNNNN", "reception": "NNNNN", "reception without office": "NNNNN",
        "expert": "YNNNN", "switched-off supervisor": "NNNNN",
    },
    Action.JOIN_VIDEO_AS_EXPERT: {
        "admin": "NNNNN", "supervisor": "NNNNN", "other supervisor": "NNNNN",
        "supervisor without department": "NNNNN", "reception": "NNNNN", "reception without office": "NNNNN",
        "expert": "YNNNN", "switched-off supervisor": "NNNNN",
    },
    Action.VIEW_CALENDAR: {
        "admin": "YYYYY", "supervisor": "YYNNY", "other supervisor": "NNYNN",
        "supervisor without department": "NNNNN", "reception": "NNNNN", "reception without office": "NNNNN",
        "expert": "YNNNN", "switched-off supervisor": "NNNNN",
    },
    Action.MANAGE_SCHEDULE: {
        "admin": "YYYYY", "supervisor": "YYNNY", "other supervisor": "NNYNN",
        "supervisor without department": "NNNNN", "reception": "NNNNN", "reception without office": "NNNNN",
        "expert": "YNNNN", "switched-off supervisor": "NNNNN",
    },
    Action.MANAGE_RECEPTION_DAYS: {
        "admin": "YYYYY", "supervisor": "YYNNY", "other supervisor": "NNYNN",
        "supervisor without department": "NNNNN", "reception": "NNNNN", "reception without office": "NNNNN",
        "expert": "NNNNN", "switched-off supervisor": "NNNNN",
    },
    Action.HANDLE_TICKET: {
        "admin": "YYYYY", "supervisor": "YYNNY", "other supervisor": "NNYNN",
        "supervisor without department": "NNNNN", "reception": "NNNNN", "reception without office": "NNNNN",
        "expert": "YNNNY", "switched-off supervisor": "NNNNN",
    },
    Action.EXTEND_DEADLINE: {
        "admin": "YYYYY", "supervisor": "YYNNY", "other supervisor": "NNYNN",
        "supervisor without department": "NNNNN", "reception": "NNNNN", "reception without office": "NNNNN",
        "expert": "NNNNN", "switched-off supervisor": "NNNNN",
    },
    Action.VIEW_TICKET_CONTACTS: {
        "admin": "YYYYY", "supervisor": "YYNNY", "other supervisor": "NNYNN",
        "supervisor without department": "NNNNN", "reception": "NNNNN", "reception without office": "NNNNN",
        "expert": "YNNNN", "switched-off supervisor": "NNNNN",
    },
    Action.VIEW_AUDIT: {
        "admin": "YYYYY", "supervisor": "YYNNY", "other supervisor": "NNYNN",
        "supervisor without department": "NNNNN", "reception": "NNNNN", "reception without office": "NNNNN",
        "expert": "NNNNN", "switched-off supervisor": "NNNNN",
    },
    Action.VIEW_ANALYTICS: {
        "admin": "YYYYY", "supervisor": "YYNNY", "other supervisor": "NNYNN",
        "supervisor without department": "NNNNN", "reception": "NNNNN", "reception without office": "NNNNN",
        "expert": "NNNNN", "switched-off supervisor": "NNNNN",
    },
}

ROWS = [
    pytest.param(action, who, scope, answers[i] == "Y", id=f"{action.value}-{who}-{scope}")
    for action, row in TABLE.items() for who, answers in row.items() for i, scope in enumerate(SCOPES)
]


def test_the_table_covers_every_action_user_and_scope() -> None:
    assert set(TABLE) == set(Action) == set(RULES)
    for row in TABLE.values():
        assert set(row) == set(USERS)
        assert all(len(answers) == len(SCOPES) and set(answers) <= {"Y", "N"} for answers in row.values())


@pytest.mark.parametrize(("action", "who", "scope", "allowed"), ROWS)
def test_may(action: Action, who: str, scope: str, allowed: bool) -> None:
    assert may(USERS[who], action, SCOPES[scope]) is allowed


@pytest.mark.parametrize("action", list(Action))
def test_a_supervisor_without_a_department_may_do_nothing_department_scoped(action: Action) -> None:
    nobody = USERS["supervisor without department"]
    assert not any(may(nobody, action, scope) for scope in SCOPES.values())
    assert not may(nobody, action, Scope())  # a record of no department is not "theirs" either
    assert not may_anywhere(nobody, action)
    assert department_ids(nobody, action) == ()


def test_an_admin_who_is_the_assigned_expert_runs_their_own_room_and_only_theirs() -> None:
    admin = USERS["admin"]
    assert may(admin, Action.JOIN_VIDEO_AS_EXPERT, Scope.of(OWN, None, (admin.id,)))
    assert may(admin, Action.CONDUCT_AT_DESK, Scope.of(OWN, OFFICE, (admin.id,)))
    assert not may(admin, Action.JOIN_VIDEO_AS_EXPERT, SCOPES["colleague's"])


@pytest.mark.parametrize(("who", "action", "expected"), [
    ("admin", Action.VIEW_ANALYTICS, None),
    ("supervisor", Action.VIEW_ANALYTICS, (OWN,)),
    ("other supervisor", Action.MANAGE_RECEPTION_DAYS, (OTHER,)),
    ("expert", Action.VIEW_ANALYTICS, ()),
    ("reception", Action.WORK_DESK, ()),
    ("switched-off supervisor", Action.VIEW_ANALYTICS, ()),
])
def test_department_ids_follow_the_table(who: str, action: Action, expected: tuple[int, ...] | None) -> None:
    assert department_ids(USERS[who], action) == expected


@pytest.mark.parametrize(("action", "who"), [(a, w) for a in Action for w in USERS])
def test_may_anywhere_is_true_exactly_when_some_record_is_allowed(action: Action, who: str) -> None:
    somewhere = "Y" in TABLE[action][who]
    if RULES[action].get(USERS[who].role) is Reach.PERSONAL and USERS[who].is_active_account:
        somewhere = True  # a personal permission is there for any record the user is named on
    assert may_anywhere(USERS[who], action) is somewhere


@pytest.mark.parametrize("action", list(Action))
def test_a_visitor_who_is_not_signed_in_may_do_nothing(action: Action) -> None:
    from flask_login import AnonymousUserMixin

    anonymous = AnonymousUserMixin()
    assert not may(anonymous, action, SCOPES["expert's own"])  # type: ignore[arg-type]
    assert not may_anywhere(anonymous, action)  # type: ignore[arg-type]
    assert department_ids(anonymous, action) == ()  # type: ignore[arg-type]
