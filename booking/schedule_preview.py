"""The expert's schedule page with its free-slot preview: the preview counts bookings, so booking serves it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from flask import Blueprint
from sqlalchemy.orm import Session

from booking.availability import FoundSlot, search_slots
from scheduler.auth.models import Role
from scheduler.auth.roles import role_required
from scheduler.db import utcnow
from scheduler.departments.models import Topic
from scheduler.experts.models import Expert
from scheduler.extensions import db
from scheduler.schedules.models import Channel
from scheduler.schedules.views import expert_page, managed_expert

PREVIEW_DAYS = 14

# Same address as the schedule pages' forms post to; the forms themselves stay with the schedules.
bp = Blueprint("schedule_preview", __name__, url_prefix="/staff/schedules")


@dataclass(frozen=True)
class PreviewSlot:
    found: FoundSlot
    starts: datetime  # in the department's zone
    ends: datetime


@dataclass(frozen=True)
class PreviewDay:
    day: date
    slots: list[PreviewSlot]


@dataclass(frozen=True)
class TopicPreview:
    topic: Topic
    channel: Channel
    days: list[PreviewDay]

    @property
    def count(self) -> int:
        return sum(len(d.slots) for d in self.days)


def slot_preview(session: Session, expert: Expert, now: datetime, days: int = PREVIEW_DAYS) -> list[TopicPreview]:
    """The expert's bookable slots for the next ``days`` local dates, per topic and channel.

    It is the citizens' own free-slot search (notice, horizon, holidays and bookings included), so the
    preview shows exactly what citizens are offered; slots are grouped by date in the department's zone.
    """
    zone = expert.department.zone
    first_day = now.astimezone(zone).date()
    last_day = first_day + timedelta(days=days - 1)
    previews: list[TopicPreview] = []
    for topic in expert.topics:
        if not topic.is_active:
            continue
        for channel in topic.channels:
            by_day: dict[date, list[PreviewSlot]] = {}
            for found in search_slots(session, topic, channel, first_day, last_day, now, expert_id=expert.id):
                starts = found.start.astimezone(zone)
                by_day.setdefault(starts.date(), []).append(PreviewSlot(found, starts, found.end.astimezone(zone)))
            days_found = [PreviewDay(d, s) for d, s in sorted(by_day.items())]
            previews.append(TopicPreview(topic, Channel(channel), days_found))
    return previews


@bp.route("/experts/<int:expert_id>")
@role_required(Role.EXPERT, Role.SUPERVISOR)
def expert(expert_id: int) -> Any:
    """The expert's schedule page, with the slots citizens can book now."""
    chosen = managed_expert(expert_id)
    return expert_page(chosen, preview=slot_preview(db.session, chosen, utcnow()), preview_days=PREVIEW_DAYS)
