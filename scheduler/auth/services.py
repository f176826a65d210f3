"""Staff accounts: creating them (admin page, CLI, demo data) and checking a sign-in."""

from __future__ import annotations

import secrets
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.audit import Actor, record
from scheduler.auth.models import Role, User, normalise_email, password_hasher
from scheduler.errors import DomainError

MIN_PASSWORD_LENGTH = 12


def create_user(session: Session, actor: Actor, *, email: str, full_name: str, role: Role | str,
                password: str) -> User:
    """Add a staff user (not committed); refuses a taken email or a short password."""
    from flask_babel import lazy_gettext as _l

    email = normalise_email(email)
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise DomainError({"email": _l("A staff member with this email already exists.")})
    if len(password) < MIN_PASSWORD_LENGTH:
        raise DomainError({"password": _l("At least 12 characters.")})
    user = User(email=email, full_name=full_name.strip(), role=Role(role))
    user.set_password(password)
    session.add(user)
    session.flush()
    record(session, actor, "user.created", "user", user.id, {"email": [None, email], "role": [None, user.role.value]},
           department_id=user.department_id)
    return user


@cache
def _dummy_hash(hasher: PasswordHasher) -> str:
    """A hash of a random password with the hasher's own parameters, so verifying it costs what a real one does."""
    return hasher.hash(secrets.token_urlsafe(16))


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The active user with this email and password, or None.

    Exactly one argon2 verification runs whether or not the email is known (an unknown one is
    checked against a dummy hash), so the answer's timing does not tell which staff emails exist.
    """
    user = session.scalar(select(User).where(User.email == normalise_email(email)))
    if user is None:
        hasher = password_hasher()
        try:
            hasher.verify(_dummy_hash(hasher), password)
        except VerificationError:
            pass
        return None
    if not user.check_password(password) or not user.is_active:
        return None
    return user
