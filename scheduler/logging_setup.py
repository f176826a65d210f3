"""Logging: one place that formats the app's, gunicorn's and the worker's log lines (text or JSON), with request ids."""

from __future__ import annotations

import logging
import re
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, g, has_request_context, request
from flask.wrappers import Response
from pythonjsonlogger.json import JsonFormatter

from scheduler.redaction import add_redaction

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
REQUEST_ID_HEADER = "X-Request-ID"
# An id a trusted proxy sets is copied into every log line: nothing that could break a line or carry data.
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
# Loggers whose handlers the app does not create but formats alike when it runs under them.
SERVER_LOGGERS = ("gunicorn.error", "gunicorn.access")


class RequestIdFilter(logging.Filter):
    """Stamps each record with the id of the request it belongs to (none outside a request).

    gunicorn writes its access line after the app has answered, outside the request: there the id
    is the ``X-Request-ID`` the app put in the response.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if hasattr(record, "request_id"):
            return True
        if has_request_context():
            request_id = g.get("request_id")
            if request_id:
                record.request_id = request_id
        elif record.name == "gunicorn.access" and isinstance(record.args, Mapping):
            request_id = record.args.get("{x-request-id}o")
            if request_id and request_id != "-":
                record.request_id = request_id
        return True


class _OknoHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler the app installs on the root logger (so configuring twice replaces, never adds)."""


def build_formatter(log_format: str) -> logging.Formatter:
    """Human-readable lines, or one JSON object per line: time (UTC, ISO 8601), level, logger, message, extras."""
    if log_format == "json":
        return JsonFormatter(
            "%(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp="time",
        )
    return logging.Formatter(TEXT_FORMAT)


def apply_log_format(log_format: str, handlers: list[logging.Handler]) -> None:
    """The one place okno's log handlers are set up: the configured format and the request id.

    Every line also passes ``RedactSecrets``: no URL secret reaches a log.
    """
    formatter = build_formatter(log_format)
    for handler in handlers:
        handler.setFormatter(formatter)
        if not any(isinstance(f, RequestIdFilter) for f in handler.filters):
            handler.addFilter(RequestIdFilter())
        add_redaction(handler)  # after the request id, which reads gunicorn's access-log arguments


def server_handlers() -> list[logging.Handler]:
    """gunicorn's handlers (error and access log), when the app runs under gunicorn."""
    return [handler for name in SERVER_LOGGERS for handler in logging.getLogger(name).handlers]


def configure_logging(config: Mapping[str, Any]) -> None:
    """Apply ``LOG_FORMAT`` to the app's handler on the root logger and to gunicorn's handlers.

    The root logger gets the app's stderr handler unless something else (a test runner) already
    owns it; huey's and the app's loggers propagate to it.
    """
    root = logging.getLogger()
    ours: list[logging.Handler] = [h for h in root.handlers if isinstance(h, _OknoHandler)]
    if not ours and not root.handlers:
        handler = _OknoHandler(sys.stderr)
        root.addHandler(handler)
        ours = [handler]
    root.setLevel(logging.INFO)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    apply_log_format(str(config.get("LOG_FORMAT", "text")), ours + server_handlers())


def incoming_request_id(headers: Mapping[str, str], trusted: bool) -> str:
    """The id a trusted proxy gave this request, or a new one (a client's own header is not taken)."""
    given = headers.get(REQUEST_ID_HEADER, "") if trusted else ""
    if _SAFE_REQUEST_ID.match(given):
        return given
    return uuid.uuid4().hex


def register_request_id(app: Flask) -> None:
    """Give every request an id, log it with every line of the request and return it in ``X-Request-ID``.

    The id is taken from the proxy only when the app trusts a proxy (``TRUSTED_PROXY_COUNT`` > 0),
    which then sets the header itself, so a request can be followed from the proxy's log to ours.
    """

    @app.before_request
    def _assign_request_id() -> None:
        g.request_id = incoming_request_id(request.headers, app.config["TRUSTED_PROXY_COUNT"] > 0)

    @app.after_request
    def _return_request_id(response: Response) -> Response:
        request_id = g.get("request_id")
        if request_id:
            response.headers[REQUEST_ID_HEADER] = request_id
        return response


def configure_server_logging() -> None:
    """In gunicorn's master process (before any worker, so they inherit it): its handlers in ``LOG_FORMAT``."""
    from scheduler.config import load_environment, log_format_from

    apply_log_format(log_format_from(load_environment(Path.cwd())), server_handlers())
