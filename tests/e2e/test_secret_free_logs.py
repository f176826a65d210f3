"""No log line holds a secret token: a whole citizen journey against a real gunicorn (with okno's logger, as the
README runs it), its worker and a real SMTP server, and a few requests to the development server.

Every token the journey is given (the manage, video and invitation links, the personal-page link, a ticket
link, an expert's calendar feed) is taken from what was really delivered or issued, then looked for in the
access log, the error log and everything the server and the worker wrote.
"""

from __future__ import annotations

import http.cookiejar
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from booking.links import ics_url, manage_url
from booking.models import Booking
from booking.tickets import services as tickets
from booking.workspace.feed import issue_feed_token
from scheduler.app import create_app
from scheduler.audit import Actor
from scheduler.experts.models import Expert
from scheduler.extensions import db
from tests.booking_fixtures import CITIZEN_FORM, next_working_day
from tests.e2e.conftest import seed_demo, server_env
from tests.processes import start_process, stop_process, wait_for, wait_until_serving
from tests.smtp_server import RecordingHandler, free_port, smtp_server
from tests.ticket_fixtures import complete

pytestmark = [pytest.mark.slow]

CITIZEN = {**CITIZEN_FORM, "email": "logs.citizen@example.org"}


@dataclass
class Server:
    url: str
    database_url: str
    instance: Path
    mail: RecordingHandler
    facts: dict[str, Any]
    logs: list[Path]
    env: dict[str, str]

    def mail_to(self, address: str, count: int) -> list[Message]:
        def delivered() -> list[Message]:
            with self.mail.lock:
                found = [m for m in self.mail.messages if address in str(m["To"])]
            return found if len(found) >= count else []

        return wait_for(delivered, 30, f"{count} message(s) to {address}")  # type: ignore[no-any-return]

    def app(self) -> Any:
        """The server's own settings: its links, and mail queued here wakes the server's worker."""
        return create_app(dict(self.env), instance_path=str(self.instance))


