"""`flask setup export` and `flask setup import FILE`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO

import click
from flask.cli import AppGroup
from flask_babel import force_locale

from scheduler.audit import Actor
from scheduler.extensions import db

setup_cli = AppGroup("setup", help="Export or import the whole configuration as JSON.")


@setup_cli.command("export")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Write to this file instead of standard output.")
def export_command(output: Path | None) -> None:
    """Write departments, locations, topics, experts (no passwords) and schedules as one JSON document."""
    from scheduler.setup.document import dump_setup
    from scheduler.setup.exporter import export_setup

    text = dump_setup(export_setup(db.session))
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)


@setup_cli.command("schema")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Write to this file instead of standard output (docs/setup.schema.json is the committed copy).")
def schema_command(output: Path | None) -> None:
    """Write the JSON Schema of the setup document, generated from its models."""
    from scheduler.setup.document import schema_text

    if output is None:
        click.echo(schema_text(), nl=False)
    else:
        output.write_text(schema_text(), encoding="utf-8")
        click.echo(f"wrote {output}", err=True)


@setup_cli.command("import")
@click.argument("file", type=click.File("r", encoding="utf-8-sig"))
@click.option("--dry-run", is_flag=True, help="Validate and report what would change, but write nothing.")
def import_command(file: IO[str], dry_run: bool) -> None:
    """Create or update the configuration from FILE ("-" for standard input), all or nothing.

    Matched by slug (experts by email); importing the same file again changes nothing.
    """
    from scheduler.setup.importer import SetupError, import_setup

    try:
        doc = json.load(file)
    except json.JSONDecodeError as exc:
        raise click.ClickException(f"{file.name} is not valid JSON: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise click.ClickException(f"{file.name} is not UTF-8 text: {exc}") from exc
    try:
        # The document's own problems are worded in English; the pages' rules say theirs in the same language.
        with force_locale("en"):
            report = import_setup(db.session, doc, Actor.system("setup import"))
    except SetupError as exc:
        db.session.rollback()
        count = f"{len(exc.problems)} problem{'s' if len(exc.problems) != 1 else ''}"
        listing = "\n".join(f"  {problem}" for problem in exc.problems)
        raise click.ClickException(f"{file.name} was not imported, nothing was changed ({count}):\n{listing}") from exc
    except BaseException:
        db.session.rollback()
        raise
    if dry_run:
        db.session.rollback()
    else:
        db.session.commit()
    for line in report.lines():
        click.echo(line)
    if dry_run:
        click.echo("dry run: nothing was written")
    elif not report.changed:
        click.echo("nothing to change")
