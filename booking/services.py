"""Booking operations: hold, confirm, cancel, reschedule, expire — without a double booking, ever.

How double booking is prevented:

* before any lock, one read of the topic's experts and the bookings around the time
  (``precheck``) turns away a request for a time already taken, so that the losers of a rush
  never queue for a lock; it rules out only what the engine's busy rule rules out;
* on PostgreSQL every write that takes an expert's time first locks that expert's row
  (``SELECT ... FOR UPDATE``), then re-checks the slot with the slot engine on that expert's one
  day, read afresh (``expert_day_slots``), then inserts;
  concurrent requests for the same expert queue on the lock, so the check and the insert
  are atomic; experts are always locked in id order, so two reschedules cannot deadlock;
* on SQLite every write transaction is ``BEGIN IMMEDIATE`` (see ``scheduler.app``), which
  serialises writers for the whole database;
* whatever the path, the partial unique index ``uq_bookings_active_seat`` refuses a second
  active booking for the same expert, start and seat.

Seats belong to one expert in one place at one time: the slot engine counts a booking as a taken
seat only at its own office and lets it block every other office.  So all active bookings of an
expert at one start are at one office, and the unique index deliberately leaves the office out:
numbering seats per expert and start (not per office) makes the database itself refuse seat 1 at
a second office at the same start should a race ever slip past the checks.

Services never commit and never read the request: the caller commits once (and the outbox
sends mail only after that commit).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, and_, func, null, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased
from sqlalchemy.orm.attributes import set_committed_value

from booking.availability import FoundSlot, expert_day_slots, search_slots, topic_experts
from booking.citizens import CitizenDetails
from booking.codes import (
    confirmation_code_hash,
    manage_token,
    new_booking_code,
    new_confirmation_code,
    new_salt,
    new_video_room,
    token_hash,
)
from booking.feed_version import bump_feed_versions
from booking.metrics import count_made, counts_refusals
from booking.models import ACTIVE_STATUSES, Booking, BookingEvent, BookingStatus, keeps_its_time
from scheduler.audit import Actor, record
from scheduler.availability.engine import BusyIndex, BusyInterval
from scheduler.departments.models import Location, Topic
from scheduler.errors import DomainError, ErrorCode
from scheduler.experts.models import Expert, expert_topics
from scheduler.schedules.models import Channel


@dataclass(frozen=True)
class BookingPolicy:
    """The configurable limits of booking (see the README for the settings)."""

    hold_minutes: int = 15
    active_per_topic: int = 1
    max_code_attempts: int = 5
    secret_key: str = ""

    def codes_exhausted(self, booking: Booking) -> bool:
        """The hold has had every code attempt it gets (it is, or is about to be, released for them)."""
        return booking.confirmation_attempts >= self.max_code_attempts

    @classmethod
    def from_config(cls, config: Any) -> BookingPolicy:
        return cls(
            hold_minutes=int(config["BOOKING_HOLD_MINUTES"]),
            active_per_topic=int(config["BOOKING_ACTIVE_PER_TOPIC"]),
            max_code_attempts=int(config["BOOKING_CODE_ATTEMPTS"]),
            secret_key=str(config["SECRET_KEY"]),
        )


class SlotTaken(DomainError):
    """The chosen time is no longer free.

    The nearest free slots are looked up by ``find_alternatives`` only after the caller has
    rolled back: computing them inside the booking transaction would keep the experts' locks
    while everybody else in a rush waits for them. A refusal made before any expert was locked
    (the pre-check saw the time taken) carries them already (``offers``), found with the topic and
    experts the pre-check had loaded; the caller may read them before it rolls back, which saves
    reloading all of that (most requests of a rush are such refusals).
    """

    def __init__(self, topic: Topic, channel: str, start: datetime, now: datetime, expert_id: int | None,
                 location_id: int | None = None, offers: list[FoundSlot] | None = None) -> None:
        message = (_l("This time is not free at the chosen office. Choose another time or office.")
                   if location_id is not None else _l("This time has just been taken. Choose another one."))
        super().__init__({"start": message}, code=ErrorCode.SLOT_TAKEN)
        self.topic_id = topic.id
        self.channel = channel
        self.start = start
        self.now = now
        self.expert_id = expert_id
        self.location_id = location_id
        self.offers = offers

    def find_alternatives(self, session: Session) -> list[FoundSlot]:
        if self.offers is not None:
            return self.offers
        topic = session.get(Topic, self.topic_id)
        if topic is None:
            return []
        return nearest_alternatives(session, topic, self.channel, self.start, self.now, self.expert_id,
                                    location_id=self.location_id)


class LimitReached(DomainError):
    def __init__(self, limit: int) -> None:
        super().__init__(
            {"email": _l("You already have %(n)s active booking(s) on this topic. Cancel one to book another.",
                         n=limit)},
            code=ErrorCode.LIMIT_REACHED,
        )


@dataclass
class HoldResult:
    booking: Booking
    manage_token: str
    confirmation_code: str = field(repr=False, default="")


def lock_experts(session: Session, expert_ids: list[int], *, bump_feed: bool = False) -> None:
    """Row locks on PostgreSQL, in id order so that no two transactions deadlock.

    ``bump_feed``: the caller is about to change what these experts' feeds show, so the lock is
    taken by the feed-version bump itself (an UPDATE locks the row as FOR UPDATE does), which
    saves the statement the flush would otherwise send; should the change not happen after all,
    the feed is merely fetched once more.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    for expert_id in sorted(set(expert_ids)):
        if bump_feed:
            bump_feed_versions(session, [expert_id])
        else:
            session.execute(select(Expert.id).where(Expert.id == expert_id).with_for_update())


