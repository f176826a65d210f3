"""gunicorn's settings and server hooks for okno: ``gunicorn --config python:scheduler.gunicorn_conf wsgi:app``.

- Logging: gunicorn's own lines (its master process too, where the app is not loaded) take
  ``LOG_FORMAT`` as the app's do, carry the request id, and keep URL secrets out of the access and
  error logs (``scheduler.redaction``).
- Metrics: with several worker processes, Prometheus metrics are kept in files under
  ``PROMETHEUS_MULTIPROC_DIR`` (see ``scheduler.metrics``); the directory is emptied when the server
  starts and an exited worker's live gauges are dropped.

gunicorn started in the project folder finds ``gunicorn.conf.py``, which loads this module. The hooks
are plain functions, so a deployment's own gunicorn configuration can import them; other settings stay
on the command line or in ``GUNICORN_CMD_ARGS``.
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from scheduler.logging_setup import configure_server_logging
from scheduler.metrics import mark_worker_dead, prepare_multiprocess_dir
from scheduler.redaction import add_redaction


class OknoLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger: its handlers formatted as the app's, with ``RedactSecrets`` on the access log
    (request line, Referer, any header a custom ``access_log_format`` adds) and the error log (which
    quotes a request's URI when it fails). Set up again on every reload."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        configure_server_logging()
        add_redaction(self.access_log)
        add_redaction(self.error_log)


logger_class = "scheduler.gunicorn_conf.OknoLogger"


def on_starting(_server: Any) -> None:
    prepare_multiprocess_dir()


def child_exit(_server: Any, worker: Any) -> None:
    mark_worker_dead(worker.pid)
