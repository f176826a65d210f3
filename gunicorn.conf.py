"""Read by ``gunicorn`` started in this folder: okno's settings (scheduler/gunicorn_conf.py)."""

from scheduler.gunicorn_conf import logger_class  # noqa: F401