def lock_citizen(session: Session, topic_id: int, email: str, phone: str) -> None:
    """Serialise a citizen's bookings on one topic, so the per-topic limit holds under a rush."""
    if session.get_bind().dialect.name != "postgresql":
        return
    # A walk-in registered at the desk has no email: an empty one identifies nobody.
    keys = sorted({f"okno:{topic_id}:{v}" for v in (email, phone) if v})
    if not keys:
        return
    # One round trip; the select list is evaluated left to right, so the locks are still taken in order.
    locks = ", ".join(f"pg_advisory_xact_lock(hashtext(:key{n}))" for n in range(len(keys)))
    session.execute(text(f"SELECT {locks}"), {f"key{n}": key for n, key in enumerate(keys)})


# How far either side of a booked time a hold can matter to it (``around`` in ``expire_holds``).
HOLD_REACH = timedelta(days=2)


def expire_holds(session: Session, now: datetime, expert_ids: list[int] | None = None,
                 around: datetime | None = None) -> int:
    """Cancel pending holds whose time ran out, so that the time is free again and recorded as such.

    ``around``: only the holds starting within ``HOLD_REACH`` of that instant (what a booking at that
    time needs), not the experts' whole past; the periodic job passes none and expires them all.
    """
    query = select(Booking).where(
        Booking.status == BookingStatus.PENDING, Booking.hold_expires_at.is_not(None), Booking.hold_expires_at <= now
    )
    if expert_ids is not None:
        query = query.where(Booking.expert_id.in_(expert_ids))
    if around is not None:
        query = query.where(Booking.starts_at > around - HOLD_REACH, Booking.starts_at < around + HOLD_REACH)
    expired = list(session.scalars(query))
    for booking in expired:
        transition(session, booking, BookingStatus.CANCELLED, "hold_expired", Actor.system("hold expiry"), now)
        booking.cancelled_at = now
    return len(expired)


def transition(session: Session, booking: Booking, to: BookingStatus, kind: str, actor: Actor, now: datetime,
                **details: Any) -> None:
    """Move along the state machine (booking.models.TRANSITIONS), with history and audit."""
    before = booking.status
    if not booking.can_become(to):
        raise DomainError({"booking": _l("This booking cannot change like that any more.")}, code=ErrorCode.CONFLICT)
    booking.status = to
    booking.events.append(
        BookingEvent(at=now, kind=kind, from_status=before.value if before else None, to_status=to.value,
                     actor_type=actor.kind, actor_label=actor.label, details=details)
    )
    record(session, actor, f"booking.{kind}", "booking", booking.code,
           {"status": [before.value if before else None, to.value], **{k: list(v) if isinstance(v, tuple) else v
                                                                       for k, v in details.items()}},
           department_id=booking.topic.department_id)


