"""``flask privacy purge [--dry-run]``: run the retention job by hand and print what it did per kind."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from booking.privacy.retention import DEFAULT_BATCH_SIZE, purge
from scheduler.db import utcnow
from scheduler.extensions import db
from scheduler.privacy.policy import RetentionPolicy

privacy_cli = AppGroup("privacy", help="Personal data: the retention policy.")


@privacy_cli.command("purge")
@click.option("--dry-run", is_flag=True, help="Only count what is due; change nothing.")
@click.option("--batch-size", type=click.IntRange(min=1, max=100_000), default=DEFAULT_BATCH_SIZE,
              show_default=True, help="Rows per transaction.")
def purge_command(dry_run: bool, batch_size: int) -> None:
    """Anonymise every record whose retention period has passed (as the hourly job does)."""
    policy = RetentionPolicy.from_config(current_app.config)
    report = purge(db.session, policy, utcnow(), dry_run=dry_run, batch_size=batch_size)
    verb = "due" if dry_run else "anonymised"
    for kind, count in report.counts.items():
        hours = int(policy.period(kind).total_seconds() // 3600)
        period = f"{hours // 24} d" if hours % 24 == 0 else f"{hours} h"
        click.echo(f"{kind.value:<12} {count:>9} {verb}  (after {period})")
    if not dry_run:
        click.echo(f"{report.batches} batches of at most {batch_size} rows; "
                   f"longest transaction {report.longest_batch_seconds:.3f} s")
