"""End-to-end fixtures: a real server (gunicorn) and mail worker on a fresh database, and headless Chromium.

The server and the worker are the production entry points (``gunicorn wsgi:app`` and ``flask --app wsgi
worker``), started as subprocesses with environment settings; their mail goes to an aiosmtpd server in
this process, so a test reads what was really delivered.

Every browser context records Content-Security-Policy violations; a test fails on any (``no_csp_violations``).

Chromium is Debian's (``/usr/bin/chromium``, or ``OKNO_CHROMIUM``); without it the browser tests skip,
unless ``OKNO_REQUIRE_BROWSER=1`` (CI), where a missing browser is a failure.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from scheduler.app import create_app
from scheduler.extensions import db
from tests.booking_fixtures import bookable_setup
from tests.conftest import app_config
from tests.processes import start_process, stop_process, wait_for, wait_until_serving
from tests.smtp_server import RecordingHandler, free_port, smtp_server

CHROMIUM = os.environ.get("OKNO_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@dataclass
class LiveServer:
    """A running okno: where it answers, the mail it delivered, and the demo setup it serves."""

    url: str
    database_url: str
    mail: RecordingHandler
    topic_slug: str
    topic_title: str
    expert_ids: list[int]
    logs: list[Path] = field(default_factory=list)

    def log_tail(self, chars: int = 4000) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-chars:]}" for p in self.logs if p.exists())

    def messages_to(self, address: str) -> list[Message]:
        with self.mail.lock:
            return [m for m in self.mail.messages if address in str(m["To"])]

    def wait_for_mail(self, address: str, count: int, timeout: float = 30.0) -> list[Message]:
        """The first ``count`` messages delivered to ``address``, waiting for the worker to send them."""
        try:
            return wait_for(lambda: (found := self.messages_to(address)) and len(found) >= count and found,
                            timeout, f"{count} delivered message(s) to {address}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.log_tail()}") from None

    @staticmethod
    def message_text(message: Message) -> str:
        body = message.get_body(preferencelist=("plain",))  # type: ignore[attr-defined]
        assert body is not None, "the email has no text part"
        return str(body.get_content())

    def confirmation_code(self, message: Message) -> str:
        """The 6-digit code of a ``booking_code`` email."""
        text = self.message_text(message)
        match = re.search(r"\b(\d{6})\b", text)
        assert match, f"no 6-digit code in the email:\n{text}"
        return match.group(1)


def server_env(database_url: str, instance: Path, smtp_port: int, base_url: str, **overrides: str) -> dict[str, str]:
    """Environment settings for the server and the worker: development mode, real SMTP, the worker nudged."""
    settings = app_config(
        database_url, instance, OKNO_ENV="development", SMTP_HOST="127.0.0.1", SMTP_PORT=str(smtp_port),
        SMTP_STARTTLS="0", OUTBOX_NOTIFY_WORKER="1", JOBS_SQLITE_PATH=str(instance / "jobs.sqlite"),
        PUBLIC_BASE_URL=base_url, **overrides,
    )
    return {**os.environ, **settings, "OKNO_INSTANCE_PATH": str(instance)}


def seed_demo(database_url: str, instance: Path) -> dict[str, Any]:
    """Create the schema and commit a bookable setup (a video topic, two experts on weekday mornings)."""
    app = create_app(app_config(database_url, instance), instance_path=str(instance))
    with app.app_context():
        db.create_all()
        setup = bookable_setup(db.session)
        facts = {"topic_slug": setup.topic.slug, "topic_title": setup.topic.title,
                 "expert_ids": [e.id for e in setup.experts]}
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return facts


@pytest.fixture
def live_server(fresh_database_url: str, tmp_path: Path, restore_jobs: None) -> Iterator[LiveServer]:
    facts = seed_demo(fresh_database_url, tmp_path)
    with smtp_server() as (handler, smtp_port):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = server_env(fresh_database_url, tmp_path, smtp_port, url)
        logs = [tmp_path / "worker.log", tmp_path / "gunicorn.log"]
        worker = start_process([sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--workers", "2"],
                               env, logs[0])
        server = start_process(
            [sys.executable, "-m", "gunicorn", "--workers", "2", "--worker-class", "gthread", "--threads", "4",
             "--bind", f"127.0.0.1:{port}", "--graceful-timeout", "5", "--access-logfile", "-", "wsgi:app"],
            env, logs[1],
        )
        try:
            wait_until_serving(url, server, logs)
            yield LiveServer(url=url, database_url=fresh_database_url, mail=handler, logs=logs, **facts)
        finally:
            stop_process(server)
            stop_process(worker)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if Path(CHROMIUM).exists():
        return CHROMIUM
    reason = f"no Chromium at {CHROMIUM} (install Debian's chromium package, or set OKNO_CHROMIUM)"
    if os.environ.get("OKNO_REQUIRE_BROWSER") == "1":
        pytest.fail(f"OKNO_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(reason)


AXE_CORE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"

# Every page reports a Content-Security-Policy violation to the console, where the context's listener
# collects it (Chromium logs one itself too; the event adds the directive and the blocked address).
CSP_REPORTER = """
document.addEventListener("securitypolicyviolation", function (e) {
  console.error("CSP violation: " + e.effectiveDirective + " blocked " + (e.blockedURI || "inline") +
                " at " + e.sourceFile + ":" + e.lineNumber);
});
"""
CSP_VIOLATIONS: list[str] = []


class WatchedBrowser:
    """The browser, whose every new context records CSP violations and has axe-core at hand.

    Both scripts are init scripts, which the page's policy does not govern: a ``<script>`` tag added
    to the page would itself be refused as inline script.
    """

    def __init__(self, browser: Any) -> None:
        self._browser = browser

    def new_context(self, **kwargs: Any) -> Any:
        context = self._browser.new_context(**kwargs)
        context.add_init_script(script=CSP_REPORTER)
        context.add_init_script(path=str(AXE_CORE))
        context.on("console", _record_csp_violation)
        return context

    def __getattr__(self, name: str) -> Any:
        return getattr(self._browser, name)


def _record_csp_violation(message: Any) -> None:
    text = message.text
    if message.type == "error" and ("Content Security Policy" in text or text.startswith("CSP violation")):
        url = message.page.url if message.page else "?"
        CSP_VIOLATIONS.append(f"{url}: {text}")


@pytest.fixture(scope="session")
def browser(chromium_path: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True)
        try:
            yield WatchedBrowser(launched)
        finally:
            launched.close()


@pytest.fixture(autouse=True)
def no_csp_violations() -> Iterator[None]:
    """Every browser test fails if any page it visited broke the Content-Security-Policy."""
    CSP_VIOLATIONS.clear()
    yield
    found, CSP_VIOLATIONS[:] = list(CSP_VIOLATIONS), []
    assert found == [], "Content-Security-Policy violations:\n" + "\n".join(found)


def assert_no_csp_violations() -> None:
    assert CSP_VIOLATIONS == [], "Content-Security-Policy violations:\n" + "\n".join(CSP_VIOLATIONS)


PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 3, "is_mobile": True, "has_touch": True}


@pytest.fixture
def phone_page(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    """A phone-sized Russian page (390×844, touch) with the live server as its base URL."""
    context = browser.new_context(**PHONE, locale="ru-RU", timezone_id="Europe/Moscow", base_url=live_server.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


def assert_accessible(page: Any) -> None:
    """axe-core (vendored from npm, pinned in package.json) finds nothing on the page as it stands, and no
    page so far has broken the Content-Security-Policy."""
    assert_no_csp_violations()
    # The page as it settles: mid-way through a CSS transition (Pico fades a button's colours in
    # 0.2 s) axe would measure a colour contrast that nobody sees for longer than that. (Awaited in
    # the page: wait_for_function would evaluate a string, which the page's CSP forbids.)
    page.evaluate("Promise.race([new Promise(done => setTimeout(done, 2000)),"
                  " Promise.all(document.getAnimations().map(a => a.finished.catch(() => null)))])")
    violations = page.evaluate(
        "axe.run(document).then(r => r.violations.map(v => ({id: v.id, help: v.help,"
        " nodes: v.nodes.map(n => n.target.join(' '))})))")
    assert violations == [], f"{page.url}: {violations}"
