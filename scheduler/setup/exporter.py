"""The stored configuration as one canonical setup document."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from scheduler.auth.models import normalise_email
from scheduler.departments.models import Department, Location, Topic
from scheduler.experts.models import Expert
from scheduler.schedules.models import DateOverride, ReceptionDay, WeeklyAvailability
from scheduler.setup.document import WEEKDAYS, canonical_entry, canonical_setup

__all__ = ["department_entry", "expert_entry", "export_setup", "location_entry", "reception_day_entry", "topic_entry"]

def _hhmm(value: time | None) -> str | None:
    return None if value is None else value.strftime("%H:%M")


def _iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _stored_hhmm(value: str) -> str:
    """Override intervals are stored as text; give them back as "HH:MM" whatever their spelling."""
    try:
        return time.fromisoformat(value).strftime("%H:%M")
    except (TypeError, ValueError):
        return value


def department_entry(department: Department) -> dict[str, Any]:
    hours: dict[str, list[list[str]]] = defaultdict(list)
    for row in department.hours:
        hours[WEEKDAYS[row.weekday]].append([_hhmm(row.opens), _hhmm(row.closes)])
    return canonical_entry("departments", {
        "slug": department.slug, "title": department.title, "timezone": department.timezone,
        "holiday_calendar": department.holiday_calendar, "email": department.email,
        "is_active": department.is_active, "business_hours": dict(hours),
    })


def location_entry(location: Location) -> dict[str, Any]:
    return canonical_entry("locations", {
        "slug": location.slug, "name": location.name, "address": location.address, "timezone": location.timezone,
        "desks": location.desks, "department": location.department.slug if location.department else None,
    })


def topic_entry(topic: Topic) -> dict[str, Any]:
    return canonical_entry("topics", {
        "slug": topic.slug, "department": topic.department.slug, "title": topic.title,
        "description": topic.description, "duration_minutes": topic.duration_minutes,
        "slot_interval_minutes": topic.slot_interval_minutes, "buffer_minutes": topic.buffer_minutes,
        "min_notice_minutes": topic.min_notice_minutes, "horizon_days": topic.horizon_days, "seats": topic.seats,
        "channels": topic.channels, "applicant_types": topic.applicant_types,
        "followup_working_days": topic.followup_working_days, "is_active": topic.is_active,
    })


def _weekly_row(row: WeeklyAvailability) -> dict[str, Any]:
    return {
        "channel": row.channel.value, "weekday": WEEKDAYS[row.weekday], "starts": _hhmm(row.starts),
        "ends": _hhmm(row.ends), "valid_from": _iso(row.valid_from), "valid_to": _iso(row.valid_to),
        "location": row.location.slug if row.location else None,
    }


def _override_row(row: DateOverride) -> dict[str, Any]:
    return {
        "first_day": _iso(row.first_day), "last_day": _iso(row.last_day), "kind": row.kind.value,
        "channel": row.channel.value if row.channel else None,
        "intervals": [[_stored_hhmm(a), _stored_hhmm(b)] for a, b in row.intervals or []], "reason": row.reason,
    }


def expert_entry(expert: Expert, weekly: Iterable[WeeklyAvailability],
                 overrides: Iterable[DateOverride]) -> dict[str, Any]:
    """An expert as the document has it: no password, no account state, just who and when."""
    return canonical_entry("experts", {
        "email": normalise_email(expert.user.email), "full_name": expert.user.full_name,
        "department": expert.department.slug, "position": expert.position, "is_active": expert.is_active,
        "topics": [topic.slug for topic in expert.topics], "weekly": [_weekly_row(row) for row in weekly],
        "overrides": [_override_row(row) for row in overrides],
    })


def reception_day_entry(day: ReceptionDay) -> dict[str, Any]:
    exceptions = []
    for row in day.exceptions:
        # A day that is not cancelled but lacks hours is treated as cancelled by the slot search.
        cancelled = row.is_cancelled or row.starts is None or row.ends is None
        exceptions.append({
            "day": _iso(row.day), "cancelled": cancelled, "starts": None if cancelled else _hhmm(row.starts),
            "ends": None if cancelled else _hhmm(row.ends), "reason": row.reason,
        })
    return canonical_entry("reception_days", {
        "location": day.location.slug, "title": day.title, "weekdays": [WEEKDAYS[d] for d in day.weekdays or []],
        "starts": _hhmm(day.starts), "ends": _hhmm(day.ends), "valid_from": _iso(day.valid_from),
        "valid_to": _iso(day.valid_to), "topics": [topic.slug for topic in day.topics],
        "experts": [normalise_email(expert.user.email) for expert in day.experts], "exceptions": exceptions,
    })


def export_setup(session: Session) -> dict[str, Any]:
    """The whole configuration as one canonical document (the same data gives the same text)."""
    departments = session.scalars(select(Department).options(selectinload(Department.hours))).all()
    locations = session.scalars(select(Location)).all()
    topics = session.scalars(select(Topic)).all()
    experts = session.scalars(select(Expert).options(selectinload(Expert.topics))).unique().all()
    weekly: dict[int, list[WeeklyAvailability]] = defaultdict(list)
    for row in session.scalars(select(WeeklyAvailability)):
        weekly[row.expert_id].append(row)
    overrides: dict[int, list[DateOverride]] = defaultdict(list)
    for override in session.scalars(select(DateOverride)):
        overrides[override.expert_id].append(override)
    reception = session.scalars(
        select(ReceptionDay).options(selectinload(ReceptionDay.topics), selectinload(ReceptionDay.experts),
                                     selectinload(ReceptionDay.exceptions))
    ).all()
    return canonical_setup({
        "departments": [department_entry(d) for d in departments],
        "locations": [location_entry(loc) for loc in locations],
        "topics": [topic_entry(t) for t in topics],
        "experts": [expert_entry(e, weekly[e.id], overrides[e.id]) for e in experts],
        "reception_days": [reception_day_entry(r) for r in reception],
    })
