"""gunicorn's server hooks for okno: ``gunicorn -c python:scheduler.gunicorn_hooks wsgi:app``.

With several worker processes, Prometheus metrics are kept in files under ``PROMETHEUS_MULTIPROC_DIR``
(see ``scheduler.metrics``): the directory is emptied when the server starts and an exited worker's
live gauges are dropped. Each hook is a plain function, so a deployment's own gunicorn configuration
can import and call them.
"""

from __future__ import annotations

from typing import Any

from scheduler.metrics import mark_worker_dead, prepare_multiprocess_dir


def on_starting(_server: Any) -> None:
    prepare_multiprocess_dir()


def child_exit(_server: Any, worker: Any) -> None:
    mark_worker_dead(worker.pid)
