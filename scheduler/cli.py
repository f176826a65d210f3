"""Command-line tools: staff users, demo data, the outbox and the background worker."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from scheduler.audit import Actor
from scheduler.auth.models import Role
from scheduler.errors import DomainError
from scheduler.extensions import db

users_cli = AppGroup("users", help="Manage staff accounts.")


@users_cli.command("create")
@click.option("--email", required=True)
@click.option("--name", "full_name", required=True)
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.password_option(help="At least 12 characters (prompted when omitted).")
def create_user_command(email: str, full_name: str, role: str, password: str) -> None:
    """Create a staff account."""
    from scheduler.auth.services import create_user

    try:
        user = create_user(db.session, Actor.system("cli"), email=email, full_name=full_name, role=role,
                           password=password)
    except DomainError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(f"created {user.role.value} {user.email}")


@users_cli.command("set-password")
@click.option("--email", required=True)
@click.password_option(help="At least 12 characters (prompted when omitted).")
def set_password_command(email: str, password: str) -> None:
    """Set a staff member's password (e.g. for experts created by `setup import`)."""
    from sqlalchemy import select

    from scheduler.audit import record
    from scheduler.auth.models import User, normalise_email
    from scheduler.auth.services import MIN_PASSWORD_LENGTH

    user = db.session.scalar(select(User).where(User.email == normalise_email(email)))
    if user is None:
        raise click.ClickException(f"no staff account with the email {email}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise click.ClickException(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
    user.set_password(password)
    record(db.session, Actor.system("cli"), "user.password_set", "user", user.id,
           department_id=user.department_id)
    db.session.commit()
    click.echo(f"password set for {user.email}")


@click.command("demo-data")
@click.option("--logins-only", is_flag=True, help="Only print the demo staff logins.")
def demo_data_command(logins_only: bool) -> None:
    """Load the demo departments, topics, experts, schedules and staff users (idempotent)."""
    from scheduler.demo import demo_logins, load_demo_data

    if current_app.config["OKNO_ENV"] == "production":
        # The demo admin's password is published in the README: loading it would open the site to anyone.
        raise click.ClickException("demo-data refuses to run in production (OKNO_ENV=production): "
                                   "its staff accounts have published passwords. Nothing was written.")
    if logins_only:
        logins = demo_logins()
    else:
        logins = load_demo_data(db.session)
        db.session.commit()
    click.echo("Staff logins (development only):")
    for email, password, role in logins:
        click.echo(f"  {role:<11} {email:<42} {password}")


@click.command("worker")
@click.option("--workers", default=2, show_default=True, help="Threads running jobs.")
def worker_command(workers: int) -> None:
    """Run the background worker: email delivery and periodic jobs (huey consumer)."""
    from scheduler.jobs import deliver_outbox, huey
    from scheduler.metrics import install_job_timing

    install_job_timing(huey)
    deliver_outbox()  # whatever waited while no worker ran, and a wake-up for what comes due soon
    consumer = huey.create_consumer(workers=workers, worker_type="thread", periodic=True,
                                    initial_delay=0.2, backoff=1.2, max_delay=2.0)
    consumer.run()


def register_cli(app: Flask) -> None:
    from scheduler.mail.cli import outbox_cli
    from scheduler.setup.cli import setup_cli

    app.cli.add_command(users_cli)
    app.cli.add_command(outbox_cli)
    app.cli.add_command(setup_cli)
    app.cli.add_command(demo_data_command)
    app.cli.add_command(worker_command)
