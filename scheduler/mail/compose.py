"""Writing emails into the outbox from localised templates, inside the caller's transaction."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import current_app, render_template
from flask_babel import force_locale
from sqlalchemy.orm import Session, object_session

from scheduler.mail.models import MailContent, OutboxMessage, mail_sealer
from scheduler.sealing import Sealer
from scheduler.transaction import when_committed


@dataclass(frozen=True)
class Attachment:
    """A file to attach; ``inline`` parts (e.g. text/calendar invitations) go in the body too."""

    filename: str
    content_type: str
    data: bytes
    inline: bool = False
    params: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "filename": self.filename,
            "content_type": self.content_type,
            "data": base64.b64encode(self.data).decode("ascii"),
            "inline": self.inline,
            "params": dict(self.params),
        }


def _message_id() -> str:
    domain = current_app.config["MAIL_FROM"].rsplit("@", 1)[-1].rstrip(">").strip() or "okno.localhost"
    return f"<{secrets.token_hex(16)}@{domain}>"


def render_email(template: str, context: dict[str, Any], locale: str,
                 attachments: list[Attachment] | None = None) -> tuple[str, MailContent]:
    """The subject and content of ``templates/email/<template>.{subject,txt,html}`` in ``locale``."""
    with force_locale(locale):
        subject = render_template(f"email/{template}.subject.txt", **context).strip()
        text_body = render_template(f"email/{template}.txt", **context)
        html_body = render_template(f"email/{template}.html", **context)
    return " ".join(subject.split()), MailContent(text_body, html_body, [a.to_json() for a in attachments or []])


def queue_email(
    session: Session,
    *,
    to: str,
    template: str,
    context: dict[str, Any],
    locale: str = "ru",
    attachments: list[Attachment] | None = None,
) -> OutboxMessage:
    """Render ``templates/email/<template>.{subject,txt,html}`` and add the message to the session.

    Nothing is sent here: the worker delivers it after the caller's transaction commits,
    so a rolled-back change never emails anyone. The body is stored sealed (see the model).
    """
    subject, content = render_email(template, context, locale, attachments)
    return _add(session, to, subject, content.seal(mail_sealer(current_app.config)), template)


def _add(session: Session, to: str, subject: str, sealed_body: str, template: str) -> OutboxMessage:
    message = OutboxMessage(message_id=_message_id(), to_address=to, subject=subject, sealed_body=sealed_body,
                            template=template)
    session.add(message)
    mark_outbox_written(session)
    return message


# --------------------------------------------------------------------------- bodies the worker renders

# kind -> renderer(session, facts): the message's content, rendered from what ``facts`` names.
Renderer = Callable[[Session, dict[str, Any]], MailContent]
_renderers: dict[str, Renderer] = {}


def register_renderer(kind: str, renderer: Renderer) -> None:
    """Let the worker render the bodies of messages queued with ``queue_email_for_worker(kind=kind)``."""
    _renderers[kind] = renderer


def queue_email_for_worker(session: Session, *, to: str, template: str, subject: str, kind: str,
                           facts: dict[str, Any]) -> OutboxMessage:
    """Add a message whose body the worker renders when it takes it, not the request that queues it.

    The row is written in the caller's transaction like any other (a rolled-back change emails
    nobody); the request renders only the subject, which listings show. ``facts`` (JSON, e.g. the
    booking's id) is sealed in place of the body; the renderer registered for ``kind`` turns it into
    the content, from the records as they stand when the message goes out (``render_pending``).
    """
    sealed = mail_sealer(current_app.config).seal(json.dumps({PENDING: {"kind": kind, "facts": facts}}).encode())
    return _add(session, to, subject, sealed, template)


def render_pending(session: Session, message: OutboxMessage, sealer: Sealer | None = None) -> MailContent | None:
    """The rendered content of a message queued for the worker to render, or None for any other message.

    ``KeyError`` or ``ValueError`` when it cannot be rendered (no renderer for its kind, or the
    record it names is gone): the worker gives such a message up visibly.
    """
    if message.sealed_body is None:
        return None
    document = json.loads((sealer or mail_sealer(current_app.config)).open(message.sealed_body))
    pending = document.get(PENDING) if isinstance(document, dict) else None
    if pending is None:
        return None
    return _renderers[pending["kind"]](session, pending["facts"])


PENDING = "render"

OUTBOX_WRITTEN = "outbox_written"


def mark_outbox_written(session: Session) -> None:
    """Remember that this transaction wrote mail, so the worker is nudged after commit."""
    when_committed(session, OUTBOX_WRITTEN)


def read_content(message: OutboxMessage) -> MailContent:
    """The body of a queued message, opened with the application's keys (for pages and checks);
    one the worker has yet to render is rendered for the reader (and not stored)."""
    session = object_session(message)
    pending = render_pending(session, message) if session is not None else None
    return pending if pending is not None else message.content(mail_sealer(current_app.config))