def _day_range(start: datetime, topic: Topic) -> tuple[Any, Any]:
    local = start.astimezone(topic.department.zone).date()
    return local - timedelta(days=1), local + timedelta(days=1)


def _is_chosen(found: FoundSlot, start: datetime, location_id: int | None) -> bool:
    """Whether ``found`` starts at ``start`` at the chosen office (any office when none was chosen)."""
    return found.start == start and (location_id is None or found.slot.location_id == location_id)


def _check_location(session: Session, channel: str, location_id: int | None) -> None:
    """Refuse an office choice that cannot mean anything (a time not free there is SlotTaken)."""
    if location_id is None:
        return
    if channel != Channel.IN_PERSON:
        raise DomainError({"location": _l("Only an in-person consultation takes place at an office.")})
    if session.get(Location, location_id) is None:
        raise DomainError({"location": _l("There is no such office.")})


def find_exact_slot(session: Session, topic: Topic, channel: str, start: datetime, expert: Expert, now: datetime,
                    exclude_booking_id: int | None = None, location_id: int | None = None) -> FoundSlot | None:
    """The expert's free slot at exactly ``start`` (at the chosen office, if any), checked on that one
    expert's one day, from the database: the check made under the expert's lock."""
    day = start.astimezone(topic.department.zone).date()
    for found in expert_day_slots(session, topic, channel, day, expert, now, exclude_booking_id=exclude_booking_id):
        if _is_chosen(found, start, location_id):
            return found
    return None


@dataclass(frozen=True)
class Precheck:
    """What one lock-free read says about a time: who consults, who is not visibly taken then."""

    consulting: list[Expert]  # the topic's active experts (or the chosen one), by id
    untaken: list[Expert]  # of those, the ones no committed booking or live hold takes at that time
    stale_holds: bool  # a pending hold whose time ran out lies near that time (expire it under the lock)
    active: int | None = None  # what the ``active`` query given to ``precheck`` counted


def precheck(session: Session, topic: Topic, start: datetime, now: datetime, expert_id: int | None = None,
             location_id: int | None = None, active: Select[tuple[int]] | None = None) -> Precheck:
    """One indexed query, no locks: the topic's experts and the bookings around ``start``.

    In a rush most requests lose; this turns them away without queueing for a lock. It only ever
    rules an expert out by the engine's own busy rule (``BusyIndex``) on bookings already committed,
    so it never refuses a free time; a time it lets through is checked again under the lock.
    ``active`` (e.g. ``active_query``) is counted in the same statement, saving a round trip.
    """
    end = start + topic.duration + topic.buffer
    booked_topic = aliased(Topic)
    around = and_(Booking.expert_id == Expert.id, Booking.status.in_(ACTIVE_STATUSES),
                  Booking.starts_at > start - HOLD_REACH, Booking.starts_at < end,
                  Booking.ends_at > start - HOLD_REACH / 2)
    counted = active.scalar_subquery() if active is not None else null()
    query = (
        select(Expert, Booking.topic_id, Booking.starts_at, Booking.ends_at, booked_topic.buffer_minutes,
               Booking.location_id, Booking.status, Booking.hold_expires_at, counted)
        .join(expert_topics, and_(expert_topics.c.expert_id == Expert.id, expert_topics.c.topic_id == topic.id))
        .outerjoin(Booking, around)
        .outerjoin(booked_topic, booked_topic.id == Booking.topic_id)
        .where(Expert.is_active.is_(True))
        .order_by(Expert.id)
    )
    if expert_id is not None:
        query = query.where(Expert.id == expert_id)
    experts: dict[int, Expert] = {}
    busy: list[BusyInterval] = []
    stale = False
    count: int | None = None
    for expert, topic_id, starts_at, ends_at, buffer, place, status, hold_expires_at, n in session.execute(query):
        experts.setdefault(expert.id, expert)
        count = n
        if starts_at is None:
            continue
        if status == BookingStatus.PENDING and (hold_expires_at is None or hold_expires_at <= now):
            stale = stale or hold_expires_at is not None
            continue  # not busy (booking.models.keeps_its_time); an expired one is cancelled under the lock
        busy.append(BusyInterval(expert.id, topic_id, starts_at, ends_at, timedelta(minutes=buffer), place))
    index = BusyIndex(busy)

    def untaken(expert_id: int) -> bool:
        # Seats are counted per place; with no office chosen, the place of those already booked at
        # ``start`` (any other place is blocked by them), or any place when nobody is.
        at_start = {b.location_id for b in busy if b.expert_id == expert_id and b.start == start}
        places = {location_id} if location_id is not None else (at_start or {None})
        for place in places:
            taken = index.seats_taken(expert_id, start, end, topic.id, place)
            if taken is not None and taken < topic.seats:
                return True
        return False

    if active is not None and not experts:  # no row to carry the count: nobody consults
        count = session.scalar(active)
    consulting = list(experts.values())
    return Precheck(consulting, [e for e in consulting if untaken(e.id)], stale,
                    int(count or 0) if active is not None else None)


