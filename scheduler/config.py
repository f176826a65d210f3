"""Configuration read from the environment (and a .env file), with production safety checks."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from scheduler.connection_checks import engine_options
from scheduler.privacy.policy import SETTINGS as RETENTION_SETTINGS

ENVIRONMENTS = ("development", "production", "testing")

# A key shorter than this is guessable enough to forge session cookies.
MIN_SECRET_KEY_LENGTH = 32
# A metrics bearer token shorter than this could be guessed.
MIN_METRICS_TOKEN_LENGTH = 24


class ConfigError(RuntimeError):
    """The configuration is unsafe or inconsistent; the app refuses to start."""


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from exc


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc


READINESS_CHECKS = ("database", "redis", "worker", "outbox")


def _readiness_fail_on(env: Mapping[str, str]) -> tuple[str, ...]:
    """The readiness checks whose failure takes the node out of rotation (503); the rest only degrade it."""
    names = tuple(n.strip() for n in env.get("READY_FAIL_ON", "database").split(",") if n.strip())
    unknown = [n for n in names if n not in READINESS_CHECKS]
    if unknown:
        raise ConfigError(f"READY_FAIL_ON names unknown checks {unknown}; choose from {', '.join(READINESS_CHECKS)}")
    return names


def redis_client_options(config: Mapping[str, Any]) -> dict[str, float]:
    """Timeouts for every Redis client a request uses: a dead or unreachable Redis fails fast, never hangs."""
    return {"socket_connect_timeout": config["REDIS_CONNECT_TIMEOUT_SECONDS"],
            "socket_timeout": config["REDIS_SOCKET_TIMEOUT_SECONDS"]}


def normalise_database_url(url: str) -> str:
    """Point plain PostgreSQL URLs at psycopg 3, the driver we ship."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _instance_secret_key(instance_path: Path) -> str:
    """A development key generated once and kept in the instance folder."""
    path = instance_path / "secret_key"
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key


