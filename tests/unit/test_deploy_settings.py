"""The deployment files in docs/deploy name only settings the app reads, and their production example starts."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from scheduler.app import PROJECT_ROOT
from scheduler.config import build_config, check_production

DEPLOY = PROJECT_ROOT / "docs" / "deploy"
# Read by the database container, and by prometheus-client (a directory per gunicorn), not by okno's config.
NOT_OKNO_CONFIG = {"POSTGRES_PASSWORD", "POSTGRES_USER", "POSTGRES_DB", "PROMETHEUS_MULTIPROC_DIR"}


class RecordingEnvironment(dict[str, str]):
    """An environment that remembers every name the configuration looks up."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.read: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        return super().__getitem__(key)


def settings_read(tmp_path: Path) -> set[str]:
    environment = RecordingEnvironment({"SECRET_KEY": "x" * 40})
    build_config(environment, tmp_path)
    return environment.read | {"OKNO_INSTANCE_PATH"}  # create_app reads it to find the instance folder


def env_example() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in (DEPLOY / "env.example").read_text().splitlines()
             if line.strip() and not line.startswith("#"))
    return {name: value for name, value in pairs}


def compose_settings() -> dict[str, str]:
    """The shared ``environment`` block of compose.yaml (under the ``x-okno`` anchor)."""
    block = (DEPLOY / "compose.yaml").read_text().split("environment: &okno-env\n", 1)[1]
    settings = {}
    for line in block.splitlines():
        match = re.fullmatch(r" {4}([A-Z][A-Z0-9_]*): (.*?)(?:\s+#.*)?", line)
        if match is None:
            break
        settings[match[1]] = match[2].strip('"')
    return settings


def systemd_settings() -> set[str]:
    return {name for unit in (DEPLOY / "systemd").glob("*.service")
            for name in re.findall(r"^Environment=([A-Z][A-Z0-9_]*)=", unit.read_text(), re.MULTILINE)}


@pytest.mark.parametrize("source", ["env.example", "compose.yaml", "systemd"])
def test_deployment_files_name_only_settings_the_app_reads(source: str, tmp_path: Path) -> None:
    named = {"env.example": lambda: set(env_example()), "compose.yaml": lambda: set(compose_settings()),
             "systemd": systemd_settings}[source]()
    assert named, f"no settings found in {source}"
    assert named - settings_read(tmp_path) - NOT_OKNO_CONFIG == set()


def test_the_production_example_starts_once_filled_in(tmp_path: Path) -> None:
    settings = {**env_example(), "SECRET_KEY": "a-random-value-of-at-least-thirty-two-characters"}
    config = build_config(settings, tmp_path)
    check_production(config)  # raises ConfigError on anything unsafe
    assert config["TRUSTED_PROXY_COUNT"] == 1 and config["RATELIMIT_STORAGE_URI"] == settings["REDIS_URL"]


def test_compose_nodes_trust_exactly_one_proxy_and_share_redis() -> None:
    settings = compose_settings()
    assert settings["OKNO_ENV"] == "production"
    assert settings["TRUSTED_PROXY_COUNT"] == "1"  # nginx, the only service that reaches the nodes
    assert settings["REDIS_URL"].startswith("redis://redis:")
    assert "${SECRET_KEY:?" in settings["SECRET_KEY"]  # one key, required, for every node
