"""gunicorn's settings and server hooks for okno: ``gunicorn -c python:scheduler.gunicorn_hooks wsgi:app``.

gunicorn's own log lines (its master process too, where the app is not loaded) take ``LOG_FORMAT``
as the app's do. With several worker processes, Prometheus metrics are kept in files under
``PROMETHEUS_MULTIPROC_DIR`` (see ``scheduler.metrics``): the directory is emptied when the server
starts and an exited worker's live gauges are dropped. The hooks are plain functions, so a
deployment's own gunicorn configuration can import them.
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from scheduler.logging_setup import configure_server_logging
from scheduler.metrics import mark_worker_dead, prepare_multiprocess_dir


class OknoLogger(Logger):
    """gunicorn's logger, its handlers formatted as the app's (set up again on every reload)."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        configure_server_logging()


logger_class = OknoLogger


def on_starting(_server: Any) -> None:
    prepare_multiprocess_dir()


def child_exit(_server: Any, worker: Any) -> None:
    mark_worker_dead(worker.pid)
