"""Decoding a video token as the server does, at a chosen instant, and test keys."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import jwt
import jwt.api_jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


@contextmanager
def clock_at(at: datetime) -> Iterator[None]:
    """PyJWT reads the wall clock when it checks nbf/exp; make it read ``at`` instead."""
    real = jwt.api_jwt.datetime

    class Frozen(real):  # type: ignore[misc, valid-type]
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return at.astimezone(tz)

    jwt.api_jwt.datetime = Frozen  # type: ignore[misc]
    try:
        yield
    finally:
        jwt.api_jwt.datetime = real  # type: ignore[misc]


def decode_at(token: str, key: Any, at: datetime, *, algorithm: str, audience: str, issuer: str) -> dict[str, Any]:
    """Verify signature, aud, iss, nbf and exp the way the video server does, at instant ``at``."""
    with clock_at(at):
        return jwt.decode(token, key, algorithms=[algorithm], audience=audience, issuer=issuer,
                          options={"require": ["iss", "aud", "sub", "room", "nbf", "exp"]})


def new_rsa_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode("ascii")


def public_key_of(pem: str) -> Any:
    return serialization.load_pem_private_key(pem.encode("ascii"), password=None).public_key()
