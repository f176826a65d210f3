"""The comparator of ``bench/sqlite.py``: okno as it ran on SQLite before reads went side by side.

Every transaction, reads included, begins IMMEDIATE (takes the write lock), as ``configure_sqlite``
did for all work until read-only requests began deferred. Served by gunicorn as
``bench.sqlite_serialised:app``; never used outside the benchmark.
"""

from __future__ import annotations

import scheduler.transaction

# Everything counts as "may write": BEGIN IMMEDIATE for every transaction, and no read-only guard.
scheduler.transaction.may_write = lambda: True  # type: ignore[assignment]

from wsgi import app  # noqa: E402

__all__ = ["app"]
