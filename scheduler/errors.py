"""Domain errors carrying field reasons, and the HTML / JSON error pages."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from scheduler.ratelimits import minutes_until_retry


class ErrorCode(StrEnum):
    """Why a rule refused: what callers branch on (the messages are for people)."""

    VALIDATION = "validation"
    CONFLICT = "conflict"
    NOT_FOUND = "not_found"
    FORBIDDEN = "forbidden"
    SLOT_TAKEN = "slot_taken"
    LIMIT_REACHED = "limit_reached"
    HOLD_EXPIRED = "hold_expired"
    TOO_MANY_ATTEMPTS = "too_many_attempts"
    TOO_EARLY = "too_early"
    TOO_LATE = "too_late"
    WRONG_LOCATION = "wrong_location"
    WRONG_DAY = "wrong_day"
    ALREADY_CHECKED_IN = "already_checked_in"
    INVALID_SETUP = "invalid_setup"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    IDEMPOTENCY_IN_PROGRESS = "idempotency_in_progress"


class DomainError(Exception):
    """A rule refused an action; ``fields`` maps a field name to a localised message.

    Services raise it; a form view puts the messages beside its fields, the API answers 422
    with them, and the CLI prints them, so every door shares one rule. A refusal undoes the
    request's work unless ``keeps_changes``: a wrong confirmation code still counts the attempt.
    """

    def __init__(self, fields: Mapping[str, Any], code: ErrorCode | str = ErrorCode.VALIDATION, *,
                 keeps_changes: bool = False) -> None:
        self.fields = {k: str(v) for k, v in fields.items()}
        self.code = ErrorCode(code)
        self.keeps_changes = keeps_changes
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.fields.items()))


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/healthz"


ERROR_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 409: "conflict", 422: "validation", 429: "rate_limited"}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        status = exc.code or 500
        if wants_json():
            body = {"error": ERROR_CODES.get(status, "error"), "message": exc.description}
            response = jsonify(body)
            response.status_code = status
            if status == 429 and exc.get_response().headers.get("Retry-After"):
                response.headers["Retry-After"] = exc.get_response().headers["Retry-After"]
            return response
        if status == 429:
            # A limit that keeps its own page (the form as typed) answers with it.
            return exc.response or (render_template("errors/429.html", retry_minutes=minutes_until_retry()), 429)
        template = f"errors/{status}.html" if status in (403, 404) else "errors/generic.html"
        return render_template(template, status=status, description=exc.description), status

    @app.errorhandler(500)
    def _server_error(exc: Exception) -> Any:
        if wants_json():
            return jsonify({"error": "internal", "message": "Internal server error"}), 500
        return render_template("errors/500.html"), 500
