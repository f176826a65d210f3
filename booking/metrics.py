"""Booking counters for the operations team: bookings made, and refused by reason.

Made counts a booking when the transaction that confirmed it commits (a rolled-back request
made nothing); refused counts each refusal of ``hold_slot`` at once (the refusal happened,
whatever the request does next). Labels are bounded: the door (web, api, desk), the channel,
the refusal's ErrorCode.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from prometheus_client import Counter
from sqlalchemy.orm import Session

from scheduler.errors import DomainError
from scheduler.transaction import listen_for_commits, when_committed

BOOKINGS_MADE = Counter("okno_bookings_made", "Bookings confirmed (committed), by the door they came through "
                        "(web, api, desk) and channel.", ["source", "channel"])
BOOKINGS_REFUSED = Counter("okno_bookings_refused", "Booking attempts the booking service refused, by door and "
                           "reason (slot_taken, limit_reached, validation...).", ["source", "reason"])

_MADE = "okno_bookings_made"


def count_made(session: Session, source: str, channel: str) -> None:
    """Count a confirmed booking once its transaction commits."""
    when_committed(session, _MADE, (source, channel))


P = ParamSpec("P")
R = TypeVar("R")


def counts_refusals(service: Callable[P, R]) -> Callable[P, R]:
    """Count every refusal (a DomainError) of a booking service called with a keyword ``source`` (default web)."""

    @wraps(service)
    def counted(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return service(*args, **kwargs)
        except DomainError as exc:
            source: Any = kwargs.get("source", "web")
            BOOKINGS_REFUSED.labels(str(source), exc.code.value).inc()
            raise

    return counted


def _count_committed(_session: Session, made: list[tuple[str, str]]) -> None:
    for source, channel in made:
        BOOKINGS_MADE.labels(source, channel).inc()


def install_booking_counters() -> None:
    listen_for_commits(_MADE, _count_committed)
