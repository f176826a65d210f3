"""Derived link tokens: pinned values, so links in emails already sent keep working after any refactoring."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from booking.codes import derived_token, manage_token
from booking.tickets.services import citizen_token
from booking.workspace.feed import feed_token

SECRET = "s" * 40
SALT = "00ff" * 8


def test_manage_token_is_pinned() -> None:
    assert manage_token(SECRET, "ABCD2345", SALT) == "hrNgImCfnKJFZ9F0wxEHJUtHkd54eiOHOwdpzIHwhdA"


def test_feed_token_is_pinned() -> None:
    assert feed_token(SECRET, 7, SALT) == "lfO-PD266j62MN1CKyQMZO6qfu-Bi3rBbk77hxYv9tI"


def test_ticket_token_is_pinned() -> None:
    ticket = SimpleNamespace(number="2026-000042", citizen_token_salt=SALT)
    assert citizen_token(SECRET, ticket) == "gkHigU0AS4iUHmN6-nlIVlGcj_-dohOswbqhwDdfcXc"  # type: ignore[arg-type]


@pytest.mark.parametrize(("purpose", "parts"), [("manage", ("ABCD2345", SALT)), ("feed", (7, SALT))])
def test_purposes_and_secrets_separate_tokens(purpose: str, parts: tuple[object, ...]) -> None:
    token = derived_token(SECRET, purpose, *parts)
    assert token != derived_token("t" * 40, purpose, *parts)
    assert token != derived_token(SECRET, "other", *parts)
    assert "=" not in token and len(token) == 43  # 256 bits, URL-safe, unpadded
