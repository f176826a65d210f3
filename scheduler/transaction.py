"""One transaction per request: commit at the boundary, roll back on any error or refusal."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, Response, g, session
from sqlalchemy import event
from sqlalchemy.orm import Session

from scheduler.extensions import db

_DISCARDED = "okno_discard_changes"
_KEPT = "okno_keep_changes"


def discard_changes() -> None:
    """Roll back this request's work now and keep the boundary from committing anything later.

    Called when a rule refused the action (the form mapper does it) and by the error pages: the
    view may still render a page, but what the refused service wrote must not stick.
    """
    db.session.rollback()
    setattr(g, _DISCARDED, True)


def keep_changes() -> None:
    """Commit this request's work even though it answers with an error status.

    For a refusal whose rule writes on purpose: a wrong confirmation code still counts the attempt.
    """
    setattr(g, _KEPT, True)


def _should_commit(response: Response) -> bool:
    if g.get(_DISCARDED, False):
        return False
    return response.status_code < 400 or bool(g.get(_KEPT, False))


def register_transaction_boundary(app: Flask) -> None:
    """Commit each request's work once, after the view returned and before the response leaves.

    Views and services never commit. Mail is queued in the outbox inside the same transaction
    and the worker is nudged after this commit (scheduler.mail.notify), so a rolled-back
    request never sends anything. An answer with an error status (4xx, 5xx) is rolled back
    unless a rule asked to keep its work; an exception that escapes the view never reaches
    this hook (the session is rolled back when the app context ends). Every method commits alike,
    so a GET that records something keeps it; a streamed body runs after this commit and may only read.
    """

    @app.after_request
    def _commit_or_roll_back(response: Response) -> Response:
        if not _should_commit(response):
            db.session.rollback()
            return response
        try:
            db.session.commit()
        except Exception:
            # The error page replaces this response: its success messages must not show.
            session.pop("_flashes", None)
            discard_changes()
            raise
        return response


# --------------------------------------------------------------------------- work that waits for the commit

_NOTES = "okno_when_committed"
_commit_listeners: dict[str, Callable[[Session, list[Any]], None]] = {}


def when_committed(session: Session, kind: str, item: Any = None) -> None:
    """Note ``item`` of ``kind`` for the listener of that kind, called once this transaction commits.

    A rollback forgets the notes: what a refused or failed request did never reaches a metric or the
    worker. Notes of one kind are handed over together, so a listener can act once per commit.
    """
    session.info.setdefault(_NOTES, {}).setdefault(kind, []).append(item)


def listen_for_commits(kind: str, listener: Callable[[Session, list[Any]], None]) -> None:
    """Call ``listener(session, items)`` after each commit that noted ``kind`` (one listener per kind)."""
    _commit_listeners[kind] = listener
    if not event.contains(db.session, "after_commit", _after_commit):
        event.listen(db.session, "after_commit", _after_commit)
        event.listen(db.session, "after_rollback", _after_rollback)


def _after_commit(session: Session) -> None:
    for kind, items in session.info.pop(_NOTES, {}).items():
        listener = _commit_listeners.get(kind)
        if listener is not None:
            listener(session, items)


def _after_rollback(session: Session) -> None:
    session.info.pop(_NOTES, None)
