"""Rate limits' plumbing: a refusal that keeps the page (the form as typed, and when to try again), views that
no limit applies to, and the storage's health."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app, make_response, request
from flask.typing import ResponseReturnValue
from flask.wrappers import Response
from flask_limiter import RequestLimit

from scheduler.extensions import limiter

View = TypeVar("View", bound=Callable[..., Any])
_UNLIMITED: set[Callable[..., Any]] = set()


def minutes_until_retry(limit: RequestLimit | None = None) -> int:
    """Whole minutes until ``limit`` (by default the one this request hit) lets the next attempt through."""
    return max(1, math.ceil(seconds_until_retry(limit) / 60))


def seconds_until_retry(limit: RequestLimit | None = None) -> int:
    """Whole seconds until ``limit`` (by default the one this request hit) lets the next attempt through."""
    limit = limit or limiter.current_limit
    if limit is None:
        return 1
    reset_at, _remaining = limit.window  # not ``limit.reset_at``, which adds a second
    return max(1, math.ceil(reset_at - time.time()))


def keep_page_when_limited(page: Callable[[int], ResponseReturnValue]) -> Callable[[RequestLimit], Response]:
    """An ``on_breach`` handler answering 429 with ``page(retry_minutes)`` instead of the bare error page.

    A citizen refused for trying too often should not lose what they typed, nor have to guess how long to wait.
    """
    def on_breach(limit: RequestLimit) -> Response:
        response = make_response(page(minutes_until_retry(limit)))
        response.status_code = 429
        return response

    return on_breach


# --------------------------------------------------------------------------- a Redis outage, told loudly

log = logging.getLogger(__name__)

# While the shared storage is down, say so again at most this often (per process).
DEGRADED_REMINDER_SECONDS = 60.0


class StorageWatch:
    """Logs an error when the rate limits fall back to per-process memory, again every minute, and when they recover.

    Flask-Limiter's in-memory fallback keeps requests served when its storage (Redis) is down, with a single
    warning; limits then count per process, so N nodes allow N times the configured rate. An operator must
    hear about that.
    """

    def __init__(self) -> None:
        self.degraded_since: float | None = None
        self.reminded_at = 0.0

    def observe(self, degraded: bool, now: float) -> None:
        if degraded:
            if self.degraded_since is None:
                self.degraded_since = self.reminded_at = now
                log.error("rate-limit storage unreachable: rate limits are per process (in memory) until it is back")
            elif now - self.reminded_at >= DEGRADED_REMINDER_SECONDS:
                self.reminded_at = now
                log.error("rate-limit storage still unreachable after %.0f s: rate limits are per process (in memory)",
                          now - self.degraded_since)
        elif self.degraded_since is not None:
            log.warning("rate-limit storage reachable again after %.0f s: rate limits are shared again",
                        now - self.degraded_since)
            self.degraded_since = None


storage_watch = StorageWatch()


def rate_limits_degraded() -> bool:
    """Whether the limits are counted in this process's memory because the shared storage is unreachable."""
    if not limiter.enabled or not limiter.initialized:
        return False
    return limiter.limiter.storage is not limiter.storage


def unlimited(view: View) -> View:
    """Exempt ``view`` from every rate limit (health checks, metrics), and spare its requests the limiter's work.

    Flask-Limiter resolves an exempt view's limits on every request before finding none; a request
    filter that knows the view answers at once. Only for views in blueprints that carry no limits.
    """
    exempt = limiter.exempt(view)
    _UNLIMITED.add(exempt)
    return exempt


def _is_unlimited() -> bool:
    return request.endpoint is not None and current_app.view_functions.get(request.endpoint) in _UNLIMITED


def watch_rate_limit_storage(app: Flask) -> None:
    """After each request, note whether the rate limits are degraded (see ``StorageWatch``).

    Also lets the limiter skip the views marked ``unlimited`` (the limiter is one per process, so once).
    """
    if not getattr(limiter, "_okno_spares_unlimited", False):
        limiter.request_filter(_is_unlimited)
        limiter._okno_spares_unlimited = True  # type: ignore[attr-defined]

    @app.after_request
    def _observe(response: Response) -> Response:
        storage_watch.observe(rate_limits_degraded(), time.monotonic())
        if response.status_code == 429 and "Retry-After" not in response.headers:
            # The limiter's own headers are off (one storage round trip on every answer): a refusal
            # alone asks the storage when its window ends.
            response.headers["Retry-After"] = str(seconds_until_retry())
        return response
