"""Security headers on every response, set in one place: the content policy, framing, sniffing, referrers,
HSTS in production, and no caching of anything but static files.

Pages carry no inline script or style (scripts live in ``static/js`` and read their data from ``data-``
attributes), so the policy allows only this site's own files. Nothing of okno is meant to be framed, and
no page frames anything: a video consultation opens the video server's own page through a link.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, request

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",  # data: for the small SVG icons inside the stylesheet (Pico's checkboxes, selects)
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))

# Same-origin requests keep the full Referer, which Flask-WTF's CSRF check requires over HTTPS (no-referrer
# would refuse every form); other sites get nothing, so no address of ours, token or not, leaves the site.
REFERRER_POLICY = "same-origin"


def security_headers(config: Mapping[str, Any]) -> dict[str, str]:
    """The headers every response carries (a view may set its own Referrer-Policy, stricter)."""
    headers = {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": REFERRER_POLICY,
    }
    if config["OKNO_ENV"] == "production":
        headers["Strict-Transport-Security"] = f"max-age={int(config['HSTS_MAX_AGE_SECONDS'])}"
    return headers


def register_security_headers(app: Flask) -> None:
    """Add the headers to every answer, error pages included.

    Caching: every answer but a static file is ``no-store`` unless its view chose otherwise (a calendar
    feed revalidates, ``private, no-cache``). Pages and API answers show personal data or depend on who
    asks, so neither the browser nor a proxy keeps them; static files keep Flask's revalidated caching.
    """
    headers = security_headers(app.config)

    @app.after_request
    def _add_security_headers(response: Response) -> Response:
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        if request.endpoint != "static" and "Cache-Control" not in response.headers:
            response.headers["Cache-Control"] = "no-store"
        return response
