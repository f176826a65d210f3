"""Human words for booking statuses and history entries, in the reader's language."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

STATUS_LABELS = {
    "pending": _l("Waiting for the email code"),
    "confirmed": _l("Booked"),
    "checked_in": _l("Checked in"),
    "completed": _l("Held"),
    "no_show": _l("Did not come"),
    "cancelled": _l("Cancelled"),
}

# A booking cancelled before it was ever confirmed: its hold ran out or was released after wrong codes.
NEVER_CONFIRMED = _l("Not confirmed: the time was released")

EVENT_LABELS = {
    "held": _l("Time held, code sent"),
    "confirmed": _l("Booking confirmed"),
    "rescheduled": _l("Moved to another time"),
    "cancelled": _l("Cancelled"),
    "hold_expired": _l("Hold expired: the code was not entered in time"),
    "hold_released": _l("Hold released after wrong codes"),
    "checked_in": _l("Checked in at the desk"),
    "completed": _l("Consultation held"),
    "no_show": _l("Marked as a no-show"),
}


def status_label(status: str) -> str:
    return str(STATUS_LABELS.get(status, status))


def booking_status_label(booking: Any) -> str:
    """The status as the citizen should read it: a hold that was never confirmed was not "cancelled"."""
    status = booking.status.value
    if status == "cancelled" and booking.confirmed_at is None:
        return str(NEVER_CONFIRMED)
    return status_label(status)


def event_label(kind: str) -> str:
    return str(EVENT_LABELS.get(kind, kind))
