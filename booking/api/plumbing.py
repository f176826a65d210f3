"""What every API view shares: reading a body or a query into its declared model, refusals, the response."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, TypeVar

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from werkzeug.exceptions import RequestEntityTooLarge

from booking.api.errors import APIError, domain_error, validation_error
from booking.services import SlotTaken
from scheduler.errors import DomainError
from scheduler.openapi import openapi_json
from scheduler.transaction import discard_changes

MAX_BODY_BYTES = 64 * 1024
TOKEN_MAX = 200
CODE_RE = re.compile(r"[A-Z0-9]{1,16}")

Model = TypeVar("Model", bound=BaseModel)


def create_blueprint() -> Blueprint:
    """The ``/api/v1`` blueprint, empty but for the document; the composition root adds each feature's routes."""
    bp = Blueprint("api", __name__, url_prefix="/api/v1")
    bp.add_url_rule("/openapi.json", view_func=openapi_json)
    bp.register_error_handler(APIError, lambda exc: exc.response())
    bp.register_error_handler(DomainError, _refused)
    return bp


def _refused(exc: DomainError) -> ResponseReturnValue:
    """A service's refusal: its work is rolled back first (releasing any lock), then answered.

    A ``slot_taken`` that carries its offers (refused before any expert's lock) is answered first:
    its offers are then read from the objects as loaded, not reloaded after the rollback.
    """
    if isinstance(exc, SlotTaken) and exc.offers is not None:
        answer = domain_error(exc)
        discard_changes()
        return answer.response()
    discard_changes()
    return domain_error(exc).response()


# --- reading the request ---------------------------------------------------------------------------

def raw_body() -> bytes:
    """The request's body as sent, or 400 when it is larger than any API request needs."""
    request.max_content_length = MAX_BODY_BYTES
    try:
        return request.get_data(cache=True)
    except RequestEntityTooLarge:
        raise APIError(400, "bad_request", _("The request body is too large.")) from None


def json_body() -> dict[str, Any]:
    """The request's JSON object, or 400 for anything else (malformed, too large, not an object)."""
    raw = raw_body()
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise APIError(400, "bad_request", _("The request body is not valid JSON.")) from None
    if not isinstance(data, dict):
        raise APIError(400, "bad_request", _("The request body must be a JSON object.")) from None
    return data


def field_errors(exc: ValidationError, missing: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Pydantic's errors by dotted path (``citizen.phone``), in our words: the first problem of each field."""
    errors: dict[str, str] = {}
    for error in exc.errors(include_url=False):
        path = ".".join(str(part) for part in error["loc"])
        errors.setdefault(path, _message(error, path, missing or {}))
    return errors


def _message(error: ErrorDetails, path: str, missing: Mapping[str, Any]) -> str:
    if error["type"] == "missing":
        return str(missing.get(path) or _("This field is required."))
    if error["type"] == "okno":  # our own validators already speak the user's language
        return error["msg"]
    if error["type"] == "string_type":
        return _("Must be a string.")
    return _("This value is not valid here.")


def parse(model: type[Model], data: Any, context: Mapping[str, Any] | None = None,
          missing: Mapping[str, Any] | None = None) -> tuple[Model | None, dict[str, str]]:
    """The declared model, or None and every problem by field path."""
    try:
        return model.model_validate(data, context=dict(context or {})), {}
    except ValidationError as exc:
        return None, field_errors(exc, missing)


def parse_or_422(model: type[Model], data: Any, context: Mapping[str, Any] | None = None,
                 missing: Mapping[str, Any] | None = None) -> Model:
    parsed, errors = parse(model, data, context, missing)
    if parsed is None:
        raise validation_error(errors)
    return parsed


def query_args() -> dict[str, str]:
    """The query string, one value per name, blank values left out (a blank parameter is an absent one)."""
    return {name: value.strip() for name, value in request.args.items() if value.strip()}


# --- the response ---------------------------------------------------------------------------------------

def json_response(model: BaseModel, status: int = 200, location: str | None = None) -> ResponseReturnValue:
    """A declared object as JSON, never cached (it carries personal data or links with tokens)."""
    response = jsonify(model.model_dump(mode="json"))
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    if location is not None:
        response.headers["Location"] = location
    return response
