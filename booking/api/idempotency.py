"""Idempotency-Key on the API's POSTs: a retried request gets the first answer and changes nothing.

Follows the IETF draft "The Idempotency-Key HTTP Header Field" (draft-ietf-httpapi-idempotency-key-header):

- The key is the header's value, as a Structured Fields string (``"…"``) or bare (no quotes or
  commas): 1 to 255 printable ASCII characters; anything else is a 422 on ``Idempotency-Key``.
- Keys are scoped to the caller: the partner's API key, a signed-in staff member, or the
  manage token the request carries (stored as its SHA-256). A request with no valid
  credentials ignores the header (it is answered 401 anyway).
- The request is fingerprinted by method, path and raw body. The same key with another
  fingerprint is a 422 ``idempotency_key_reused``; with the same one, the stored answer is
  replayed (status, body, Content-Type, Location) with ``Idempotent-Replayed: true``.
- What is stored: an answer once the operation ran to its result — any 2xx, and the client
  errors that the same request would meet again (400, 404, 409, 422). Not stored: 401/403
  (credentials change), 429 (a rate limit passes), 5xx (transient; nothing was committed), so
  a retry runs the operation again.
- A 2xx answer is written in the request's own transaction, beside the booking it describes:
  a booking that committed always has its answer, even when the connection was cut before
  the client read it. A stored client error is written after the refused work was rolled back.
- The key is claimed by inserting its row before the work runs. A unique constraint on
  (caller, key) keeps two requests from both doing the work: on PostgreSQL the second insert
  waits for the first transaction and then replays its committed answer; on SQLite writers are
  serialised (``BEGIN IMMEDIATE``) so the second finds the row. If the answer is still not
  readable, the second gets 409 ``idempotency_in_progress``.
- Answers expire after 24 hours: a periodic job purges them and an expired key is free again.
  Their bodies carry personal data and manage links, so they are sealed (``scheduler.sealing``, keyed from
  SECRET_KEY) and never kept longer than that.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Response, after_this_request, current_app, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Index, Integer, String, Text, UniqueConstraint, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from booking.api.auth import credentials_presented, current_partner
from booking.api.errors import APIError, validation_error
from booking.api.plumbing import TOKEN_MAX, raw_body
from scheduler.db import Base, UTCDateTime, utcnow
from scheduler.errors import ErrorCode
from scheduler.extensions import db
from scheduler.privacy.policy import IDEMPOTENT_ANSWERS_LIFETIME
from scheduler.sealing import Sealer, Unreadable, sealer_for

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_MAX = 255
LIFETIME = IDEMPOTENT_ANSWERS_LIFETIME  # stated by the retention policy
# Answers a retry of the same request would meet again; see the module's docstring.
STORED_ERRORS = frozenset({400, 404, 409, 422})


class IdempotentRequest(Base):
    """A request made with an Idempotency-Key and the answer it got (sealed), kept for 24 hours."""

    __tablename__ = "idempotent_requests"
    __table_args__ = (
        UniqueConstraint("caller", "key"),
        Index("ix_idempotent_requests_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    caller: Mapped[str] = mapped_column(String(80))  # partner:<id>, staff:<id> or token:<sha256>
    key: Mapped[str] = mapped_column(String(KEY_MAX))
    fingerprint: Mapped[str] = mapped_column(String(64))  # SHA-256 of method, path and body
    status_code: Mapped[int | None] = mapped_column(Integer)  # None only inside the claiming transaction
    content_type: Mapped[str] = mapped_column(String(200), default="")
    location: Mapped[str] = mapped_column(String(500), default="")
    sealed_body: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class IdempotencyHeader(BaseModel):
    """The header as the OpenAPI document shows it."""

    model_config = ConfigDict(title="IdempotencyKeyHeader", populate_by_name=True)
    idempotency_key: str | None = Field(
        default=None, alias=HEADER, max_length=KEY_MAX,
        description="Optional. 1-255 printable ASCII characters (a UUID is a good choice), bare or as a quoted "
                    "string. A repeat with the same key, path and body within 24 hours returns the first answer "
                    "(with `Idempotent-Replayed: true`) and changes nothing; the same key with another request is "
                    "422 `idempotency_key_reused`; while the first is still running, 409 `idempotency_in_progress`. "
                    "Answers stored: 2xx, 400, 404, 409 and 422; after 401, 429 or 5xx a retry runs again.")


# --- the key and the caller -----------------------------------------------------------------------------------

def parse_key(header: str) -> str:
    """The key from the header; a 422 on ``Idempotency-Key`` when it breaks the published format.

    A quoted key is a Structured Fields string (RFC 8941: ``\\"`` and ``\\\\`` escapes, no bare quote); a
    bare one has neither quotes nor commas. Servers join repeated headers with commas, so two
    keys in one request never pass as one.
    """
    value = header.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = _unquote(value[1:-1])
    elif '"' in value or "," in value:
        value = ""
    if not value or len(value) > KEY_MAX or not all(" " <= ch <= "~" for ch in value):
        raise validation_error({HEADER: _("The Idempotency-Key must be one key of 1 to 255 printable ASCII "
                                          "characters.")})
    return value


def _unquote(inner: str) -> str:
    """The characters of an sf-string's inside, or "" when it is not one."""
    chars: list[str] = []
    escaped = False
    for ch in inner:
        if escaped:
            if ch not in '"\\':
                return ""
            chars.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            return ""
        else:
            chars.append(ch)
    return "" if escaped else "".join(chars)


def caller_identity() -> str | None:
    """Whose key space this request uses; None when it has no valid credentials (the view will say 401)."""
    partner = current_partner()
    if partner is not None:
        return f"partner:{partner.id}"
    if credentials_presented():
        return None
    if getattr(current_user, "is_authenticated", False):
        return f"staff:{current_user.id}"
    token = request.args.get("token", "")
    if token and len(token) <= TOKEN_MAX:
        return "token:" + hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
    return None


def fingerprint(method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256(f"{method} {path}\n".encode("utf-8", "surrogatepass"))
    digest.update(body)
    return digest.hexdigest()


# --- sealing the stored answer --------------------------------------------------------------------------------

SEAL_PURPOSE = "idempotent answers"


def answer_sealer(config: Mapping[str, Any]) -> Sealer:
    return sealer_for(config, SEAL_PURPOSE)


@dataclass(frozen=True)
class StoredAnswer:
    status: int
    content_type: str
    location: str
    body: bytes

    def response(self) -> Response:
        response = Response(self.body, status=self.status, content_type=self.content_type or None)
        if self.location:
            response.headers["Location"] = self.location
        response.headers["Cache-Control"] = "no-store"
        response.headers[REPLAYED_HEADER] = "true"
        return response


def record_answer(row: IdempotentRequest, response: Response, sealer: Sealer) -> None:
    row.status_code = response.status_code
    row.content_type = response.headers.get("Content-Type", "")[:200]
    row.location = response.headers.get("Location", "")[:500]
    row.sealed_body = sealer.seal(response.get_data())


def stored_answer(row: IdempotentRequest, sealer: Sealer) -> StoredAnswer | None:
    """The answer, or None when it cannot be opened (the secret key changed since, with no fallback)."""
    try:
        body = sealer.open(row.sealed_body)
    except Unreadable:
        return None
    assert row.status_code is not None
    return StoredAnswer(row.status_code, row.content_type, row.location, body)


# --- the rule -----------------------------------------------------------------------------------------------

def key_reused() -> APIError:
    message = _("This Idempotency-Key was already used for another request. Use a new key for a new request.")
    return APIError(422, ErrorCode.IDEMPOTENCY_KEY_REUSED.value, message, fields={HEADER: message})


def in_progress() -> APIError:
    return APIError(409, ErrorCode.IDEMPOTENCY_IN_PROGRESS.value,
                    _("A request with this Idempotency-Key is still being processed. Retry it in a moment."))


def _find(session: Session, caller: str, key: str) -> IdempotentRequest | None:
    return session.scalar(select(IdempotentRequest).where(IdempotentRequest.caller == caller,
                                                          IdempotentRequest.key == key))


def _answer_of(row: IdempotentRequest, print_: str, sealer: Sealer) -> StoredAnswer:
    if not hmac.compare_digest(row.fingerprint, print_):
        raise key_reused()
    if row.status_code is None:
        raise in_progress()
    answer = stored_answer(row, sealer)
    if answer is None:
        raise key_reused()  # it was used, but its answer can no longer be read: never run it twice
    return answer


def claim(session: Session, caller: str, key: str, print_: str, now: datetime,
          sealer: Sealer) -> IdempotentRequest | StoredAnswer:
    """The earlier answer to replay, or this request's claim on the key (a row without an answer yet).

    The claim is flushed at once, so a concurrent request with the same key stops at the unique
    constraint until this transaction ends. A failed insert rolls the (so far read-only) request
    transaction back and reads the winner's committed answer.
    """
    row = _find(session, caller, key)
    if row is not None:
        if row.created_at > now - LIFETIME:
            return _answer_of(row, print_, sealer)
        # Expired and not purged yet: the key is free again. A statement, not the ORM's delete: a
        # concurrent retry may have deleted it first, and then this one simply matches nothing.
        session.execute(delete(IdempotentRequest).where(IdempotentRequest.id == row.id))
        session.expunge(row)
    row = IdempotentRequest(caller=caller, key=key, fingerprint=print_, created_at=now)
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        winner = _find(session, caller, key)
        if winner is None:
            raise in_progress() from None
        return _answer_of(winner, print_, sealer)
    return row


def store_refusal(session: Session, caller: str, key: str, print_: str, now: datetime,
                  response: Response, sealer: Sealer) -> None:
    """Keep a client error's answer in a transaction of its own (the request's work is rolled back)."""
    session.rollback()
    row = IdempotentRequest(caller=caller, key=key, fingerprint=print_, created_at=now)
    record_answer(row, response, sealer)
    session.add(row)
    try:
        session.commit()
    except IntegrityError:  # a concurrent retry stored its answer first: that one stands
        session.rollback()


def purge_expired(session: Session, now: datetime) -> int:
    """Forget answers older than 24 hours; returns how many."""
    result = session.execute(delete(IdempotentRequest).where(IdempotentRequest.created_at <= now - LIFETIME))
    return int(getattr(result, "rowcount", 0) or 0)


def idempotent(view: Callable[..., ResponseReturnValue]) -> Callable[..., ResponseReturnValue]:
    """Honour an Idempotency-Key on this POST view; without the header the view runs as before."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        header = request.headers.get(HEADER)
        if header is None:
            return view(*args, **kwargs)
        caller = caller_identity()
        if caller is None:
            return view(*args, **kwargs)
        key = parse_key(header)
        sealer = answer_sealer(current_app.config)
        now = utcnow()
        print_ = fingerprint(request.method, request.path, raw_body())
        claimed = claim(db.session, caller, key, print_, now, sealer)
        if isinstance(claimed, StoredAnswer):
            return claimed.response()
        row_id = claimed.id

        @after_this_request
        def remember(response: Response) -> Response:
            if 200 <= response.status_code < 300:
                row = db.session.get(IdempotentRequest, row_id)
                if row is not None:  # committed with the work by the transaction boundary
                    record_answer(row, response, sealer)
            elif response.status_code in STORED_ERRORS:
                store_refusal(db.session, caller, key, print_, now, response, sealer)
            return response

        return view(*args, **kwargs)

    return wrapper
