"""One transaction per request: commit at the boundary, roll back on any error or refusal.

Who may write: a request with a safe method (GET, HEAD, OPTIONS) reads only, unless its view is
marked ``@writes``; every other request, job and command may write. The rule lets SQLite run
reads side by side and serialise only the transactions that may write (``scheduler.app``), and
a write attempted where the rule says "reads only" fails on every database, so tests catch it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, Response, current_app, g, has_request_context, request, session
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from scheduler.extensions import db

_DISCARDED = "okno_discard_changes"
_MAY_WRITE = "okno_may_write"
_WRITES = "_okno_writes"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_WRITE_KEYWORDS = ("INSERT", "UPDATE", "DELETE", "REPLACE")

View = TypeVar("View", bound=Callable[..., Any])


class WriteInReadOnlyRequest(RuntimeError):
    """A request that the rule says reads only tried to write: mark its view ``@writes`` or write in a POST."""


def writes(view: View) -> View:
    """Mark a view whose safe-method requests (GET) write on purpose, such as a page that records who read it.

    Its transaction may write, and on SQLite it begins by taking the write lock, as a POST's does.
    Put it under the route decorator; wrappers made with functools.wraps keep the mark.
    """
    setattr(view, _WRITES, True)
    return view


def may_write() -> bool:
    """Whether the work in progress may write: any job, command or unsafe request; a safe one only if marked.

    Decided as the app starts handling a request (``register_transaction_boundary``); a request
    context pushed by hand (a test reading translations, say) handles no request and may write.
    """
    return not has_request_context() or bool(g.get(_MAY_WRITE, True))


def _decide_who_writes() -> None:
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    setattr(g, _MAY_WRITE, request.method not in SAFE_METHODS or bool(getattr(view, _WRITES, False)))


def _forget_who_writes(_error: BaseException | None) -> None:
    g.pop(_MAY_WRITE, None)


def refuse_writes_in_read_only_requests(engine: Engine) -> None:
    """Make a write attempted in a read-only request an error, on whichever database ``engine`` serves.

    On SQLite such a write would otherwise succeed or fail by luck: a deferred transaction that
    read first cannot take the write lock once another writer has committed (SQLITE_BUSY_SNAPSHOT).
    """

    @event.listens_for(engine, "before_cursor_execute")
    def _refuse(_connection: Any, _cursor: Any, statement: str, _parameters: Any, context: Any,
                _executemany: bool) -> None:
        if may_write():
            return
        writing = context is not None and (context.isinsert or context.isupdate or context.isdelete)
        if writing or statement.lstrip()[:7].upper().startswith(_WRITE_KEYWORDS):
            raise WriteInReadOnlyRequest(
                f"{request.method} {request.endpoint or request.path} tried to write ({statement.split(None, 1)[0]}): "
                "a request with a safe method reads only unless its view is marked @writes")


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
    this hook (the session is rolled back when the app context ends). A GET reads only, unless its
    view is marked ``@writes`` (then it commits as a POST does); a streamed body runs after this
    commit and may only read.
    """
    # First of all hooks: the rate limiter's, which may look up a partner key, reads already.
    app.before_request_funcs.setdefault(None, []).insert(0, _decide_who_writes)
    app.teardown_request(_forget_who_writes)

    @app.after_request
    def _commit_or_roll_back(response: Response) -> Response:
        if not db.session.registry.has() or not db.session().in_transaction():
            return response  # no session, or one that read and wrote nothing (adding an object begins one)
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
