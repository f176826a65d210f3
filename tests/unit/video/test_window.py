"""The join window: which instants admit participants, edges included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from booking.consultation_window import Phase, join_window

START = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
END = START + timedelta(minutes=30)
WINDOW = join_window(START, END, opens_before=timedelta(minutes=10), closes_after=timedelta(minutes=30))


def test_the_window_opens_before_the_start_and_closes_after_the_end() -> None:
    assert WINDOW.opens_at == START - timedelta(minutes=10)
    assert WINDOW.closes_at == END + timedelta(minutes=30)


@pytest.mark.parametrize(("now", "phase"), [
    (START - timedelta(days=1), Phase.BEFORE),
    (START - timedelta(minutes=10, seconds=1), Phase.BEFORE),
    (START - timedelta(minutes=10), Phase.OPEN),  # opens_at is inside, like a JWT's nbf
    (START, Phase.OPEN),
    (END + timedelta(minutes=29, seconds=59), Phase.OPEN),
    (END + timedelta(minutes=30), Phase.ENDED),  # closes_at is outside, like a JWT's exp
    (END + timedelta(days=1), Phase.ENDED),
])
def test_phase_at_each_edge(now: datetime, phase: Phase) -> None:
    assert WINDOW.phase(now) is phase


def test_times_without_an_offset_are_refused() -> None:
    with pytest.raises(ValueError, match="offset"):
        join_window(START.replace(tzinfo=None), END, opens_before=timedelta(0), closes_after=timedelta(0))
