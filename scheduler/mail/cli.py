"""``flask outbox``: list the mail that needs attention and requeue abandoned messages."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from scheduler.audit import Actor
from scheduler.db import utcnow
from scheduler.errors import DomainError
from scheduler.extensions import db
from scheduler.mail.models import OutboxStatus

outbox_cli = AppGroup("outbox", help="Outgoing email: list it, requeue messages that were given up on.")


@outbox_cli.command("list")
@click.option("--status", type=click.Choice([s.value for s in OutboxStatus]),
              help="Only messages with this status (default: every one not yet sent).")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
def list_command(status: str | None, limit: int) -> None:
    """Messages, latest first: id, status, attempts, when, recipient, subject, last error (never the body)."""
    from scheduler.mail.operations import list_messages

    messages = list_messages(db.session, OutboxStatus(status) if status else None, limit)
    if not messages:
        click.echo("no messages")
        return
    for m in messages:
        when = m.sent_at if m.status == OutboxStatus.SENT else m.next_attempt_at
        error = " ".join(m.last_error.split())[:100]
        click.echo(f"{m.id}\t{m.status.value}\tattempts={m.attempts}\t{when:%Y-%m-%d %H:%M} UTC\t"
                   f"{m.to_address}\t{m.subject}\t{error}")


@outbox_cli.command("requeue")
@click.argument("ids", nargs=-1, type=click.IntRange(1, 2**31 - 1))
@click.option("--all-failed", is_flag=True, help="Every message that was given up on.")
def requeue_command(ids: tuple[int, ...], all_failed: bool) -> None:
    """Send failed messages again: fresh attempts, due now. Sent messages are refused."""
    from scheduler.mail.operations import ALL_ABANDONED, requeue

    if bool(ids) == all_failed:
        raise click.UsageError("name message ids or give --all-failed (not both)")
    try:
        requeued = requeue(db.session, ALL_ABANDONED if all_failed else ids, by=Actor.system("cli"), now=utcnow())
    except DomainError as exc:
        db.session.rollback()
        raise click.ClickException(" ".join(exc.fields.values())) from exc
    db.session.commit()
    click.echo(f"requeued {len(requeued)} message(s)" + (": " + " ".join(map(str, requeued)) if requeued else ""))
