"""The declarative base, the constraint naming convention and the UTC instant column type."""

from __future__ import annotations

import enum
from datetime import UTC, datetime

from sqlalchemy import DateTime, Enum, MetaData
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, ORMExecuteState
from sqlalchemy.types import TypeDecorator

# Alembic needs stable constraint names to alter them later, on SQLite (batch mode) as well.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """An instant stored in UTC and always returned timezone-aware.

    SQLite keeps no offset, so a naive value read back is UTC by construction; a naive
    value handed in is a programming error, not something to guess about.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: store instants timezone-aware")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Base class of every model."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    """The current instant, aware, in UTC (a callable for column defaults)."""
    return datetime.now(UTC)


def str_enum(cls: type[enum.Enum], name: str) -> Enum:
    """An enum column stored as its string values (portable; no native enum type to migrate)."""
    return Enum(cls, name=name, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])


def may_write_to(state: ORMExecuteState, table_names: frozenset[str]) -> bool:
    """Whether a statement run through a session (``do_orm_execute``) may change one of these tables.

    ``session.execute(update(...))`` and the like bypass the flush, so the listeners that watch
    changes to objects look at the table such a statement writes; one whose table cannot be told
    (plain ``text()``) is assumed to write anywhere.
    """
    if state.is_select or not (state.is_update or state.is_delete or state.is_insert):
        return False
    table = getattr(state.statement, "table", None)
    return table is None or getattr(table, "name", None) in table_names
