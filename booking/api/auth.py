"""Partner authentication: ``Authorization: Bearer <api key>``, checked once per request.

The rate limiter needs the partner before any view runs (Flask-Limiter checks limits in an
app-level ``before_request`` hook, ahead of the blueprint's own hooks), so the lookup lives
here, is cached on ``g`` and is called by the limiter's key function as well as by views.
"""

from __future__ import annotations

import time
from typing import Any

from flask import current_app, g, jsonify, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from booking.api.errors import APIError
from booking.apikeys import KeyCache, Partner, verify_key_cached
from scheduler.extensions import db

_UNSET = object()


class Unauthorized(APIError):
    """401 with the ``WWW-Authenticate`` challenge RFC 6750 asks for."""

    def __init__(self, message: str) -> None:
        super().__init__(401, "unauthorized", message)

    def response(self) -> ResponseReturnValue:
        response = jsonify({"error": self.code, "message": self.message})
        response.status_code = self.status
        response.headers["WWW-Authenticate"] = 'Bearer realm="okno"'
        return response


def presented_key() -> str | None:
    """The bearer token of the request; None without an Authorization header, "" when it is not Bearer."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _sep, value = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return ""
    return value.strip()


def current_partner() -> Partner | None:
    """The partner whose valid, unrevoked key this request carries (looked up once per request)."""
    cached: Any = g.get("api_partner", _UNSET)
    if cached is not _UNSET:
        return cached  # type: ignore[no-any-return]
    key = presented_key()
    partner = verify_key_cached(db.session, key, _key_cache(), time.monotonic()) if key else None
    g.api_partner = partner
    g.api_partner_id = partner.id if partner is not None else None
    return partner


def _key_cache() -> KeyCache | None:
    """This process's cache of verified keys (None when API_KEY_CACHE_SECONDS is 0)."""
    cache: KeyCache | None = current_app.extensions.get("okno_api_keys")
    if cache is None:
        seconds = float(current_app.config.get("API_KEY_CACHE_SECONDS", 0))
        if seconds <= 0:
            return None
        cache = current_app.extensions.setdefault("okno_api_keys", KeyCache(seconds))
    return cache


def credentials_presented() -> bool:
    return request.headers.get("Authorization") is not None


def require_partner() -> Partner:
    partner = current_partner()
    if partner is None:
        if credentials_presented():
            raise Unauthorized(_("The API key is not valid or has been revoked."))
        raise Unauthorized(_("This request needs an API key: Authorization: Bearer <key>."))
    return partner


def reject_bad_credentials() -> Partner | None:
    """The partner, or None without credentials; 401 when an Authorization header is there but wrong."""
    partner = current_partner()
    if partner is None and credentials_presented():
        raise Unauthorized(_("The API key is not valid or has been revoked."))
    return partner
