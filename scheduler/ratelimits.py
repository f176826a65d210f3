"""A rate-limit refusal that keeps the page: the form as typed, and when to try again."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from flask import make_response
from flask.typing import ResponseReturnValue
from flask.wrappers import Response
from flask_limiter import RequestLimit

from scheduler.extensions import limiter


def minutes_until_retry(limit: RequestLimit | None = None) -> int:
    """Whole minutes until ``limit`` (by default the one this request hit) lets the next attempt through."""
    limit = limit or limiter.current_limit
    if limit is None:
        return 1
    reset_at, _remaining = limit.window  # not ``limit.reset_at``, which adds a second
    return max(1, math.ceil((reset_at - time.time()) / 60))


def keep_page_when_limited(page: Callable[[int], ResponseReturnValue]) -> Callable[[RequestLimit], Response]:
    """An ``on_breach`` handler answering 429 with ``page(retry_minutes)`` instead of the bare error page.

    A citizen refused for trying too often should not lose what they typed, nor have to guess how long to wait.
    """
    def on_breach(limit: RequestLimit) -> Response:
        response = make_response(page(minutes_until_retry(limit)))
        response.status_code = 429
        return response

    return on_breach
