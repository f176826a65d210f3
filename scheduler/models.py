"""Imports every model module so that the metadata (and Alembic) sees all tables."""

from scheduler.audit import AuditEntry
from scheduler.auth.models import User
from scheduler.mail.models import OutboxMessage

__all__ = ["AuditEntry", "OutboxMessage", "User"]
