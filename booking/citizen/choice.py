"""What a citizen picked on a page: an active topic, a start, an expert, a first day; free slots by day."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from flask import abort
from sqlalchemy import select

from booking.availability import FoundSlot
from scheduler.departments.models import Department, Topic
from scheduler.extensions import db
from scheduler.inputs import is_served_day, parse_day, parse_id


def find_active_topic(slug: str) -> Topic:
    """The topic a citizen may book (its department active too); 404 otherwise."""
    found = db.session.scalar(
        select(Topic).join(Department).where(Topic.slug == slug, Topic.is_active.is_(True),
                                              Department.is_active.is_(True))
    )
    if found is None:
        abort(404)
    return found


def parse_start(raw: str | None) -> datetime | None:
    """A start posted back by a page: an ISO instant with its UTC offset on a day the service plans, or None."""
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return value if value.tzinfo is not None and is_served_day(value.date()) else None


def first_shown_day(raw: str | None, today: date) -> date:
    """The first day a page of free times shows: the one asked for, never before today."""
    try:
        chosen = parse_day(raw) if raw else today
    except ValueError:
        chosen = today
    return max(chosen, today)


def group_by_day(slots: list[FoundSlot]) -> dict[date, list[FoundSlot]]:
    days: dict[date, list[FoundSlot]] = defaultdict(list)
    for found in slots:
        days[found.start.date()].append(found)
    return dict(days)


@dataclass(frozen=True)
class SlotChoice:
    """The slot a citizen chose on the topic page and carries through the wizard."""

    channel: str
    start: datetime
    expert_id: int | None
    location_id: int | None = None  # the office chosen for an in-person visit


def parse_slot_choice(topic: Topic, channel: str | None, start: str | None, expert: str | None,
                      location: str | None = None) -> SlotChoice | None:
    """The choice if the channel is the topic's and the start a real instant; None sends the citizen back."""
    when = parse_start(start)
    if channel not in topic.channels or when is None:
        return None
    return SlotChoice(str(channel), when, parse_id(expert), parse_id(location))
