"""A booking's video room: its name, phase and participants."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from booking.codes import new_video_room
from booking.consultation_window import Phase, booking_window
from booking.models import Booking, BookingStatus
from video.tokens import Participant, VideoConfigError

# Room names are made where the booking is made (booking.services.hold_slot), which may not
# import this package; this is the same generator under the name this package uses.
new_room_name = new_video_room

# Only a booking that is going ahead admits anyone; a cancelled one never yields a token.
JOINABLE_STATUSES = (BookingStatus.CONFIRMED, BookingStatus.CHECKED_IN)
DISPLAY_NAME_MODES = ("first_name", "full_name", "generic")
# Russian patronymics (Иванович, Петровна, Ильинична, Ильич) and Turkic ones (оглы, кызы, улы).
_PATRONYMIC = re.compile(r"(вич|вна|чна|ьич|оглы|кызы|улы)$", re.IGNORECASE)
_PATRONYMIC_PARTICLES = ("оглы", "кызы", "улы")


def booking_phase(booking: Booking, config: Mapping[str, Any], now: datetime) -> Phase:
    if booking.status in (BookingStatus.CANCELLED, BookingStatus.PENDING):
        return Phase.CANCELLED
    if booking.status not in JOINABLE_STATUSES:
        return Phase.ENDED  # completed or no-show: the consultation is over
    return booking_window(booking, config).phase(now)


def first_name(full_name: str) -> str:
    """The given name out of a full name written either "Имя Фамилия" or "Фамилия Имя Отчество".

    When a word looks like a patronymic, the given name is the word before it; otherwise the
    first word is taken.
    """
    words = full_name.split()
    for index, word in enumerate(words[1:], start=1):
        if word.lower() in _PATRONYMIC_PARTICLES and index >= 2:
            return words[index - 2]  # "Эльдар Рашид оглы": the father's name stands between
        if _PATRONYMIC.search(word):
            return words[index - 1]
    return words[0] if words else ""


def citizen_display_name(full_name: str, mode: str, generic: str) -> str:
    if mode not in DISPLAY_NAME_MODES:
        raise VideoConfigError(f"VIDEO_CITIZEN_DISPLAY_NAME must be one of {', '.join(DISPLAY_NAME_MODES)}")
    if mode == "full_name":
        return " ".join(full_name.split()) or generic
    if mode == "first_name":
        return first_name(full_name) or generic
    return generic


def citizen_participant(booking: Booking, config: Mapping[str, Any], generic: str) -> Participant:
    """The citizen joins as a plain participant, named as configured; no email or phone."""
    name = citizen_display_name(booking.citizen_name, str(config["VIDEO_CITIZEN_DISPLAY_NAME"]), generic)
    return Participant(id=f"citizen-{booking.id}", name=name, is_moderator=False)


def expert_participant(booking: Booking) -> Participant:
    """The booking's expert runs the room."""
    return Participant(id=f"expert-{booking.expert_id}", name=booking.expert.name, is_moderator=True)


