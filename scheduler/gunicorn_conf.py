"""gunicorn settings for okno: a logger that keeps URL secrets out of the access and error logs.

Use it with ``gunicorn --config python:scheduler.gunicorn_conf wsgi:app`` from anywhere, or let gunicorn
find ``gunicorn.conf.py`` in the project folder (it loads this module). Other settings stay on the command
line or in the environment (``GUNICORN_CMD_ARGS``).
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from scheduler.redaction import add_redaction


class RedactingLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger with ``RedactSecrets`` on its access log (request line, Referer, any header a
    custom ``access_log_format`` adds) and its error log (which quotes a request's URI when it fails)."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        add_redaction(self.access_log)
        add_redaction(self.error_log)


logger_class = "scheduler.gunicorn_conf.RedactingLogger"