def first_free_slot(session: Session, topic: Topic, channel: str, start: datetime, now: datetime,
                    expert_id: int | None = None, location_id: int | None = None) -> FoundSlot | None:
    """A free slot of some expert (or the chosen one) at exactly ``start`` (at the chosen office, if
    one was chosen); one search, no locks."""
    first, last = _day_range(start, topic)
    found = search_slots(session, topic, channel, first, last, now, expert_id=expert_id)
    return next((s for s in found if _is_chosen(s, start, location_id)), None)


def free_experts_at(session: Session, topic: Topic, channel: str, start: datetime, now: datetime,
                    candidates: list[int], exclude_booking_id: int | None = None,
                    location_id: int | None = None) -> list[int]:
    """Which of the candidates look free at ``start`` (at the chosen office, if any; one search, no
    locks; order kept)."""
    first, last = _day_range(start, topic)
    expert_id = candidates[0] if len(candidates) == 1 else None
    found = search_slots(session, topic, channel, first, last, now, expert_id=expert_id,
                         exclude_booking_id=exclude_booking_id)
    free = {s.expert.id for s in found if _is_chosen(s, start, location_id)}
    return [c for c in candidates if c in free]


def nearest_alternatives(session: Session, topic: Topic, channel: str, start: datetime, now: datetime,
                         expert_id: int | None = None, count: int = 5,
                         location_id: int | None = None, experts: list[Expert] | None = None) -> list[FoundSlot]:
    """The free slots closest in time to the one that was taken (either side), at the chosen office
    when one was chosen; from the slot cache's recent entries (``booking.slot_cache``), so that the
    losers of a rush do not each search weeks afresh. ``experts``: the topic's active experts (or
    the chosen one) when the caller has read them already."""
    local = start.astimezone(topic.department.zone).date()
    first = max(local - timedelta(days=3), now.astimezone(topic.department.zone).date())
    found = search_slots(session, topic, channel, first, local + timedelta(days=14), now, expert_id=expert_id,
                         cached=True, recent=True, experts=experts)
    if location_id is not None:
        found = [s for s in found if s.slot.location_id == location_id]
    found.sort(key=lambda s: (abs((s.start - start).total_seconds()), s.start, s.expert.id))
    return sorted(found[:count], key=lambda s: (s.start, s.expert.id))


def count_active(session: Session, topic_id: int, email: str, phone: str, now: datetime,
                 exclude_booking_id: int | None = None) -> int:
    """The citizen's active bookings on the topic (by email or phone), as the per-topic limit counts them."""
    return int(session.scalar(active_query(topic_id, email, phone, now, exclude_booking_id)) or 0)


def active_query(topic_id: int, email: str, phone: str, now: datetime,
                 exclude_booking_id: int | None = None) -> Select[tuple[int]]:
    """The count ``count_active`` reads, as a query to run alone or inside another."""
    query = select(func.count(Booking.id)).where(
        Booking.topic_id == topic_id,
        Booking.status.in_(ACTIVE_STATUSES),
        or_(*[column == value for column, value in ((Booking.citizen_email, email), (Booking.citizen_phone, phone))
              if value]),
        keeps_its_time(now),
        Booking.ends_at > now,
    )
    if exclude_booking_id is not None:
        query = query.where(Booking.id != exclude_booking_id)
    return query


