"""``flask workdays due``: when a follow-up opened at a given instant is due."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from booking.tickets.services import DEFAULT_WORKING_DAYS, FALLBACK_HOURS, due_at_for
from scheduler.calendar import calendar_for, closing_time_from_hours, followup_due_at
from scheduler.departments.models import Department
from scheduler.extensions import db

workdays_cli = AppGroup("workdays", help="Working-day arithmetic of the production calendar.")


@workdays_cli.command("due")
@click.option("--opened", "opened", required=True, help="The opening instant, ISO 8601 with its offset.")
@click.option("--days", type=click.IntRange(min=1, max=365), default=None,
              help=f"Working days of the term (default {DEFAULT_WORKING_DAYS}).")
@click.option("--department", "slug", default=None,
              help="A department's slug: its calendar, time zone and hours (default: RU, Mon-Fri 9-18).")
def due_command(opened: str, days: int | None, slug: str | None) -> None:
    """Print the due instant of a follow-up opened at OPENED, in the department's time zone."""
    try:
        opened_at = datetime.fromisoformat(opened.strip())
    except ValueError:
        raise click.BadParameter("use an ISO 8601 instant, e.g. 2026-12-30T23:59:00+03:00",
                                 param_hint="--opened") from None
    if opened_at.tzinfo is None or opened_at.utcoffset() is None:
        raise click.BadParameter("give the instant with its UTC offset", param_hint="--opened")
    term = days or DEFAULT_WORKING_DAYS
    if slug:
        department = db.session.scalar(select(Department).where(Department.slug == slug))
        if department is None:
            raise click.ClickException(f"no department with the slug {slug}")
        due = due_at_for(department, opened_at, term)
        zone = department.zone
    else:
        zone = ZoneInfo(str(current_app.config.get("DEFAULT_TIMEZONE") or "Europe/Moscow"))
        calendar = calendar_for("RU")
        hours: dict[int, tuple[time, time]] = dict(FALLBACK_HOURS)
        due = followup_due_at(opened_at, term, calendar, zone, closing_time_from_hours(hours, calendar))
    click.echo(due.astimezone(zone).isoformat())
