"""One home for the feed's version stamp: whatever changes what an expert's feed shows bumps it, at flush.

The feed answers a poll from ``experts.feed_version`` (booking.workspace.feed), read with the
expert it loads anyway, instead of digesting every row in its window. So every write that can
change an event must bump the version of each expert whose feed it touches — and no service
has to remember to: two session listeners watch the writes themselves.

* ``before_flush`` (objects): a booking added, deleted or changed in a column the feed shows
  (its old and new expert, when it moved), when it is or was in a status the feed shows; an
  expert's feed detail or user; a user's name; a topic's title; an office's name or address.
* ``do_orm_execute`` (statements run through the session: bulk inserts and
  ``update(Booking)``/``delete(Booking)``, such as a reschedule's conditional move or the
  retention's anonymisation): the experts of the rows it matches, read before and after.

The bump is one ``UPDATE experts`` per flush or statement, before the booking rows are written, so
a transaction that changes bookings takes its experts' row locks first (the same rows the
booking services lock); the version is committed, or rolled back, with the change itself.
Changes made outside the ORM session (hand-written SQL) are not seen: there are none.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import CursorResult, Delete, Insert, Update, event, inspect, select, update
from sqlalchemy.orm import ORMExecuteState, Session

from booking.ical import FEED_STATUSES
from booking.models import Booking
from scheduler.auth.models import User
from scheduler.db import utcnow
from scheduler.departments.models import Location, Topic
from scheduler.experts.models import Expert

# The booking columns an event is built from (booking.ical._feed_event) or selected by (the window).
FEED_COLUMNS = ("code", "sequence", "status", "starts_at", "ends_at", "channel", "topic_id", "location_id",
                "expert_id", "citizen_name")
_SHOWN = frozenset(FEED_STATUSES)
_EXPERTS = Expert.__table__
_BOOKINGS = Booking.__table__
_BUMPED = "okno.feed_versions_bumped"


def bump_feed_versions(session: Session, expert_ids: Iterable[int | None]) -> None:
    """Give these experts' feeds a new version (in this transaction); in-session experts re-read it.

    An expert already bumped in the current transaction (or savepoint) is not bumped again: the
    version only has to differ from every committed one, so one bump per transaction is enough.
    """
    bumped: set[int] = session.info.setdefault(_BUMPED, set())
    ids = sorted({i for i in expert_ids if i is not None} - bumped)
    if not ids:
        return
    bumped.update(ids)
    session.execute(update(_EXPERTS).where(_EXPERTS.c.id.in_(ids))
                    .values(feed_version=_EXPERTS.c.feed_version + 1, feed_changed_at=utcnow()))
    for expert_id in ids:
        expert = session.identity_map.get(session.identity_key(Expert, expert_id))
        if expert is not None:
            session.expire(expert, ["feed_version", "feed_changed_at"])


def _changed(obj: Any, names: Iterable[str]) -> dict[str, tuple[list[Any], list[Any]]]:
    """The attributes among ``names`` with a net change: name → (old values, new values)."""
    state = inspect(obj)
    result = {}
    for name in names:
        history = state.attrs[name].history
        if history.has_changes():
            result[name] = (list(history.deleted), list(history.added))
    return result


def _booking_experts(obj: Booking, *, is_new: bool, is_deleted: bool) -> set[int | None]:
    if is_new or is_deleted:
        if obj.status not in _SHOWN:
            return set()
        expert = inspect(obj).attrs.expert.loaded_value  # set through the relationship, the id comes at flush
        return {obj.expert_id, getattr(expert, "id", None)}
    changed = _changed(obj, FEED_COLUMNS)
    if not changed:
        return set()
    old_status, new_status = changed.get("status", ([obj.status], [obj.status]))
    if not any(s in _SHOWN for s in [*old_status, *new_status]):
        return set()
    old_expert, new_expert = changed.get("expert_id", ([obj.expert_id], [obj.expert_id]))
    return {*old_expert, *new_expert}


def _experts_of_bookings(session: Session, condition: Any) -> Any:
    return select(Booking.expert_id).where(condition).distinct()


def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    experts: set[int | None] = set()
    for obj in session.new:
        if isinstance(obj, Booking):
            experts |= _booking_experts(obj, is_new=True, is_deleted=False)
    for obj in session.deleted:
        if isinstance(obj, Booking):
            experts |= _booking_experts(obj, is_new=False, is_deleted=True)
    for obj in session.dirty:
        if isinstance(obj, Booking):
            experts |= _booking_experts(obj, is_new=False, is_deleted=False)
        elif isinstance(obj, Expert) and _changed(obj, ("feed_detail", "user_id")):
            experts.add(obj.id)
        elif isinstance(obj, User) and _changed(obj, ("full_name",)):
            experts |= set(session.scalars(select(Expert.id).where(Expert.user_id == obj.id)))
        elif isinstance(obj, Topic) and _changed(obj, ("title",)):
            experts |= set(session.scalars(_experts_of_bookings(session, Booking.topic_id == obj.id)))
        elif isinstance(obj, Location) and _changed(obj, ("name", "address")):
            experts |= set(session.scalars(_experts_of_bookings(session, Booking.location_id == obj.id)))
    bump_feed_versions(session, experts)


def _on_statement(state: ORMExecuteState) -> Any:
    statement = state.statement
    if not isinstance(statement, Insert | Update | Delete) or getattr(statement.table, "name", None) != _BOOKINGS.name:
        return None
    session = state.session
    if isinstance(statement, Insert):
        rows = state.parameters if isinstance(state.parameters, list) else [state.parameters or {}]
        experts = {row.get("expert_id") for row in rows if row.get("status") in _SHOWN}
        if experts:
            bump_feed_versions(session, experts)
        return None
    shown = Booking.status.in_(list(_SHOWN))
    matched = (statement.whereclause & shown) if statement.whereclause is not None else shown
    # The experts of the matched rows first (their locks before the rows'), then those they moved to.
    before = set(session.scalars(_experts_of_bookings(session, matched)))
    bump_feed_versions(session, before)
    if isinstance(statement, Delete):
        return None
    result = state.invoke_statement()
    if not isinstance(result, CursorResult) or result.returns_rows:
        result = result.freeze()()  # RETURNING rows, read now: the caller reads them after our next query
    bump_feed_versions(session, set(session.scalars(_experts_of_bookings(session, matched))) - before)
    return result


def _forget_bumps(session: Session, _transaction: Any) -> None:
    # At the end of any transaction or savepoint: a rolled-back bump must be made again.
    session.info.pop(_BUMPED, None)


event.listen(Session, "before_flush", _before_flush)
event.listen(Session, "after_transaction_end", _forget_bumps)
event.listen(Session, "do_orm_execute", _on_statement)
