"""Parsing query parameters into typed values, collecting every problem by field name."""

from __future__ import annotations

from datetime import date

from flask_babel import gettext as _


class QueryErrors(dict[str, str]):
    """field name → localised message; empty when everything parsed."""


def required_text(args: dict[str, str], name: str, errors: QueryErrors) -> str | None:
    value = (args.get(name) or "").strip()
    if not value:
        errors[name] = _("This parameter is required.")
        return None
    return value


def parse_date(args: dict[str, str], name: str, errors: QueryErrors) -> date | None:
    raw = required_text(args, name, errors)
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors[name] = _("Use a date in the form YYYY-MM-DD.")
        return None


def optional_int(args: dict[str, str], name: str, errors: QueryErrors) -> int | None:
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 12:
        errors[name] = _("Use a whole number.")
        return None
    return int(raw)