def url_settings(public_base_url: str) -> dict[str, str]:
    """Flask's settings that make ``url_for(..., _external=True)`` yield PUBLIC_BASE_URL, in a request or not.

    Since Flask 3.1, SERVER_NAME names the host of built links without restricting which hosts are
    served, so the app still answers on 127.0.0.1 or behind a proxy under another name.
    """
    parts = urlsplit(public_base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigError(f"PUBLIC_BASE_URL must be an http(s) address like https://okno.example.org, "
                          f"got {public_base_url!r}")
    return {"SERVER_NAME": parts.netloc, "PREFERRED_URL_SCHEME": parts.scheme, "APPLICATION_ROOT": parts.path or "/"}


def log_format_from(env: Mapping[str, str]) -> str:
    """``LOG_FORMAT``: human-readable ``text`` (default) or ``json``, one object per line."""
    log_format = env.get("LOG_FORMAT", "text").strip().lower() or "text"
    if log_format not in ("text", "json"):
        raise ConfigError(f"LOG_FORMAT must be text or json, got {log_format!r}")
    return log_format


def _outbox_lease_seconds(env: Mapping[str, str]) -> int:
    seconds = _int(env, "OUTBOX_LEASE_SECONDS", 30)
    if seconds < 3:  # renewed every third of it: shorter leaves no room for a slow database
        raise ConfigError(f"OUTBOX_LEASE_SECONDS must be at least 3, got {seconds}")
    return seconds


def _retention_settings(env: Mapping[str, str]) -> dict[str, int]:
    settings = {name: _int(env, name, default) for name, default in RETENTION_SETTINGS.values()}
    for name, days in settings.items():
        if days < 1:
            raise ConfigError(f"{name} must be at least 1 (days), got {days}")
    return settings


def build_config(env: Mapping[str, str], instance_path: Path) -> dict[str, Any]:
    """Turn environment variables into Flask configuration values.

    ``OKNO_ENV`` selects development (default), production or testing; production refuses
    unsafe defaults (see ``check_production``).
    """
    environment = env.get("OKNO_ENV", "development")
    if environment not in ENVIRONMENTS:
        raise ConfigError(f"OKNO_ENV must be one of {', '.join(ENVIRONMENTS)}, got {environment!r}")
    production = environment == "production"

    database_url = env.get("DATABASE_URL") or f"sqlite:///{instance_path / 'okno.sqlite'}"
    secret_key = env.get("SECRET_KEY") or ("" if production else _instance_secret_key(instance_path))
    redis_url = env.get("REDIS_URL", "")
    default_tz = env.get("DEFAULT_TIMEZONE", "Europe/Moscow")
    public_base_url = env.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000").rstrip("/")
    try:
        ZoneInfo(default_tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"DEFAULT_TIMEZONE {default_tz!r} is not an IANA time zone") from exc
    log_format = log_format_from(env)
    ratelimit_storage = env.get("RATELIMIT_STORAGE_URI") or redis_url or "memory://"
    pool_ping_idle = _float(env, "POOL_PING_IDLE_SECONDS", 1.0)
    redis_timeouts = {"socket_connect_timeout": _float(env, "REDIS_CONNECT_TIMEOUT_SECONDS", 1.0),
                      "socket_timeout": _float(env, "REDIS_SOCKET_TIMEOUT_SECONDS", 2.0)}

    return {
        "OKNO_ENV": environment,
        "TESTING": environment == "testing",
        "SECRET_KEY": secret_key,
        # Previous keys, comma-separated: they still open sessions and sealed data, never seal (rotation).
        "SECRET_KEY_FALLBACKS": [k.strip() for k in env.get("SECRET_KEY_FALLBACKS", "").split(",") if k.strip()],
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(database_url),
        "SQLALCHEMY_DATABASE_URI_EXPLICIT": bool(env.get("DATABASE_URL")),
        # A pooled connection idle this long is tested before it is lent (scheduler/connection_checks.py).
        "POOL_PING_IDLE_SECONDS": pool_ping_idle,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options(pool_ping_idle),
        "PUBLIC_BASE_URL": public_base_url,
        **url_settings(public_base_url),
        "DEFAULT_TIMEZONE": default_tz,
        "REDIS_URL": redis_url,
        # Free slots shown (the API, the citizen's pages, a refused booking's alternatives) may be
        # this old at most; booking always re-checks uncached (booking/slot_cache.py). 0: no cache.
        "SLOT_CACHE_SECONDS": _float(env, "SLOT_CACHE_SECONDS", 0.0 if environment == "testing" else 10.0),
        # The API's encoded answer to one slot question, sent again to the same question while nothing changed.
        "SLOT_ANSWER_SECONDS": _float(env, "SLOT_ANSWER_SECONDS", 1.0),
        # Mail
        "SMTP_HOST": env.get("SMTP_HOST", ""),
        "SMTP_PORT": _int(env, "SMTP_PORT", 587),
        "SMTP_USER": env.get("SMTP_USER", ""),
        "SMTP_PASSWORD": env.get("SMTP_PASSWORD", ""),
        "SMTP_STARTTLS": _bool(env.get("SMTP_STARTTLS"), default=True),
        "SMTP_SSL": _bool(env.get("SMTP_SSL")),
        "SMTP_TIMEOUT": _int(env, "SMTP_TIMEOUT", 30),
        "MAIL_FROM": env.get("MAIL_FROM", "okno <no-reply@okno.example.org>"),
        "MAIL_FILE_DIR": env.get("MAIL_FILE_DIR", str(instance_path / "mail")),
        "OUTBOX_MAX_ATTEMPTS": _int(env, "OUTBOX_MAX_ATTEMPTS", 10),
        "OUTBOX_BACKOFF_SECONDS": _int(env, "OUTBOX_BACKOFF_SECONDS", 30),
        "OUTBOX_BACKOFF_MAX_SECONDS": _int(env, "OUTBOX_BACKOFF_MAX_SECONDS", 3600),
        # How long a killed worker's message waits before another worker sends it; a live worker
        # renews the lease every third of it while sending (see scheduler.mail.delivery.RetryPolicy).
        "OUTBOX_LEASE_SECONDS": _outbox_lease_seconds(env),
        "OUTBOX_NOTIFY_WORKER": _bool(env.get("OUTBOX_NOTIFY_WORKER"), default=True),
        # Jobs: huey on SQLite in the instance folder unless Redis is configured.
        "JOBS_SQLITE_PATH": env.get("JOBS_SQLITE_PATH", str(instance_path / "jobs.sqlite")),
        # Sessions and cookies
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": production or _bool(env.get("SESSION_COOKIE_SECURE")),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": production or _bool(env.get("SESSION_COOKIE_SECURE")),
        "PERMANENT_SESSION_LIFETIME": _int(env, "SESSION_LIFETIME_SECONDS", 8 * 3600),
        "WTF_CSRF_TIME_LIMIT": _int(env, "CSRF_TIME_LIMIT_SECONDS", 8 * 3600),
        # Proxies: how many hops in front of the app set X-Forwarded-*; 0 trusts no header, since
        # a client could otherwise name any address and escape its rate limits.
        "TRUSTED_PROXY_COUNT": _int(env, "TRUSTED_PROXY_COUNT", 0),
        # Security headers (scheduler/security_headers.py): HSTS is sent in production only, for this long.
        "HSTS_MAX_AGE_SECONDS": _int(env, "HSTS_MAX_AGE_SECONDS", 365 * 24 * 3600),
        # Rate limits
        "RATELIMIT_STORAGE_URI": ratelimit_storage,
        "RATELIMIT_ENABLED": _bool(env.get("RATELIMIT_ENABLED"), default=True),
        # No X-RateLimit-* headers on every answer: each would cost a request one more round trip to
        # the storage; a 429 still says when to retry (Retry-After, scheduler/ratelimits.py).
        "RATELIMIT_HEADERS_ENABLED": False,
        "LOGIN_RATE_LIMIT": env.get("LOGIN_RATE_LIMIT", "10 per 5 minutes"),
        "LOGIN_ADDRESS_RATE_LIMIT": env.get("LOGIN_ADDRESS_RATE_LIMIT", "100 per 5 minutes"),
        # Redis outages: requests keep being served. Rate limits fall back to per-process memory
        # (Flask-Limiter's in-memory fallback, retried with backoff) and the worker nudge is skipped
        # (the minute sweep delivers); both are logged as errors. See README "Health and readiness".
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "REDIS_CONNECT_TIMEOUT_SECONDS": redis_timeouts["socket_connect_timeout"],
        "REDIS_SOCKET_TIMEOUT_SECONDS": redis_timeouts["socket_timeout"],
        "RATELIMIT_STORAGE_OPTIONS": redis_timeouts if ratelimit_storage.startswith("redis") else {},
        # Readiness (/readyz): a worker heartbeat older than this, or an outbox message waiting longer,
        # is a failing check; READY_FAIL_ON lists the checks whose failure answers 503.
        "READY_WORKER_STALE_SECONDS": _int(env, "READY_WORKER_STALE_SECONDS", 180),
        "READY_OUTBOX_MAX_AGE_SECONDS": _int(env, "READY_OUTBOX_MAX_AGE_SECONDS", 900),
        "READY_FAIL_ON": _readiness_fail_on(env),
        # Booking
        "BOOKING_HOLD_MINUTES": _int(env, "BOOKING_HOLD_MINUTES", 15),
        "BOOKING_ACTIVE_PER_TOPIC": _int(env, "BOOKING_ACTIVE_PER_TOPIC", 1),
        "BOOKING_CODE_ATTEMPTS": _int(env, "BOOKING_CODE_ATTEMPTS", 5),
        "BOOKING_HOLD_RATE_LIMIT": env.get("BOOKING_HOLD_RATE_LIMIT", "10 per hour"),
        "BOOKING_HOLD_ADDRESS_RATE_LIMIT": env.get("BOOKING_HOLD_ADDRESS_RATE_LIMIT", "60 per hour"),
        "BOOKING_CODE_RATE_LIMIT": env.get("BOOKING_CODE_RATE_LIMIT", "20 per hour"),
        "EMAIL_CHECK_DELIVERABILITY": _bool(env.get("EMAIL_CHECK_DELIVERABILITY"), default=production),
        "API_RATE_LIMIT": env.get("API_RATE_LIMIT", "300 per minute"),
        "API_PARTNER_RATE_LIMIT": env.get("API_PARTNER_RATE_LIMIT", "6000 per minute"),
        # How long a process trusts a partner key it verified (a revocation elsewhere takes this long at most).
        "API_KEY_CACHE_SECONDS": _float(env, "API_KEY_CACHE_SECONDS", 0.0 if environment == "testing" else 5.0),
        # How long a process may use the topics it read: the list of GET /api/v1/topics, and a topic the API
        # searches or books (booking/api/catalogue.py; 0: read them every time).
        "TOPICS_CACHE_SECONDS": _float(env, "TOPICS_CACHE_SECONDS", 0.0 if environment == "testing" else 5.0),
        "MAGIC_LINK_MAX_AGE_SECONDS": _int(env, "MAGIC_LINK_MAX_AGE_SECONDS", 24 * 3600),
        # Video (Jitsi Meet): see the README section "Running the video server"
        "JITSI_URL": env.get("JITSI_URL", "https://meet.jit.si").rstrip("/"),
        "JITSI_APP_ID": env.get("JITSI_APP_ID", ""),
        "JITSI_APP_SECRET": env.get("JITSI_APP_SECRET", ""),
        "JITSI_PRIVATE_KEY_FILE": env.get("JITSI_PRIVATE_KEY_FILE", ""),
        "JITSI_KEY_ID": env.get("JITSI_KEY_ID", ""),
        "JITSI_AUDIENCE": env.get("JITSI_AUDIENCE", "jitsi"),
        "VIDEO_OPENS_MINUTES_BEFORE": _int(env, "VIDEO_OPENS_MINUTES_BEFORE", 10),
        "VIDEO_CLOSES_MINUTES_AFTER": _int(env, "VIDEO_CLOSES_MINUTES_AFTER", 30),
        "VIDEO_CITIZEN_DISPLAY_NAME": env.get("VIDEO_CITIZEN_DISPLAY_NAME", "first_name"),
        # Expert calendar feeds
        "FEED_PAST_DAYS": _int(env, "FEED_PAST_DAYS", 30),
        "FEED_FUTURE_DAYS": _int(env, "FEED_FUTURE_DAYS", 180),
        "FEED_REFRESH_MINUTES": _int(env, "FEED_REFRESH_MINUTES", 15),
        # Reception desk
        "RECEPTION_EARLY_MINUTES": _int(env, "RECEPTION_EARLY_MINUTES", 60),
        "RECEPTION_LATE_MINUTES": _int(env, "RECEPTION_LATE_MINUTES", 15),
        "RECEPTION_NO_SHOW_GRACE_MINUTES": _int(env, "RECEPTION_NO_SHOW_GRACE_MINUTES", 15),
        # Follow-up tickets
        "TICKET_DUE_SOON_HOURS": _int(env, "TICKET_DUE_SOON_HOURS", 24),
        "TICKET_CONFIRMATION_DAYS": _int(env, "TICKET_CONFIRMATION_DAYS", 7),
        # Operations: log lines as text or one JSON object each; /metrics behind a bearer token (in
        # production without one it stays closed unless the network in front guards it).
        "LOG_FORMAT": log_format,
        "METRICS_TOKEN": env.get("METRICS_TOKEN", ""),
        "METRICS_ALLOW_ANONYMOUS": _bool(env.get("METRICS_ALLOW_ANONYMOUS")),
        # Personal data: each kind's retention period in days (scheduler/privacy/policy.py has the
        # defaults), and the operator named on the public policy page with the address for requests.
        **_retention_settings(env),
        "PRIVACY_OPERATOR": env.get("PRIVACY_OPERATOR", "okno"),
        "PRIVACY_CONTACT_EMAIL": env.get("PRIVACY_CONTACT_EMAIL", "privacy@okno.example.org"),
        # Language
        "BABEL_DEFAULT_LOCALE": "ru",
        "BABEL_DEFAULT_TIMEZONE": default_tz,
        "LANGUAGES": ("ru", "en"),
    }


def check_production(config: Mapping[str, Any]) -> None:
    """Refuse to run production on defaults that are only safe on a developer's laptop."""
    problems: list[str] = []
    key = config.get("SECRET_KEY") or ""
    if len(key) < MIN_SECRET_KEY_LENGTH:
        problems.append(f"SECRET_KEY must be set to a random value of at least {MIN_SECRET_KEY_LENGTH} characters")
    if not config.get("SQLALCHEMY_DATABASE_URI_EXPLICIT"):
        problems.append("DATABASE_URL must be set explicitly (PostgreSQL in production)")
    if not str(config.get("PUBLIC_BASE_URL", "")).startswith("https://"):
        problems.append("PUBLIC_BASE_URL must be an https:// address")
    if not config.get("SMTP_HOST"):
        problems.append("SMTP_HOST must be set: production mail is never written to files")
    if str(config.get("RATELIMIT_STORAGE_URI", "")).startswith("memory://"):
        problems.append("REDIS_URL (or RATELIMIT_STORAGE_URI) must be set: in-memory rate limits are per process")
    if config.get("METRICS_TOKEN") and len(config["METRICS_TOKEN"]) < MIN_METRICS_TOKEN_LENGTH:
        problems.append(f"METRICS_TOKEN must be a random value of at least {MIN_METRICS_TOKEN_LENGTH} characters")
    if problems:
        raise ConfigError("unsafe production configuration:\n  - " + "\n  - ".join(problems))


def load_environment(instance_path: Path) -> dict[str, str]:
    """The process environment, over a ``.env`` file in the working directory if one exists."""
    from dotenv import dotenv_values

    values: dict[str, str] = {}
    dotenv_path = Path.cwd() / ".env"
    if dotenv_path.exists():
        values.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
    values.update(os.environ)
    return values
