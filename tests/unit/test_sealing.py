"""The one sealing helper: per-purpose keys, rotation through SECRET_KEY_FALLBACKS, tampering and age refused."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from scheduler.config import build_config
from scheduler.sealing import Sealer, Unreadable, sealer_for

OLD = "the-old-secret-key-that-is-long-enough-0123"
NEW = "the-new-secret-key-that-is-long-enough-4567"


def test_a_seal_opens_only_for_its_purpose_and_key() -> None:
    token = Sealer([OLD], "outbox mail").seal("ссылка /me/abc".encode())
    assert "abc" not in token and Sealer([OLD], "outbox mail").open(token) == "ссылка /me/abc".encode()
    with pytest.raises(Unreadable):
        Sealer([OLD], "session cookie").open(token)
    with pytest.raises(Unreadable):
        Sealer([NEW], "outbox mail").open(token)


def test_rotation_opens_old_seals_through_the_fallbacks_and_seals_with_the_new_key(tmp_path: Path) -> None:
    old = sealer_for(build_config({"SECRET_KEY": OLD}, tmp_path), "outbox mail")
    rotated_config = build_config({"SECRET_KEY": NEW, "SECRET_KEY_FALLBACKS": f" {OLD} , "}, tmp_path)
    assert rotated_config["SECRET_KEY_FALLBACKS"] == [OLD]
    rotated = sealer_for(rotated_config, "outbox mail")
    assert rotated.open(old.seal(b"pending mail")) == b"pending mail"
    with pytest.raises(Unreadable):  # new seals use the new key only
        old.open(rotated.seal(b"new mail"))


def test_damaged_and_too_old_seals_are_refused() -> None:
    sealer = Sealer([OLD], "session cookie")
    token = sealer.seal(b"{}")
    with pytest.raises(Unreadable):
        sealer.open(token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"))
    with pytest.raises(Unreadable):
        sealer.open("not a seal ☃")
    time.sleep(1.1)
    with pytest.raises(Unreadable):
        sealer.open(token, max_age=0)
    assert sealer.open(token, max_age=60) == b"{}"


def test_sealing_needs_a_key() -> None:
    with pytest.raises(ValueError):
        Sealer(["", ""], "outbox mail")
