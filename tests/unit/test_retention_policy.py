"""The retention policy: its periods come from the configuration, with documented defaults."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from scheduler.config import build_config
from scheduler.privacy.policy import Kind, RetentionPolicy

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


def test_defaults_purge_mail_in_a_week_and_anonymise_bookings_and_tickets_after_a_year(tmp_path: Path) -> None:
    policy = RetentionPolicy.from_config(build_config({}, tmp_path))
    assert {kind: policy.days(kind) for kind in Kind} == {
        Kind.HOLDS: 1, Kind.BOOKINGS: 365, Kind.WALK_INS: 365, Kind.TICKETS: 365, Kind.OUTBOX: 7,
        Kind.LINKS: 1, Kind.AUDIT: 365, Kind.IDEMPOTENCY: 1,
    }


def test_each_period_is_set_by_its_own_setting(tmp_path: Path) -> None:
    config = build_config({"RETENTION_BOOKINGS_DAYS": "730", "RETENTION_OUTBOX_DAYS": "2"}, tmp_path)
    policy = RetentionPolicy.from_config(config)
    assert policy.cutoff(Kind.BOOKINGS, NOW) == NOW - timedelta(days=730)
    assert policy.cutoff(Kind.OUTBOX, NOW) == NOW - timedelta(days=2)
    assert policy.cutoff(Kind.TICKETS, NOW) == NOW - timedelta(days=365)
    assert policy.cutoff(Kind.IDEMPOTENCY, NOW) == NOW - timedelta(hours=24)


def test_a_naive_instant_is_refused() -> None:
    with pytest.raises(ValueError):
        RetentionPolicy.from_config({}).cutoff(Kind.BOOKINGS, datetime(2027, 3, 1, 12, 0))
