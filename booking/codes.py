"""Booking codes, manage tokens and email confirmation codes, and how they are stored.

A booking code is short and said over the phone, so it avoids look-alike characters; it
is still drawn from 31^8 ≈ 8.5·10^11 values, so with rate limits it cannot be enumerated.
It is not a secret: the manage token is, and it is kept only as a hash.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

# No 0/O, 1/I/L: people read these codes aloud and type them from paper.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8


def new_booking_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(raw: str) -> str:
    """Accept what people type: lower case, spaces and dashes (look-alikes never occur in codes)."""
    return raw.strip().upper().replace("-", "").replace(" ", "")


def display_code(code: str) -> str:
    return f"{code[:4]}-{code[4:]}" if len(code) == CODE_LENGTH else code


# Video room names: lowercase letters and digits only, so a room address needs no
# percent-encoding and Jitsi's lower-casing of room names changes nothing; 26 characters
# from 36 give about 134 bits, so a room can be neither guessed nor derived from the booking.
VIDEO_ROOM_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
VIDEO_ROOM_LENGTH = 26


def new_video_room() -> str:
    """A fresh, unguessable video room name; a booking keeps it for its whole life."""
    return "".join(secrets.choice(VIDEO_ROOM_ALPHABET) for _ in range(VIDEO_ROOM_LENGTH))


def new_token() -> str:
    return secrets.token_urlsafe(32)


def new_salt() -> str:
    return secrets.token_hex(16)


def derived_token(secret_key: str, purpose: str, *parts: object) -> str:
    """A link secret reproducible only with the app's secret key: HMAC-SHA256 of ``purpose:part:part…``.

    The purpose keeps a token for one kind of link from opening another; a fresh salt among the
    parts revokes earlier links. Unpadded URL-safe base64, so it sits in a path or a query as is.
    """
    message = ":".join([purpose, *map(str, parts)]).encode("utf-8")
    digest = hmac.new(secret_key.encode("utf-8"), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def manage_token(secret_key: str, booking_code: str, salt: str) -> str:
    """The secret of a booking's manage link."""
    return derived_token(secret_key, "manage", booking_code, salt)


def token_hash(token: str) -> str:
    """Manage tokens are 256-bit random values: a plain SHA-256 is enough to store them."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def tokens_match(token: str, stored_hash: str) -> bool:
    return bool(stored_hash) and hmac.compare_digest(token_hash(token), stored_hash)


def new_confirmation_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


def confirmation_code_hash(code: str, secret_key: str, booking_code: str) -> str:
    """Six digits are brute-forced offline in no time, so the stored hash is keyed."""
    message = f"{booking_code}:{code}".encode()
    return hmac.new(secret_key.encode("utf-8"), message, hashlib.sha256).hexdigest()
