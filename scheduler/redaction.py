"""Secrets out of log lines: the tokens that open a citizen's booking, ticket or personal page, or an expert's
calendar, replaced wherever a URL is logged (request lines, Referer, exceptions), whatever the formatter.

Links carry secrets because an email or a calendar program must open them: ``?token=`` (the manage page,
the video join page, a ticket, the booking API and its invitation file), ``/me/<token>`` (the personal
page) and ``/calendar/<token>.ics`` (an expert's subscription). Pages exchange a query token for the
session and redirect to a clean address at once, but the first request is still logged by every server in
the way, and a calendar program polls its secret address for ever. So every log line is redacted here:
``RedactSecrets`` is a ``logging.Filter`` that rewrites a record's message before any formatter sees it,
added to the handlers (the app's logging, werkzeug's development server) and to gunicorn's loggers
(``scheduler.gunicorn_conf``). Pure: no Flask, no database.
"""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"

# Query parameters that hold a credential, in any URL in a log line (case-insensitive).
SECRET_QUERY_KEYS = ("token", "access_token", "jwt", "key", "api_key", "secret", "password")

# Where a secret is a path segment: the segment after the prefix, up to the next delimiter. ``/me/leave`` is
# a page, not a token.
_DELIMITERS = r"/?#&\s\"'<>\\"
_SECRET_SEGMENTS = (
    re.compile(rf"(/me/)(?!leave(?:[{_DELIMITERS}]|$))[^{_DELIMITERS}]+"),
    re.compile(rf"(/calendar/)[^{_DELIMITERS}]+?(?=\.ics|[{_DELIMITERS}]|$)"),
)
# The value after ``key=``, raw or percent-encoded once (``%3Ftoken%3D...``, as in a ``next=`` parameter).
_VALUE_CHARS = r"[^&;#\s\"'<>%]"
_SECRET_QUERY = re.compile(
    r"((?:[?&;]|%3F|%26|%3B)(?:" + "|".join(SECRET_QUERY_KEYS) + r")(?:=|%3D))"
    rf"{_VALUE_CHARS}*(?:%(?!26|3B){_VALUE_CHARS}*)*",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """``text`` with every URL secret replaced by ``[redacted]``; anything else left as it was."""
    text = _SECRET_QUERY.sub(rf"\1{REDACTED}", text)
    for pattern in _SECRET_SEGMENTS:
        text = pattern.sub(rf"\1{REDACTED}", text)
    return text


class RedactSecrets(logging.Filter):
    """Rewrites a record's message (``msg % args``) with its secrets redacted; never drops a record.

    Exception text is redacted too: a traceback may quote a URL. The record keeps its level, logger and
    extras, so a JSON formatter sees the same fields with a clean message.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed record: leave it to logging's own error report
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def add_redaction(target: logging.Handler | logging.Logger) -> None:
    """Add ``RedactSecrets`` to a handler or a logger, once."""
    if not any(isinstance(f, RedactSecrets) for f in target.filters):
        target.addFilter(RedactSecrets())


def install_redaction(*logger_names: str) -> None:
    """Redact every record that reaches the root logger's handlers, and those logged to ``logger_names``.

    A handler filter sees records propagated from every logger; a logger filter covers a logger whose own
    handler does not propagate (werkzeug adds one when the root has none). Call it after the handlers are
    configured; a handler added later needs ``add_redaction`` too.
    """
    for handler in logging.getLogger().handlers:
        add_redaction(handler)
    for name in logger_names:
        logger = logging.getLogger(name)
        add_redaction(logger)
        for handler in logger.handlers:
            add_redaction(handler)
