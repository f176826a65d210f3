"""Sealing what okno must keep but nobody should read: authenticated encryption keyed from SECRET_KEY.

One helper for every sealed thing (outbox bodies, stored API answers, the session cookie): Fernet
(AES-128-CBC with HMAC-SHA256, from ``cryptography``), with a key derived per purpose from
SECRET_KEY, so a token sealed for one purpose never opens as another.

Key rotation: ``SECRET_KEY_FALLBACKS`` (the setting Flask itself reads for old session keys) lists
previous keys. Seals are always made with SECRET_KEY and opened with it or any fallback
(``MultiFernet``), so pending mail, stored answers and sessions made before a rotation stay
readable while the old key is listed. Drop an old key from the list once nothing sealed with it
matters (mail delivered, answers past 24 hours, sessions expired): what it sealed then becomes
unreadable, which is what removing a key should mean.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class Unreadable(Exception):
    """A sealed value that none of the keys opens: forged, damaged, too old, or sealed with a dropped key."""


def _fernet(secret_key: str, purpose: str) -> Fernet:
    raw = hmac.new(secret_key.encode("utf-8"), f"okno {purpose}".encode(), hashlib.sha256).digest()
    return Fernet(base64.urlsafe_b64encode(raw))


class Sealer:
    """Seals and opens bytes for one purpose with the current key, opening with old ones too."""

    def __init__(self, secret_keys: Iterable[str], purpose: str) -> None:
        keys = [key for key in secret_keys if key]
        if not keys:
            raise ValueError("sealing needs a SECRET_KEY")
        self._fernet = MultiFernet([_fernet(key, purpose) for key in keys])

    def seal(self, data: bytes) -> str:
        """A URL-safe ASCII token holding ``data``, encrypted and authenticated, stamped with the time."""
        return self._fernet.encrypt(data).decode("ascii")

    def open(self, token: str, *, max_age: int | None = None) -> bytes:
        """The bytes sealed in ``token``; ``Unreadable`` if no key opens it or it is older than ``max_age`` s."""
        try:
            return self._fernet.decrypt(token.encode("ascii"), ttl=max_age)
        except (InvalidToken, UnicodeEncodeError) as exc:
            raise Unreadable from exc


def secret_keys(config: Mapping[str, Any]) -> list[str]:
    """SECRET_KEY first (it seals), then SECRET_KEY_FALLBACKS (they only open)."""
    return [str(config.get("SECRET_KEY") or ""), *(str(k) for k in config.get("SECRET_KEY_FALLBACKS") or [])]


def sealer_for(config: Mapping[str, Any], purpose: str) -> Sealer:
    """The sealer for ``purpose`` under this configuration's keys (made once: every request opens its session)."""
    return _sealer(tuple(secret_keys(config)), purpose)


@functools.lru_cache(maxsize=64)
def _sealer(keys: tuple[str, ...], purpose: str) -> Sealer:
    # A sealer holds no state but its keys: keyed by them, a rotation gets a new one.
    return Sealer(keys, purpose)
