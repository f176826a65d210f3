"""The data map (docs/personal-data.md) names every column that may hold personal data or a secret, so a
new one cannot be added without deciding its purpose, its readers and when it goes."""

from __future__ import annotations

import re

import pytest

from scheduler.app import PROJECT_ROOT, register_models
from scheduler.db import Base

DATA_MAP = PROJECT_ROOT / "docs" / "personal-data.md"

# Words that, as a part of a column's name (split on "_"), suggest personal data or a secret that opens it.
HINTS = frozenset({
    "name", "email", "phone", "inn", "question", "note", "answer", "text", "summary", "reason", "comment",
    "address", "label", "changes", "details", "body", "subject", "organisation", "caller", "error",
    "attachments", "token", "salt", "hash", "password", "key", "consent",
})


def suspect_columns() -> list[str]:
    register_models()
    return sorted(f"{table.name}.{column.name}" for table in Base.metadata.tables.values()
                  for column in table.columns if set(column.name.split("_")) & HINTS)


def test_the_hints_find_the_known_personal_columns() -> None:
    found = set(suspect_columns())
    assert {"bookings.citizen_name", "bookings.citizen_email", "bookings.citizen_phone", "bookings.inn",
            "bookings.question", "booking_notes.text", "tickets.answer_text", "reception_waiting.visitor_phone",
            "outbox_messages.sealed_body", "citizen_links.token_hash", "users.email"} <= found


@pytest.mark.parametrize("column", suspect_columns())
def test_every_personal_column_is_in_the_data_map(column: str) -> None:
    named = set(re.findall(r"`([a-z_]+\.[a-z_]+)`", DATA_MAP.read_text(encoding="utf-8")))
    assert column in named, f"{column} may hold personal data: add it to docs/personal-data.md"


def test_the_data_map_names_no_column_that_does_not_exist() -> None:
    register_models()
    columns = {f"{t.name}.{c.name}" for t in Base.metadata.tables.values() for c in t.columns}
    named = set(re.findall(r"`([a-z_]+\.[a-z_]+)`", DATA_MAP.read_text(encoding="utf-8")))
    tables = {t.name for t in Base.metadata.tables.values()}
    stale = {name for name in named if name.split(".")[0] in tables and name not in columns}
    assert stale == set(), f"the data map names columns that no longer exist: {sorted(stale)}"
