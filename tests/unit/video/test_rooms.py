"""Room names and the citizen's display name in the video room."""

from __future__ import annotations

import math
import re

import pytest

from booking.codes import VIDEO_ROOM_ALPHABET, VIDEO_ROOM_LENGTH
from video.rooms import citizen_display_name, first_name, new_room_name
from video.tokens import VideoConfigError


def test_room_names_are_plain_lowercase_ascii_with_at_least_128_bits() -> None:
    names = {new_room_name() for _ in range(2000)}
    assert len(names) == 2000
    assert all(re.fullmatch(r"[a-z0-9]+", name) and len(name) == VIDEO_ROOM_LENGTH for name in names)
    assert VIDEO_ROOM_LENGTH * math.log2(len(set(VIDEO_ROOM_ALPHABET))) >= 128


@pytest.mark.parametrize(("full", "given"), [
    ("Анна Петровна Смирнова", "Анна"),
    ("Смирнова Анна Петровна", "Анна"),
    ("Иванов Иван Иванович", "Иван"),
    ("Ильин Пётр Ильич", "Пётр"),
    ("Мамедов Эльдар Рашид оглы", "Эльдар"),
    ("Эльдар Рашид оглы Мамедов", "Эльдар"),
    ("Ivan Petrov", "Ivan"),
    ("  Анна  ", "Анна"),
])
def test_first_name_is_taken_from_either_name_order(full: str, given: str) -> None:
    assert first_name(full) == given


@pytest.mark.parametrize(("mode", "shown"), [
    ("first_name", "Анна"),
    ("full_name", "Анна Петровна Смирнова"),
    ("generic", "Заявитель"),
])
def test_the_citizen_display_name_follows_the_setting(mode: str, shown: str) -> None:
    assert citizen_display_name("Анна  Петровна Смирнова", mode, "Заявитель") == shown


def test_an_empty_name_falls_back_to_the_generic_label() -> None:
    assert citizen_display_name("   ", "first_name", "Заявитель") == "Заявитель"


def test_an_unknown_display_name_setting_is_refused() -> None:
    with pytest.raises(VideoConfigError, match="VIDEO_CITIZEN_DISPLAY_NAME"):
        citizen_display_name("Анна", "email", "Заявитель")
