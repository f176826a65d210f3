"""Read by ``gunicorn`` started in this folder: okno's settings and hooks (scheduler/gunicorn_conf.py)."""

from scheduler.gunicorn_conf import child_exit, logger_class, on_starting  # noqa: F401
