"""Configuration: what production refuses, and what development provides by itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from scheduler.config import ConfigError, build_config, check_production, normalise_database_url

SAFE_PRODUCTION = {
    "OKNO_ENV": "production",
    "SECRET_KEY": "x" * 48,
    "DATABASE_URL": "postgresql://okno@db/okno",
    "PUBLIC_BASE_URL": "https://okno.example.org",
    "SMTP_HOST": "smtp.example.org",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
}


def test_safe_production_configuration_is_accepted(tmp_path: Path) -> None:
    config = build_config(SAFE_PRODUCTION, tmp_path)
    check_production(config)
    assert config["SESSION_COOKIE_SECURE"] is True
    assert config["REMEMBER_COOKIE_SECURE"] is True
    assert config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql+psycopg://")


@pytest.mark.parametrize(
    ("missing", "value", "complaint"),
    [
        ("SECRET_KEY", "", "SECRET_KEY"),
        ("SECRET_KEY", "short-key", "SECRET_KEY"),
        ("DATABASE_URL", "", "DATABASE_URL"),
        ("PUBLIC_BASE_URL", "http://okno.example.org", "https://"),
        ("SMTP_HOST", "", "SMTP_HOST"),
        ("REDIS_URL", "", "REDIS_URL"),
        ("METRICS_TOKEN", "guessable", "METRICS_TOKEN"),
    ],
)
def test_production_refuses_unsafe_defaults(tmp_path: Path, missing: str, value: str, complaint: str) -> None:
    env = dict(SAFE_PRODUCTION, **{missing: value})
    with pytest.raises(ConfigError, match=complaint):
        check_production(build_config(env, tmp_path))


def test_production_app_refuses_to_start_without_secret(tmp_path: Path) -> None:
    from scheduler.app import create_app

    env = dict(SAFE_PRODUCTION, SECRET_KEY="")
    with pytest.raises(ConfigError):
        create_app(env, instance_path=str(tmp_path))


def test_development_secret_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = build_config({}, tmp_path)["SECRET_KEY"]
    second = build_config({}, tmp_path)["SECRET_KEY"]
    assert len(first) >= 32
    assert first == second
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_development_defaults_to_sqlite_in_the_instance_folder(tmp_path: Path) -> None:
    config = build_config({}, tmp_path)
    assert config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'okno.sqlite'}"
    assert config["MAIL_FILE_DIR"] == str(tmp_path / "mail")
    assert config["SESSION_COOKIE_HTTPONLY"] is True
    assert config["OUTBOX_LEASE_SECONDS"] == 30  # a killed worker's mail waits half a minute, not five


@pytest.mark.parametrize(
    ("env", "complaint"),
    [
        ({"OKNO_ENV": "staging"}, "OKNO_ENV"),
        ({"DEFAULT_TIMEZONE": "Mars/Olympus"}, "DEFAULT_TIMEZONE"),
        ({"SMTP_PORT": "twenty-five"}, "SMTP_PORT"),
        ({"OUTBOX_LEASE_SECONDS": "2"}, "OUTBOX_LEASE_SECONDS"),
        ({"RETENTION_BOOKINGS_DAYS": "0"}, "RETENTION_BOOKINGS_DAYS"),
        ({"RETENTION_OUTBOX_DAYS": "a week"}, "RETENTION_OUTBOX_DAYS"),
    ],
)
def test_inconsistent_settings_are_refused_with_their_name(tmp_path: Path, env: dict[str, str], complaint: str) -> None:
    with pytest.raises(ConfigError, match=complaint):
        build_config(env, tmp_path)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u@h/d", "postgresql+psycopg://u@h/d"),
        ("postgres://u@h/d", "postgresql+psycopg://u@h/d"),
        ("postgresql+psycopg://u@h/d", "postgresql+psycopg://u@h/d"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_postgres_urls_use_psycopg3(url: str, expected: str) -> None:
    assert normalise_database_url(url) == expected


def test_log_format_is_text_or_json(tmp_path: Path) -> None:
    assert build_config({}, tmp_path)["LOG_FORMAT"] == "text"
    assert build_config({"LOG_FORMAT": "JSON"}, tmp_path)["LOG_FORMAT"] == "json"
    with pytest.raises(ConfigError, match="LOG_FORMAT"):
        build_config({"LOG_FORMAT": "xml"}, tmp_path)