@pytest.fixture
def server(fresh_database_url: str, tmp_path: Path, restore_jobs: None) -> Iterator[Server]:
    facts = seed_demo(fresh_database_url, tmp_path)
    with smtp_server() as (handler, smtp_port):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = server_env(fresh_database_url, tmp_path, smtp_port, url)
        logs = [tmp_path / "access.log", tmp_path / "error.log", tmp_path / "server.out", tmp_path / "worker.out"]
        worker = start_process([sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--workers", "1"],
                               env, logs[3])
        gunicorn = start_process(
            [sys.executable, "-m", "gunicorn", "--config", "python:scheduler.gunicorn_conf", "--workers", "2",
             "--bind", f"127.0.0.1:{port}", "--graceful-timeout", "5",
             "--access-logfile", str(logs[0]), "--error-logfile", str(logs[1]), "wsgi:app"],
            env, logs[2],
        )
        try:
            wait_until_serving(url, gunicorn, logs)
            yield Server(url, fresh_database_url, tmp_path, handler, facts, logs, env)
        finally:
            stop_process(gunicorn)
            stop_process(worker)


class Browser:
    """A cookie-keeping HTTP client that follows redirects, as a browser does; a form's CSRF token comes from
    the page it was on."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def open(self, url: str, data: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> str:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        request = urllib.request.Request(url if url.startswith("http") else self.base + url, data=body,
                                         headers=headers or {})
        try:
            with self.opener.open(request, timeout=30) as response:
                return str(response.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:  # an answer all the same (422 form errors, 404s)
            return str(exc.read().decode("utf-8"))

    @staticmethod
    def csrf(page: str) -> str:
        match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
        assert match, page[:2000]
        return match.group(1)


def links_in(message: Message) -> list[str]:
    body = message.get_body(preferencelist=("plain",))  # type: ignore[attr-defined]
    assert body is not None
    return re.findall(r"https?://\S+", str(body.get_content()))


def secrets_in(url: str) -> list[str]:
    """The secret parts of an address: a ``token`` query value, or the token in ``/me/`` or ``/calendar/``."""
    parts = urllib.parse.urlsplit(url)
    found = urllib.parse.parse_qs(parts.query).get("token", [])
    found += re.findall(r"/(?:me|calendar)/([^/.?]+)", parts.path)
    return found


def test_a_whole_journey_leaves_no_token_in_any_log(server: Server) -> None:
    app = server.app()
    with app.app_context():
        expert = db.session.get(Expert, server.facts["expert_ids"][0])
        start = next_working_day(expert.department).isoformat() + "T10:00:00+03:00"
    slug = server.facts["topic_slug"]
    citizen = Browser(server.url)

    # Book a video consultation and confirm it with the emailed code.
    page = citizen.open(f"/book/{slug}?" + urllib.parse.urlencode({"channel": "video", "start": start}))
    form = {**CITIZEN, "csrf_token": Browser.csrf(page), "channel": "video", "start": start, "expert": "",
            "step": "review"}
    citizen.open(f"/book/{slug}", form)
    page = citizen.open(f"/book/{slug}", {**form, "step": "book"})
    code = re.search(r"\b(\d{6})\b", str(server.mail_to(CITIZEN["email"], 1)[0].get_body(
        preferencelist=("plain",)).get_content())).group(1)  # type: ignore[union-attr]
    page = citizen.open("/book/verify", {"code": code, "csrf_token": Browser.csrf(citizen.open("/book/verify"))})
    confirmed = server.mail_to(CITIZEN["email"], 2)[1]
    issued = links_in(confirmed)
    invitation = [p for p in confirmed.walk() if p.get_content_type() == "text/calendar"]
    assert invitation, "the confirmation carries the calendar invitation"

    # Open every link from a fresh browser, as from a mail program; one request even sends a tokened Referer.
    opened = Browser(server.url)
    for link in issued:
        opened.open(link)
    with app.app_context():
        booking = db.session.scalar(select(Booking).where(Booking.citizen_email == CITIZEN["email"]))
        assert booking is not None
        api_link = manage_url(booking, app.config).replace("/manage/", "/api/v1/bookings/")
        issued += [ics_url(booking, app.config), api_link]
    for link in issued[-2:]:
        opened.open(link, headers={"Referer": issued[0]})
    assert server.facts["topic_title"] in opened.open(f"/manage/{booking.code}")  # the exchanged token opened the page

    # The personal page, by the link it emails.
    asking = Browser(server.url)
    asking.open("/me", {"email": CITIZEN["email"], "csrf_token": Browser.csrf(asking.open("/me"))})
    personal = [link for m in server.mail_to(CITIZEN["email"], 3)[2:] for link in links_in(m) if "/me/" in link]
    assert personal, "the personal-page link was delivered"
    issued += personal
    me = Browser(server.url)
    assert booking.code[:4] in me.open(personal[0])

    # A follow-up ticket after the consultation, opened by the link in its email.
    with app.app_context():
        booking = db.session.get(Booking, booking.id)
        complete(db.session, booking, booking.ends_at + timedelta(minutes=5))
        ticket = tickets.open_followup(db.session, booking, summary="Ответим письменно", actor=Actor.system("test"),
                                       now=booking.ends_at + timedelta(minutes=10), config=app.config)
        number = ticket.number
        feed = issue_feed_token(db.session, db.session.get(Expert, booking.expert_id), app.config, Actor.system("test"))
        db.session.commit()
    ticket_mail = server.mail_to(CITIZEN["email"], 4)[3:]
    ticket_links = [link for m in ticket_mail for link in links_in(m) if "/tickets/" in link]
    assert ticket_links, "the ticket link was delivered"
    issued += ticket_links
    assert number in Browser(server.url).open(ticket_links[0])

    # The expert's calendar subscription, polled as a calendar program does.
    feed_link = f"{server.url}/calendar/{feed}.ics"
    issued.append(feed_link)
    assert "BEGIN:VCALENDAR" in Browser(server.url).open(feed_link)

    tokens = {token for link in issued for token in secrets_in(link)}
    assert len(tokens) == 4, issued  # manage (the video, invitation and API links share it), personal, ticket, feed
    with app.app_context():
        db.engine.dispose()
    wait_for(lambda: "/calendar/" in server.logs[0].read_text(), 10, "the feed request logged")
    access = server.logs[0].read_text()
    assert access.count("[redacted]") >= 6, access  # the log is real and holds the tokened requests
    personal = [CITIZEN["email"], CITIZEN["name"], CITIZEN["phone"], "+79123456789"]
    for log in server.logs:
        text = log.read_text(errors="replace")
        for token in tokens:
            assert token not in text, f"a token is in {log.name}"
        for detail in personal:  # the citizen's details travel in bodies, never in a logged line
            assert detail not in text, f"{detail!r} is in {log.name}"


def test_the_development_server_log_holds_no_token(fresh_database_url: str, tmp_path: Path) -> None:
    seed_demo(fresh_database_url, tmp_path)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = server_env(fresh_database_url, tmp_path, free_port(), url)
    log = tmp_path / "dev.log"
    dev = start_process([sys.executable, "-m", "flask", "--app", "wsgi", "run", "--port", str(port)], env, log)
    secret = "Zq8-dev_SECRET_0123456789abcdef"
    try:
        wait_until_serving(url, dev, [log])
        client = Browser(url)
        for path in (f"/me/{secret}", f"/calendar/{secret}.ics", f"/manage/ABCD2345?token={secret}",
                     f"/api/v1/bookings/ABCD2345?token={secret}&lang=ru"):
            client.open(path, headers={"Referer": f"{url}/me/{secret}"})
        wait_for(lambda: "/api/v1/bookings/ABCD2345" in log.read_text(), 10, "the requests logged")
    finally:
        stop_process(dev)
    text = log.read_text()
    assert text.count("[redacted]") >= 4, text
    assert secret not in text
