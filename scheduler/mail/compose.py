"""Writing emails into the outbox from localised templates, inside the caller's transaction."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field
from typing import Any

from flask import current_app, render_template
from flask_babel import force_locale
from sqlalchemy.orm import Session

from scheduler.mail.models import MailContent, OutboxMessage, mail_sealer
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
    with force_locale(locale):
        subject = render_template(f"email/{template}.subject.txt", **context).strip()
        text_body = render_template(f"email/{template}.txt", **context)
        html_body = render_template(f"email/{template}.html", **context)
    content = MailContent(text_body, html_body, [a.to_json() for a in attachments or []])
    message = OutboxMessage(
        message_id=_message_id(),
        to_address=to,
        subject=" ".join(subject.split()),
        sealed_body=content.seal(mail_sealer(current_app.config)),
        template=template,
    )
    session.add(message)
    mark_outbox_written(session)
    return message


OUTBOX_WRITTEN = "outbox_written"


def mark_outbox_written(session: Session) -> None:
    """Remember that this transaction wrote mail, so the worker is nudged after commit."""
    when_committed(session, OUTBOX_WRITTEN)


def read_content(message: OutboxMessage) -> MailContent:
    """The body of a queued message, opened with the application's keys (for pages and checks)."""
    return message.content(mail_sealer(current_app.config))
