"""The session cookie, sealed: the browser holds it but cannot read it.

Flask's default cookie is signed, not encrypted, so anyone who sees it (a shared computer, a
proxy log, a browser extension) can read a citizen's email and the manage tokens it holds. Two
ways out were weighed:

- Server-side sessions (in the database or Redis) would keep only an id in the browser, but cost
  a write on every request that changes the session, a table (or keys) to expire, and, in Redis,
  an outage that signs everyone out; Flask-Session, the usual library, changed its storage API in
  recent releases, which the database backend would have to follow.
- Sealing the cookie (this module) keeps sessions stateless: every node that shares SECRET_KEY
  opens any node's cookie, nothing is stored, and Redis being down changes nothing. The cookie is
  sealed by ``scheduler.sealing`` (Fernet: encrypted and authenticated), so it is also tamper-proof,
  as the signed one was; its time stamp bounds its age by PERMANENT_SESSION_LIFETIME, as before.

SECRET_KEY_FALLBACKS open cookies sealed with an old key, so rotating the key signs nobody out
while the old key is listed.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import BadSignature

from scheduler.sealing import Sealer, Unreadable, sealer_for

SEAL_PURPOSE = "session cookie"


class SealedSerializer:
    """The serializer Flask's cookie session expects (``dumps``/``loads``), sealing instead of signing."""

    def __init__(self, sealer: Sealer, serializer: Any) -> None:
        self.sealer = sealer
        self.serializer = serializer  # Flask's tagged JSON: keeps bytes, datetimes, tuples as they were

    def dumps(self, value: Any) -> str:
        return self.sealer.seal(self.serializer.dumps(value).encode("utf-8"))

    def loads(self, token: str, max_age: int | None = None) -> Any:
        try:
            return self.serializer.loads(self.sealer.open(token, max_age=max_age).decode("utf-8"))
        except (Unreadable, UnicodeDecodeError, ValueError) as exc:
            # Flask answers a bad cookie with a fresh, empty session.
            raise BadSignature("the session cookie cannot be opened") from exc


class SealedCookieSessionInterface(SecureCookieSessionInterface):
    """Flask's cookie session with the cookie sealed rather than signed (see the module's docstring)."""

    def get_signing_serializer(self, app: Flask) -> Any:
        if not app.secret_key:
            return None
        return SealedSerializer(sealer_for(app.config, SEAL_PURPOSE), self.serializer)


def register_sealed_sessions(app: Flask) -> None:
    app.session_interface = SealedCookieSessionInterface()
