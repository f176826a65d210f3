"""gunicorn's settings and server hooks for okno: ``gunicorn --config python:scheduler.gunicorn_conf wsgi:app``.

- Logging: gunicorn's own lines (its master process too, where the app is not loaded) take
  ``LOG_FORMAT`` as the app's do, carry the request id, and keep URL secrets out of the access and
  error logs (``scheduler.redaction``).
- Garbage collection: once the app is loaded (``post_fork``: in each worker, whether or not the app
  was preloaded), everything alive is moved out of the collector's sight with ``gc.freeze()`` (the
  modules, models and compiled queries of a worker are never garbage), and the first generation is
  collected less often (``GC_THRESHOLDS``): a search answering thousands of slots no longer pays
  for repeated scans of the whole heap. Cycles are still collected.
- Metrics: with several worker processes, Prometheus metrics are kept in files under
  ``PROMETHEUS_MULTIPROC_DIR`` (see ``scheduler.metrics``); the directory is emptied when the server
  starts and an exited worker's live gauges are dropped.

gunicorn started in the project folder finds ``gunicorn.conf.py``, which loads this module. The hooks
are plain functions, so a deployment's own gunicorn configuration can import them; other settings stay
on the command line or in ``GUNICORN_CMD_ARGS``.
"""

from __future__ import annotations

import gc
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


# gen0 after 50,000 net allocations instead of 700; gen1 and gen2 as often relative to it as by default.
GC_THRESHOLDS = (50_000, 10, 10)


def tune_gc() -> None:
    """Collect garbage, freeze what survives (the loaded app) and raise the first threshold."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def post_fork(_server: Any, _worker: Any) -> None:
    tune_gc()


def post_worker_init(_worker: Any) -> None:
    # The app is loaded by now even without --preload: freeze it as well.
    tune_gc()


def on_starting(_server: Any) -> None:
    prepare_multiprocess_dir()


def child_exit(_server: Any, worker: Any) -> None:
    mark_worker_dead(worker.pid)
