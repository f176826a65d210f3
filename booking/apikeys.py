"""Partner API keys: created once and shown once, stored only as a SHA-256, revoked by prefix.

A key reads ``okno_<prefix>_<secret>``: the prefix (8 hex digits) names the key in lists,
logs and the audit trail and is not secret; the secret is 256 random bits, so a plain
SHA-256 is enough to store the whole key (nothing to brute-force offline).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

import click
from flask.cli import AppGroup
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from booking.models import ApiKey
from scheduler.audit import Actor, record
from scheduler.db import utcnow
from scheduler.errors import DomainError, ErrorCode

KEY_SCHEME = "okno"
PREFIX_BYTES = 4  # 8 hex digits
SECRET_BYTES = 32
KEY_MAX_LENGTH = 100  # okno_ + 8 + _ + 43: anything much longer is not one of ours
NAME_MAX = 200


@dataclass(frozen=True)
class Partner:
    """Who is calling the API with a valid key: plain values, safe to keep on ``g``."""

    id: int
    name: str
    prefix: str

    @property
    def actor(self) -> Actor:
        return Actor("partner", self.id, f"api key {self.prefix}")


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _new_prefix(session: Session) -> str:
    while True:
        prefix = secrets.token_hex(PREFIX_BYTES)
        if session.scalar(select(ApiKey.id).where(ApiKey.prefix == prefix)) is None:
            return prefix


def create_key(session: Session, name: str, actor: Actor, now: datetime | None = None) -> tuple[ApiKey, str]:
    """A new key for a partner: returns the row and the key itself, which is never stored."""
    clean = " ".join(name.split())
    if not clean:
        raise DomainError({"name": _l("Give the partner's name.")})
    if len(clean) > NAME_MAX:
        raise DomainError({"name": _l("The name is too long.")})
    prefix = _new_prefix(session)
    key = f"{KEY_SCHEME}_{prefix}_{secrets.token_urlsafe(SECRET_BYTES)}"
    row = ApiKey(name=clean, prefix=prefix, key_hash=key_hash(key), created_at=now or utcnow())
    session.add(row)
    session.flush()
    record(session, actor, "api_key.created", "api_key", prefix, {"name": [None, clean]})
    return row, key


def parse_prefix(key: str) -> str | None:
    """The prefix of something shaped like one of our keys, else None."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_SCHEME or not parts[1] or not parts[2]:
        return None
    return parts[1]


def verify_key(session: Session, key: str) -> Partner | None:
    """The partner holding this key, or None for an unknown, malformed or revoked key."""
    if not key or len(key) > KEY_MAX_LENGTH or parse_prefix(key) is None:
        return None
    try:
        digest = key_hash(key)
    except UnicodeEncodeError:
        return None
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == digest))
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.key_hash, digest):
        return None
    return Partner(row.id, row.name, row.prefix)


# Every cache of this process, so that a revocation here clears them all.
_caches: weakref.WeakSet[KeyCache] = weakref.WeakSet()


class KeyCache:
    """The valid keys one process has verified lately, each trusted for ``seconds`` after its read.

    Every partner request would otherwise read its key's row first; in a booking rush that is one
    round trip in every request. The bound: a key revoked elsewhere (the command line, another
    node) is still accepted by this process for at most ``seconds`` (API_KEY_CACHE_SECONDS); a
    revocation in this process takes effect at once. Only valid keys are kept (by their hash, never
    the key), so made-up keys cannot fill it, and at most ``MAX_ENTRIES`` of them.
    """

    MAX_ENTRIES = 1024

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._entries: OrderedDict[str, tuple[Partner, float]] = OrderedDict()
        self._lock = threading.Lock()
        _caches.add(self)  # told of every revocation this process makes

    def get(self, digest: str, now: float) -> Partner | None:
        found = self._entries.get(digest)
        if found is None or not 0 <= now - found[1] < self.seconds:
            return None
        return found[0]

    def put(self, digest: str, partner: Partner, now: float) -> None:
        with self._lock:
            self._entries[digest] = (partner, now)
            self._entries.move_to_end(digest)
            while len(self._entries) > self.MAX_ENTRIES:
                self._entries.popitem(last=False)

    def forget(self, prefix: str) -> None:
        with self._lock:
            for digest in [d for d, (partner, _read) in self._entries.items() if partner.prefix == prefix]:
                del self._entries[digest]


def verify_key_cached(session: Session, key: str, cache: KeyCache | None, now: float) -> Partner | None:
    """``verify_key``, answered from ``cache`` (if any) for a key it verified less than its bound ago."""
    if cache is None or cache.seconds <= 0 or not key or len(key) > KEY_MAX_LENGTH:
        return verify_key(session, key)
    try:
        digest = key_hash(key)
    except UnicodeEncodeError:
        return None
    partner = cache.get(digest, now)
    if partner is None:
        partner = verify_key(session, key)
        if partner is not None:
            cache.put(digest, partner, now)
    return partner


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)))


def revoke_key(session: Session, prefix: str, actor: Actor, now: datetime | None = None) -> ApiKey:
    """Revoke the key with this prefix (``okno_<prefix>`` or a whole key is accepted too)."""
    wanted = (parse_prefix(prefix.strip()) or prefix.strip().removeprefix(f"{KEY_SCHEME}_")).lower()
    rows = list(session.scalars(select(ApiKey).where(ApiKey.prefix == wanted)))
    if not rows:
        raise DomainError({"prefix": _l("There is no API key with this prefix.")}, code=ErrorCode.NOT_FOUND)
    row = rows[0]
    if row.revoked_at is not None:
        raise DomainError({"prefix": _l("This API key is already revoked.")}, code=ErrorCode.CONFLICT)
    row.revoked_at = now or utcnow()
    session.flush()
    for cache in _caches:
        cache.forget(row.prefix)
    record(session, actor, "api_key.revoked", "api_key", row.prefix, {"revoked_at": [None, row.revoked_at.isoformat()]})
    return row


api_key_cli = AppGroup("api-key", help="Manage partner API keys.")


@api_key_cli.command("create")
@click.argument("name")
def create_key_command(name: str) -> None:
    """Create a key for partner NAME and print it once (the last line is the key alone)."""
    from scheduler.extensions import db

    try:
        row, key = create_key(db.session, name, Actor.system("cli"))
    except DomainError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(f"Created API key {row.prefix} for {row.name}. It is shown only now; store it safely:")
    click.echo(key)


@api_key_cli.command("list")
def list_keys_command() -> None:
    """List the keys: prefix, created, state and partner name (never the keys themselves)."""
    from scheduler.extensions import db

    rows = list_keys(db.session)
    if not rows:
        click.echo("No API keys.")
        return
    for row in rows:
        state = f"revoked {row.revoked_at.isoformat(timespec='minutes')}" if row.revoked_at else "active"
        click.echo(f"{row.prefix}  {row.created_at.isoformat(timespec='minutes')}  {state:<30}  {row.name}")


@api_key_cli.command("revoke")
@click.argument("prefix")
def revoke_key_command(prefix: str) -> None:
    """Revoke the key with PREFIX: requests with it are refused from now on."""
    from scheduler.extensions import db

    try:
        row = revoke_key(db.session, prefix, Actor.system("cli"))
    except DomainError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(f"Revoked API key {row.prefix} ({row.name}).")
