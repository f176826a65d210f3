"""A partner key verified once is trusted by its process for API_KEY_CACHE_SECONDS, and no longer.

The bound the README states: a key revoked elsewhere (another node, the command line) is refused at
most that late; revoked by this process, at once. Only valid keys are kept.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import update

from booking.apikeys import KeyCache, create_key, revoke_key, verify_key_cached
from booking.models import ApiKey
from scheduler.audit import Actor
from tests.integration.test_booking_cost import statements
from tests.web.test_api_bookings import bearer


def key_reads(sent: list[str]) -> int:
    return sum("FROM api_keys" in s for s in sent)


def revoked_behind_its_back(session: Any, prefix: str) -> None:
    """As another node or the command line would: in the database, not through this process."""
    session.execute(update(ApiKey).where(ApiKey.prefix == prefix).values(revoked_at=ApiKey.created_at))


def test_a_verified_key_is_trusted_until_its_bound_and_read_again_after(session: Any) -> None:
    row, key = create_key(session, "Портал", Actor.system("test"))
    cache = KeyCache(5.0)
    with statements(session) as sent:
        assert verify_key_cached(session, key, cache, now=100.0).id == row.id  # type: ignore[union-attr]
    assert key_reads(sent) == 1
    revoked_behind_its_back(session, row.prefix)
    with statements(session) as sent:
        assert verify_key_cached(session, key, cache, now=104.9) is not None  # within the bound: as read
    assert key_reads(sent) == 0
    assert verify_key_cached(session, key, cache, now=105.0) is None  # the bound passed: read, refused
    assert verify_key_cached(session, key, cache, now=105.1) is None  # and a refused key is not kept


def test_a_revocation_in_this_process_is_at_once(session: Any) -> None:
    row, key = create_key(session, "Портал", Actor.system("test"))
    _other, other_key = create_key(session, "МФЦ", Actor.system("test"))
    cache = KeyCache(60.0)
    assert verify_key_cached(session, key, cache, now=0.0) is not None
    assert verify_key_cached(session, other_key, cache, now=0.0) is not None
    revoke_key(session, row.prefix, Actor.system("test"))
    assert verify_key_cached(session, key, cache, now=1.0) is None
    with statements(session) as sent:
        assert verify_key_cached(session, other_key, cache, now=1.0) is not None  # the other key stays
    assert key_reads(sent) == 0


def test_unknown_and_malformed_keys_are_read_every_time_and_never_kept(session: Any) -> None:
    row, _key = create_key(session, "Портал", Actor.system("test"))
    cache = KeyCache(60.0)
    for n in range(3):
        with statements(session) as sent:
            assert verify_key_cached(session, f"okno_{row.prefix}_wrong{n}", cache, now=0.0) is None
        assert key_reads(sent) == 1
    assert verify_key_cached(session, "x" * 10_000, cache, now=0.0) is None
    assert verify_key_cached(session, "okno_ä_ß", cache, now=0.0) is None
    assert cache.get("anything", 0.0) is None and len(cache._entries) == 0


def test_the_cache_keeps_at_most_its_size(session: Any) -> None:
    keys = [create_key(session, f"Партнёр {n}", Actor.system("test"))[1] for n in range(3)]
    cache = KeyCache(60.0)
    cache.MAX_ENTRIES = 2
    for key in keys:
        verify_key_cached(session, key, cache, now=0.0)
    assert len(cache._entries) == 2


@pytest.fixture
def key_cache_on(app: Flask) -> Iterator[None]:
    app.config["API_KEY_CACHE_SECONDS"] = 5.0
    yield
    app.config["API_KEY_CACHE_SECONDS"] = 0.0
    app.extensions.pop("okno_api_keys", None)


def test_over_http_a_partner_request_reads_its_key_once_and_a_revoked_key_is_refused_at_once(
        client: Any, session: Any, key_cache_on: None) -> None:
    row, key = create_key(session, "Портал", Actor.system("test"))
    session.commit()

    def reads_of_the_key() -> int:
        with statements(session) as sent:
            answer = client.get("/api/v1/bookings/ABCDE12345", headers=bearer(key))
        assert answer.status_code == 404, answer.get_data(as_text=True)
        return key_reads(sent)

    assert reads_of_the_key() == 1
    assert reads_of_the_key() == 0
    revoke_key(session, row.prefix, Actor.system("test"))
    session.commit()
    answer = client.get("/api/v1/bookings/ABCDE12345", headers=bearer(key))
    assert answer.status_code == 401 and answer.get_json()["error"] == "unauthorized"
