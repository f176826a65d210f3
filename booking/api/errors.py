"""JSON error responses in the contract's shape: {"error", "message", ...}, and services' refusals in those terms."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import jsonify
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from booking.api.models import Slot
from booking.services import SlotTaken
from scheduler.errors import DomainError, ErrorCode
from scheduler.extensions import db

# A service names a citizen's field plainly ("phone"); the API body nests it ("citizen.phone").
CITIZEN_FIELDS = ("name", "email", "phone", "applicant_type", "organisation", "inn")


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


def citizen_paths(fields: Mapping[str, str]) -> dict[str, str]:
    """A service's field names as paths in the request body."""
    return {f"citizen.{name}" if name in CITIZEN_FIELDS else name: message for name, message in fields.items()}


def domain_error(exc: DomainError) -> APIError:
    """A service's refusal in the contract's terms (fields named by their path in the body).

    Called after the request's work was rolled back, so the nearest free slots of a
    ``slot_taken`` are looked up without holding the experts' locks.
    """
    first = next(iter(exc.fields.values()), "")
    if isinstance(exc, SlotTaken):
        return APIError(409, "slot_taken", _("This time has just been taken. Choose another one."),
                        alternatives=[Slot.of(s).model_dump(mode="json") for s in exc.find_alternatives(db.session)])
    if exc.code == ErrorCode.LIMIT_REACHED:
        return APIError(409, "limit_reached", first)
    if exc.code == ErrorCode.CONFLICT:
        return APIError(409, "conflict", first or _("Conflict."))
    return validation_error(citizen_paths(exc.fields))
