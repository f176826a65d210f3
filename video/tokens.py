"""Signed join tokens for Jitsi Meet: HS256 for a self-hosted server, RS256 for JaaS.

What the servers check (read from jitsi-meet's ``resources/prosody-plugins/token/util.lib.lua``,
jitsi-contrib's ``token_affiliation`` module and the JaaS "Jitsi JWT" documentation):

- the signature, ``exp`` and ``nbf`` (luajwtjitsi's ``decode(token, key, true)``);
- ``iss`` must be in ``asap_accepted_issuers`` (default: the app id); JaaS wants ``"chat"``;
- ``aud`` must be present and in ``asap_accepted_audiences`` (default ``*``); JaaS wants ``"jitsi"``;
- ``room`` is required (``asap_require_room_claim``) and compared with the joined room after
  lower-casing the claim, so room names here are lowercase already;
- ``sub`` is checked only with ``enable_domain_verification``: ``conference.<sub>`` must be the
  MUC domain, so a self-hosted token carries the server's host name; JaaS wants the AppID;
- ``context.user`` is bound to the session; ``token_affiliation`` makes an occupant owner when
  ``affiliation`` is ``owner`` (or ``moderator`` is true), JaaS when ``moderator`` is ``"true"``;
- JaaS finds its public key by the header's ``kid``, ``<AppID>/<key id>``.

Everything here is a pure function of the settings, the room, the window, the participant and
``now``: nothing reads the clock, the request or the database.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import jwt

from booking.consultation_window import JoinWindow, Phase

JAAS_ISSUER = "chat"
# Consultations carry personal data: nobody records, streams or transcribes them from a token.
JAAS_FEATURES = {"recording": "false", "livestreaming": "false", "transcription": "false",
                 "outbound-call": "false", "sip-outbound-call": "false"}


class VideoConfigError(ValueError):
    """The JITSI_* settings cannot sign a token (a missing app id, key id or unreadable key)."""


class OutsideWindow(Exception):
    """No token is minted outside the join window (nor for a cancelled booking)."""


@dataclass(frozen=True)
class Participant:
    """Who a token admits: an opaque id, the name others see, and whether they run the room."""

    id: str
    name: str
    is_moderator: bool


@dataclass(frozen=True)
class JitsiSettings:
    base_url: str
    app_id: str = ""
    app_secret: str = ""
    private_key: str = ""  # PEM text, read from JITSI_PRIVATE_KEY_FILE
    key_id: str = ""
    audience: str = "jitsi"

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> JitsiSettings:
        key_file = str(config.get("JITSI_PRIVATE_KEY_FILE") or "")
        private_key = ""
        if key_file:
            try:
                private_key = Path(key_file).read_text(encoding="ascii")
            except (OSError, UnicodeDecodeError) as exc:
                raise VideoConfigError(f"JITSI_PRIVATE_KEY_FILE cannot be read: {exc}") from exc
        settings = cls(
            base_url=str(config.get("JITSI_URL") or "").rstrip("/"),
            app_id=str(config.get("JITSI_APP_ID") or ""),
            app_secret=str(config.get("JITSI_APP_SECRET") or ""),
            private_key=private_key,
            key_id=str(config.get("JITSI_KEY_ID") or ""),
            audience=str(config.get("JITSI_AUDIENCE") or "jitsi"),
        )
        settings.check()
        return settings

    @property
    def algorithm(self) -> str | None:
        """RS256 (JaaS style) when a private key is set, HS256 with a shared secret, else no tokens."""
        if self.private_key:
            return "RS256"
        if self.app_secret:
            return "HS256"
        return None

    @property
    def signs_tokens(self) -> bool:
        return self.algorithm is not None

    @property
    def kid(self) -> str:
        """JaaS shows the key id as ``<AppID>/<id>``; either that or the bare id may be configured."""
        return self.key_id if "/" in self.key_id else f"{self.app_id}/{self.key_id}"

    @property
    def domain(self) -> str:
        return urlsplit(self.base_url).hostname or ""

    def check(self) -> None:
        if not self.base_url.startswith(("https://", "http://")):
            raise VideoConfigError("JITSI_URL must be an http(s) address")
        if self.signs_tokens and not self.app_id:
            raise VideoConfigError("JITSI_APP_ID is required to sign video tokens")
        if self.algorithm == "RS256" and not self.key_id:
            raise VideoConfigError("JITSI_KEY_ID is required with JITSI_PRIVATE_KEY_FILE")


def token_header(settings: JitsiSettings) -> dict[str, str]:
    header = {"typ": "JWT"}
    if settings.algorithm == "RS256":
        header["kid"] = settings.kid
    return header


def token_claims(settings: JitsiSettings, *, room: str, window: JoinWindow, participant: Participant,
                 now: datetime) -> dict[str, Any]:
    """The claims of one participant's token; ``nbf`` and ``exp`` are the window's edges."""
    user: dict[str, Any] = {"id": participant.id, "name": participant.name}
    claims: dict[str, Any] = {"aud": settings.audience, "room": room, "iat": int(now.timestamp()),
                              "nbf": int(window.opens_at.timestamp()), "exp": int(window.closes_at.timestamp())}
    if settings.algorithm == "RS256":
        # JaaS documents the moderator flag and the feature switches as the strings "true"/"false".
        user["moderator"] = "true" if participant.is_moderator else "false"
        claims |= {"iss": JAAS_ISSUER, "sub": settings.app_id, "context": {"user": user, "features": JAAS_FEATURES}}
    else:
        user["affiliation"] = "owner" if participant.is_moderator else "member"
        user["moderator"] = participant.is_moderator
        claims |= {"iss": settings.app_id, "sub": settings.domain, "context": {"user": user}}
    return claims


def mint_token(settings: JitsiSettings, *, room: str, window: JoinWindow, participant: Participant,
               now: datetime) -> str:
    """A signed token for this participant, only while the window is open."""
    if window.phase(now) is not Phase.OPEN:
        raise OutsideWindow(window.phase(now))
    algorithm = settings.algorithm
    if algorithm is None:
        raise VideoConfigError("neither JITSI_APP_SECRET nor JITSI_PRIVATE_KEY_FILE is set")
    key = settings.private_key if algorithm == "RS256" else settings.app_secret
    claims = token_claims(settings, room=room, window=window, participant=participant, now=now)
    return jwt.encode(claims, key, algorithm=algorithm, headers=token_header(settings))


def room_url(settings: JitsiSettings, room: str) -> str:
    return f"{settings.base_url}/{room}"


def join_url(settings: JitsiSettings, room: str, token: str | None) -> str:
    """The room's address, with the token in the fragment so no server ever logs it.

    Jitsi Meet's ``parseJWTFromURLParams`` reads ``jwt`` from the fragment first and parses
    fragment values as JSON, so the token goes in as a JSON string (``#jwt=%22...%22``),
    exactly as Jitsi's own URL builder writes it.
    """
    if token is None:
        return room_url(settings, room)
    return f"{room_url(settings, room)}#jwt={quote(json.dumps(token), safe='')}"