def _free_seat(session: Session, expert_id: int, start: datetime, exclude_booking_id: int | None = None) -> int:
    query = select(Booking.seat).where(
        Booking.expert_id == expert_id, Booking.starts_at == start, Booking.status.in_(ACTIVE_STATUSES)
    )
    if exclude_booking_id is not None:
        query = query.where(Booking.id != exclude_booking_id)
    taken = set(session.scalars(query))
    seat = 1
    while seat in taken:
        seat += 1
    return seat


@counts_refusals
def hold_slot(
    session: Session,
    *,
    topic: Topic,
    channel: str,
    start: datetime,
    citizen: CitizenDetails,
    question: str,
    now: datetime,
    policy: BookingPolicy,
    actor: Actor,
    expert_id: int | None = None,
    locale: str = "ru",
    source: str = "web",
    partner_key_id: int | None = None,
    location_id: int | None = None,
    confirmed: bool = False,
) -> HoldResult:
    """Take the time for this citizen: a pending hold awaiting the email code.

    With no expert chosen, the first expert (by id) who is free at that time is taken.  For an
    in-person consultation ``location_id`` is the office the citizen chose: the booking is made
    there or not at all (None: whichever office is free first, by expert id). ``confirmed``: the
    citizen needs no code (a partner verified them): the hold is confirmed at once
    (``confirm_booking``) and written confirmed.
    Raises SlotTaken (with alternatives), LimitReached, or DomainError; each refusal is counted.
    """
    if start.tzinfo is None:
        raise DomainError({"start": _l("Give the time with its UTC offset.")})
    if channel not in topic.channels:
        raise DomainError({"channel": _l("This topic is not offered on this channel.")})
    if citizen.applicant_type.value not in topic.applicant_types:
        raise DomainError({"applicant_type": _l("This topic cannot be booked by this kind of applicant.")})
    _check_location(session, channel, location_id)

    lock_citizen(session, topic.id, citizen.email, citizen.phone)
    # After the citizen's lock, so the count sees their booking committed meanwhile; read with the
    # pre-check, in one statement.
    seen = precheck(session, topic, start, now, expert_id, location_id,
                    active=active_query(topic.id, citizen.email, citizen.phone, now))
    if (seen.active or 0) >= policy.active_per_topic:
        raise LimitReached(policy.active_per_topic)
    if expert_id is not None and not seen.consulting:
        raise DomainError({"expert": _l("This expert does not consult on this topic.")})
    candidates = seen.untaken
    if len(candidates) > 1:
        # Several experts could take it: one search without locks keeps the ones who work then,
        # so that only they are locked and checked one by one.
        working = set(free_experts_at(session, topic, channel, start, now, [e.id for e in candidates],
                                      location_id=location_id))
        candidates = [e for e in candidates if e.id in working]
    if not candidates:  # refused before any expert's lock: the offers now, from what is loaded
        raise SlotTaken(topic, channel, start, now, expert_id, location_id, offers=nearest_alternatives(
            session, topic, channel, start, now, expert_id, location_id=location_id, experts=seen.consulting))
    for n, candidate in enumerate(candidates):
        lock_experts(session, [candidate.id], bump_feed=confirmed)
        if seen.stale_holds:
            expire_holds(session, now, [candidate.id], around=start)
        found = find_exact_slot(session, topic, channel, start, candidate, now, location_id=location_id)
        if found is None:
            continue
        last = n == len(candidates) - 1
        booking = Booking(
            code=new_booking_code(),
            topic=topic,
            channel=Channel(channel),
            expert=candidate,
            location_id=found.slot.location_id,
            location=found.location,
            starts_at=found.start,
            ends_at=found.end,
            # Under the lock, with no live booking there (the check) and no stale hold left (expired
            # above), a one-seat time has seat 1 free; the unique index refuses it should that be wrong.
            seat=1 if topic.seats == 1 else _free_seat(session, candidate.id, found.start),
            status=BookingStatus.PENDING,
            hold_expires_at=now + timedelta(minutes=policy.hold_minutes),
            created_at=now,
            source=source,
            partner_key_id=partner_key_id,
            video_room=new_video_room() if channel == Channel.VIDEO else None,
            citizen_name=citizen.name,
            citizen_email=citizen.email,
            citizen_phone=citizen.phone,
            applicant_type=citizen.applicant_type,
            organisation=citizen.organisation,
            inn=citizen.inn,
            question=question,
            consent_at=now,
            locale=locale,
            manage_token_salt=new_salt(),
            manage_token_hash="",
            sequence=0,
            events=[BookingEvent(at=now, kind="held", from_status=None, to_status="pending", actor_type=actor.kind,
                                 actor_label=actor.label, details={"start": found.start.isoformat()})],
        )
        token = manage_token(policy.secret_key, booking.code, booking.manage_token_salt)
        code = new_confirmation_code()
        booking.manage_token_hash = token_hash(token)
        booking.confirmation_code_hash = confirmation_code_hash(code, policy.secret_key, booking.code)
        held = {"status": [None, "pending"], "start": [None, found.start.isoformat()], "expert": [None, candidate.id]}
        if last:
            # Nobody left to try: no savepoint. Confirmed at once, the booking is one INSERT, and its
            # events and audit entries one more each, all written together.
            session.add(booking)
            record(session, actor, "booking.held", "booking", booking.code, held, department_id=topic.department_id)
            if confirmed:
                confirm_booking(session, booking, now, actor)
            try:
                session.flush()
            except IntegrityError:
                # The unique index caught a race the checks missed; the caller rolls the work back.
                raise SlotTaken(topic, channel, start, now, expert_id, location_id) from None
            return HoldResult(booking, token, code)
        try:
            with session.begin_nested():
                session.add(booking)
                session.flush()
        except IntegrityError:
            continue  # the unique index caught a race the checks missed: try the next expert
        record(session, actor, "booking.held", "booking", booking.code, held, department_id=topic.department_id)
        if confirmed:
            confirm_booking(session, booking, now, actor)
        return HoldResult(booking, token, code)
    raise SlotTaken(topic, channel, start, now, expert_id, location_id)


