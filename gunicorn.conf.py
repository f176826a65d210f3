"""Read by ``gunicorn`` started in this folder: okno's settings and hooks (scheduler/gunicorn_conf.py)."""

from scheduler.gunicorn_conf import (  # noqa: F401
    child_exit,
    logger_class,
    on_starting,
    post_fork,
    post_worker_init,
)
