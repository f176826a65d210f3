"""The join window: when a consultation's video room admits its participants (a rule about the consultation)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from booking.models import Booking
from scheduler.schedules.models import Channel


class Phase(enum.StrEnum):
    BEFORE = "before"  # the room is not open yet: a countdown
    OPEN = "open"  # participants may join
    ENDED = "ended"  # the window has closed, or the consultation is over
    CANCELLED = "cancelled"  # the booking was cancelled: no room at all


@dataclass(frozen=True)
class JoinWindow:
    """Participants may join from ``opens_at`` (inclusive) until ``closes_at`` (exclusive).

    The same edges as a JWT's ``nbf`` (valid from that second) and ``exp`` (invalid from that
    second), so the page and the video server never disagree about whether the room is open.
    """

    opens_at: datetime
    closes_at: datetime

    def phase(self, now: datetime) -> Phase:
        if now < self.opens_at:
            return Phase.BEFORE
        if now < self.closes_at:
            return Phase.OPEN
        return Phase.ENDED


def join_window(starts_at: datetime, ends_at: datetime, *, opens_before: timedelta,
                closes_after: timedelta) -> JoinWindow:
    """The window of an appointment: it opens a little before the start and closes a while after the end."""
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise ValueError("appointment times must carry their UTC offset")
    return JoinWindow(opens_at=starts_at - opens_before, closes_at=ends_at + closes_after)


def has_video(booking: Booking) -> bool:
    return booking.channel == Channel.VIDEO and bool(booking.video_room)


def booking_window(booking: Booking, config: Mapping[str, Any]) -> JoinWindow:
    """Always the booking's current times: after a reschedule the old window admits nobody."""
    return join_window(booking.starts_at, booking.ends_at,
                       opens_before=timedelta(minutes=int(config["VIDEO_OPENS_MINUTES_BEFORE"])),
                       closes_after=timedelta(minutes=int(config["VIDEO_CLOSES_MINUTES_AFTER"])))