def confirm_hold(session: Session, booking: Booking, code: str, now: datetime, policy: BookingPolicy,
                 actor: Actor) -> None:
    """Check the emailed code; the hold becomes a confirmed booking."""
    _check_waits_for_code(booking, now, policy)
    if not _count_attempt(session, booking, policy):
        # A concurrent request used the last attempt or settled the hold: say what it left behind.
        session.refresh(booking)
        _check_waits_for_code(booking, now, policy)
        raise DomainError({"code": _l("Too many wrong codes. Book again.")}, code=ErrorCode.TOO_MANY_ATTEMPTS)
    expected = confirmation_code_hash(code.strip(), policy.secret_key, booking.code)
    if not hmac.compare_digest(expected, booking.confirmation_code_hash):
        if policy.codes_exhausted(booking):
            transition(session, booking, BookingStatus.CANCELLED, "hold_released", actor, now,
                        reason="too many wrong codes")
            booking.cancelled_at = now
            raise DomainError({"code": _l("Too many wrong codes. The time has been released; book again.")},
                              code=ErrorCode.TOO_MANY_ATTEMPTS, keeps_changes=True)
        left = policy.max_code_attempts - booking.confirmation_attempts
        # The attempt counts even though the code is refused: guessing must not be free.
        raise DomainError({"code": _l("Wrong code. Attempts left: %(n)s.", n=left)}, keeps_changes=True)
    confirm_booking(session, booking, now, actor)


def _check_waits_for_code(booking: Booking, now: datetime, policy: BookingPolicy) -> None:
    if booking.status != BookingStatus.PENDING:
        raise DomainError({"code": _l("This booking does not wait for a code any more.")})
    if booking.hold_expires_at is None or booking.hold_expires_at <= now:
        raise DomainError({"code": _l("The time was held for %(n)s minutes and has been released. Book again.",
                                      n=policy.hold_minutes)}, code=ErrorCode.HOLD_EXPIRED)
    if policy.codes_exhausted(booking):
        raise DomainError({"code": _l("Too many wrong codes. Book again.")}, code=ErrorCode.TOO_MANY_ATTEMPTS)


