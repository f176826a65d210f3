"""JSON error responses in the contract's shape: {"error", "message", ...}."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import jsonify
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _


class APIError(Exception):
    """Raised inside an API view; rendered as the contract's error body."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra

    def response(self) -> ResponseReturnValue:
        body: dict[str, Any] = {"error": self.code, "message": self.message, **self.extra}
        return jsonify(body), self.status


def validation_error(fields: Mapping[str, str]) -> APIError:
    return APIError(422, "validation", _("Some fields are invalid."), fields=dict(fields))


def not_found(message: str | None = None) -> APIError:
    return APIError(404, "not_found", message or _("Not found."))
