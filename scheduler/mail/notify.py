"""Nudging the worker after a commit that wrote mail, so email leaves in seconds, not minutes."""

from __future__ import annotations

import logging

from flask import current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

_installed = False


def _after_commit(session: Session) -> None:
    if not session.info.pop("outbox_written", False):
        return
    if not has_app_context() or not current_app.config.get("OUTBOX_NOTIFY_WORKER", True):
        return
    from scheduler.jobs import deliver_outbox_task

    try:
        deliver_outbox_task()
    except Exception:  # the nudge is an optimisation: the minute sweep delivers anyway
        log.warning("could not notify the mail worker; the periodic sweep will deliver", exc_info=True)


def _after_rollback(session: Session) -> None:
    session.info.pop("outbox_written", None)


def install_outbox_notifier() -> None:
    """Listen on the shared scoped session once per process (apps share the extension)."""
    global _installed
    if _installed:
        return
    from scheduler.extensions import db

    event.listen(db.session, "after_commit", _after_commit)
    event.listen(db.session, "after_rollback", _after_rollback)
    _installed = True