def _count_attempt(session: Session, booking: Booking, policy: BookingPolicy) -> bool:
    """Take one code attempt in the database itself; False when none is left.

    Read-then-write would let concurrent guesses all see the same count and all be checked;
    one conditional UPDATE (its row lock makes the others wait and re-check) never hands out
    more than ``max_code_attempts``.
    """
    attempts = session.execute(
        update(Booking)
        .where(Booking.id == booking.id, Booking.status == BookingStatus.PENDING,
               Booking.confirmation_attempts < policy.max_code_attempts)
        .values(confirmation_attempts=Booking.confirmation_attempts + 1)
        .returning(Booking.confirmation_attempts)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if attempts is None:
        return False
    set_committed_value(booking, "confirmation_attempts", attempts)  # already written: not a change to flush
    return True


def confirm_booking(session: Session, booking: Booking, now: datetime, actor: Actor) -> None:
    """Confirm a held booking: every door's booking becomes one here (counted when the transaction commits)."""
    booking.confirmation_code_hash = ""
    booking.hold_expires_at = None
    booking.confirmed_at = now
    booking.sequence += 1
    transition(session, booking, BookingStatus.CONFIRMED, "confirmed", actor, now)
    count_made(session, booking.source, booking.channel.value)


def cancel_booking(session: Session, booking: Booking, now: datetime, actor: Actor, reason: str = "") -> None:
    if not booking.can_cancel(now):
        raise DomainError({"booking": _l("This booking can no longer be cancelled.")}, code=ErrorCode.CONFLICT)
    booking.cancelled_at = now
    booking.sequence += 1
    transition(session, booking, BookingStatus.CANCELLED, "cancelled", actor, now, reason=reason)


def reschedule_booking(session: Session, booking: Booking, new_start: datetime, now: datetime, actor: Actor,
                       expert_id: int | None = None, location_id: int | None = None) -> None:
    """Move a confirmed booking to another free time (same code, same topic and channel).

    ``location_id``: for an in-person booking, the office chosen for the new time; the booking
    moves there or not at all (None: whichever office is free first).
    """
    if not booking.can_reschedule(now):
        raise DomainError({"booking": _l("This booking can no longer be rescheduled.")}, code=ErrorCode.CONFLICT)
    if new_start.tzinfo is None:
        raise DomainError({"start": _l("Give the time with its UTC offset.")})
    _check_location(session, booking.channel.value, location_id)
    topic = booking.topic
    experts = {e.id: e for e in topic_experts(session, topic, expert_id)}
    if expert_id is not None and not experts:
        raise DomainError({"expert": _l("This expert does not consult on this topic.")})
    # Prefer staying with the same expert when the citizen did not ask for another.
    candidates = sorted(experts, key=lambda c: (c != booking.expert_id, c))
    candidates = free_experts_at(session, topic, booking.channel.value, new_start, now, candidates,
                                 exclude_booking_id=booking.id, location_id=location_id)
    if not candidates:
        raise SlotTaken(topic, booking.channel.value, new_start, now, expert_id, location_id)
    lock_experts(session, [booking.expert_id, *candidates])
    old = (booking.starts_at, booking.ends_at, booking.expert_id)
    for candidate in candidates:
        expire_holds(session, now, [candidate], around=new_start)
        found = find_exact_slot(session, topic, booking.channel.value, new_start, experts[candidate], now,
                                exclude_booking_id=booking.id, location_id=location_id)
        if found is None:
            continue
        try:
            with session.begin_nested():
                session.execute(
                    update(Booking)
                    .where(Booking.id == booking.id)
                    .values(starts_at=found.start, ends_at=found.end, expert_id=candidate,
                            location_id=found.slot.location_id,
                            seat=_free_seat(session, candidate, found.start, booking.id),
                            sequence=Booking.sequence + 1)
                    .execution_options(synchronize_session=False)
                )
        except IntegrityError:
            continue
        session.refresh(booking)
        booking.events.append(BookingEvent(
            at=now, kind="rescheduled", from_status=booking.status.value, to_status=booking.status.value,
            actor_type=actor.kind, actor_label=actor.label,
            details={"from": old[0].isoformat(), "to": found.start.isoformat(), "expert": [old[2], candidate]},
        ))
        record(session, actor, "booking.rescheduled", "booking", booking.code,
               {"start": [old[0].isoformat(), found.start.isoformat()], "expert": [old[2], candidate]},
               department_id=booking.topic.department_id)
        return
    raise SlotTaken(topic, booking.channel.value, new_start, now, expert_id, location_id)
