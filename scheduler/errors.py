"""Domain errors carrying field reasons, and the HTML / JSON error pages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException


class DomainError(Exception):
    """A rule refused an action; ``fields`` maps a field name to a localised message.

    Services raise it; a form view puts the messages beside its fields, the API answers 422
    with them, and the CLI prints them, so every door shares one rule.
    """

    def __init__(self, fields: Mapping[str, Any], code: str = "validation") -> None:
        self.fields = {k: str(v) for k, v in fields.items()}
        self.code = code
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
        template = f"errors/{status}.html" if status in (403, 404, 429) else "errors/generic.html"
        return render_template(template, status=status, description=exc.description), status

    @app.errorhandler(500)
    def _server_error(exc: Exception) -> Any:
        if wants_json():
            return jsonify({"error": "internal", "message": "Internal server error"}), 500
        return render_template("errors/500.html"), 500
