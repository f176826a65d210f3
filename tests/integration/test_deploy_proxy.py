"""docs/deploy's nginx in front of a node with TRUSTED_PROXY_COUNT=1: limits key on each client, never on a spoof.

nginx (the deployment's own files, pointed at a free port and a self-signed certificate)
terminates TLS in front of gunicorn. Clients connect from different loopback addresses
(127.0.0.2, 127.0.0.3) while nginx reaches the node from 127.0.0.1, so the test tells apart the
client's address, the proxy's and one a client wrote into ``X-Forwarded-For`` itself.
"""

from __future__ import annotations

import http.client
import os
import shutil
import ssl
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.multinode import http_redirect, https_ok, nginx_config, self_signed_certificate, start_nginx
from scheduler.app import create_app
from scheduler.extensions import db
from tests.conftest import app_config
from tests.processes import start_process, stop_process, wait_for, wait_until_serving
from tests.smtp_server import free_port

pytestmark = pytest.mark.slow

LIMIT = 3  # anonymous API requests per address and minute, for this test


@pytest.fixture
def proxied(fresh_database_url: str, tmp_path: Path, restore_jobs: None) -> Iterator[dict[str, Any]]:
    if not shutil.which("nginx"):
        if os.environ.get("CI"):
            pytest.fail("CI tests the deployment's nginx configuration: install nginx (.ci/run does)")
        pytest.skip("nginx is not installed")
    settings = app_config(fresh_database_url, tmp_path, OKNO_ENV="development", TRUSTED_PROXY_COUNT="1",
                          API_RATE_LIMIT=f"{LIMIT} per minute", JOBS_SQLITE_PATH=str(tmp_path / "jobs.sqlite"))
    app = create_app(settings, instance_path=str(tmp_path))
    with app.app_context():
        db.create_all()
        db.session.remove()
        db.engine.dispose()
    node_port, http_port, https_port = free_port(), free_port(), free_port()
    env = {**os.environ, **settings, "OKNO_INSTANCE_PATH": str(tmp_path)}
    node_log, nginx_log = tmp_path / "gunicorn.log", tmp_path / "nginx.log"
    node = start_process([sys.executable, "-m", "gunicorn", "--workers", "1", "--threads", "4",
                          "--bind", f"127.0.0.1:{node_port}", "wsgi:app"], env, node_log)
    nginx = None
    try:
        wait_until_serving(f"http://127.0.0.1:{node_port}", node, [node_log])
        tls = self_signed_certificate(tmp_path / "nginx")
        # The upstream file names two nodes; both lines point at this one.
        nginx = start_nginx(nginx_config(tmp_path, [node_port, node_port], http_port, https_port), nginx_log)
        wait_for(lambda: nginx.poll() is not None or https_ok(https_port, tls), what="nginx answering")
        assert nginx.poll() is None, nginx_log.read_text()
        yield {"https_port": https_port, "http_port": http_port, "tls": tls}
    finally:
        if nginx is not None:
            stop_process(nginx)
        stop_process(node)


def get_topics(port: int, tls: ssl.SSLContext, source: str, forwarded_for: str | None = None) -> int:
    connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=30, context=tls, source_address=(source, 0))
    try:
        headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
        connection.request("GET", "/api/v1/topics", headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def test_limits_key_on_the_client_behind_nginx_and_ignore_a_spoofed_forwarded_for(proxied: dict[str, Any]) -> None:
    port, tls = proxied["https_port"], proxied["tls"]
    # One client naming a new address each time: were the header trusted, each would get its own allowance.
    spoofing = [get_topics(port, tls, "127.0.0.2", forwarded_for=f"198.51.100.{n}") for n in range(LIMIT + 1)]
    assert spoofing == [200] * LIMIT + [429]
    # Another client behind the same proxy keeps its own allowance: the key is not the proxy's address.
    assert get_topics(port, tls, "127.0.0.3") == 200


def test_plain_http_is_redirected_to_https(proxied: dict[str, Any]) -> None:
    assert http_redirect(proxied["http_port"]) == "https://okno.example.org/healthz"
