"""The one way a page shows a refusal: messages beside the form's fields, or flashed after a redirect."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import flash
from wtforms import FieldList, FormField

from scheduler.errors import DomainError
from scheduler.transaction import discard_changes, keep_changes


def _find_field(form: Any, key: str) -> Any:
    """The field a service error key names: ``rows-2-ends`` is form.rows[2].ends."""
    node: Any = form
    for part in key.split("-"):
        if isinstance(node, FieldList):
            if not part.isdigit() or int(part) >= len(node.entries):
                return None
            node = node.entries[int(part)]
        else:
            fields = node.form._fields if isinstance(node, FormField) else getattr(node, "_fields", {})
            node = fields.get(part)
        if node is None:
            return None
    return node


def _undo_refused_work(exc: DomainError) -> None:
    if exc.keeps_changes:
        keep_changes()
    else:
        discard_changes()


def apply_domain_error(form: Any, exc: DomainError, aliases: Mapping[str, str] | None = None) -> None:
    """Put a refusal's messages beside their fields; a key no field matches becomes a form-level error.

    ``aliases`` names the form field for a service key the form spells differently. The refused
    work is rolled back (unless the rule keeps it), so the page re-rendered shows what is stored.
    """
    _undo_refused_work(exc)
    for key, message in exc.fields.items():
        field = _find_field(form, (aliases or {}).get(key, key))
        if field is None or isinstance(field, FieldList | FormField):
            form.form_errors.append(message)
        else:
            field.errors = [*field.errors, message]


def flash_domain_error(exc: DomainError) -> None:
    """For one-button actions that redirect: the refusal's messages flashed as errors, its work rolled back."""
    _undo_refused_work(exc)
    for message in exc.fields.values():
        flash(message, "error")
