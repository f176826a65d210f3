"""The staff user model and its roles."""

from __future__ import annotations

import enum
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask_login import UserMixin
from sqlalchemy import Enum, String
from sqlalchemy.orm import Mapped, mapped_column

from scheduler.db import Base, UTCDateTime, utcnow

_hasher = PasswordHasher()


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
        Enum(Role, name="user_role", native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])
    )
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active_account: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive accounts
        return self.is_active_account

    def set_password(self, password: str) -> None:
        self.password_hash = _hasher.hash(password)

    def check_password(self, password: str) -> bool:
        """Verify with argon2, upgrading the hash when its parameters are outdated."""
        try:
            _hasher.verify(self.password_hash, password)
        except VerifyMismatchError:
            return False
        except (VerificationError, InvalidHashError):
            return False
        if _hasher.check_needs_rehash(self.password_hash):
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
