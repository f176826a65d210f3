"""The staff user model and its roles."""

from __future__ import annotations

import enum
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import current_app, has_app_context
from flask_login import UserMixin
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from scheduler.db import Base, UTCDateTime, str_enum, utcnow

_hasher = PasswordHasher()
# The same algorithm at its cheapest settings, for test suites that create hundreds of users.
_testing_hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def password_hasher() -> PasswordHasher:
    if has_app_context() and current_app.config.get("TESTING"):
        return _testing_hasher
    return _hasher


class Role(enum.StrEnum):
    """What a staff member does; admin may do everything."""

    EXPERT = "expert"
    RECEPTION = "reception"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


class User(UserMixin, Base):
    """A staff member who signs in: expert, reception staff, supervisor or admin."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(
        str_enum(Role, "user_role")
    )
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active_account: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A supervisor's (or expert's) department; a reception desk's location.
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"))

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive accounts
        return self.is_active_account

    def set_password(self, password: str) -> None:
        self.password_hash = password_hasher().hash(password)

    def check_password(self, password: str) -> bool:
        """Verify with argon2, upgrading the hash when its parameters are outdated."""
        hasher = password_hasher()
        try:
            hasher.verify(self.password_hash, password)
        except VerifyMismatchError:
            return False
        except (VerificationError, InvalidHashError):
            return False
        if hasher.check_needs_rehash(self.password_hash):
            self.set_password(password)
        return True

    def has_role(self, *roles: Role) -> bool:
        return self.role == Role.ADMIN or self.role in roles

    def __repr__(self) -> str:
        return f"<User {self.id} {self.role}>"


def normalise_email(email: str) -> str:
    """Emails are matched case-insensitively: people type them in every case."""
    return email.strip().lower()


__all__ = ["Role", "User", "normalise_email"]
