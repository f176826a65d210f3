"""Creating staff accounts: one rule for the admin page, the CLI and the demo data."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.audit import Actor, record
from scheduler.auth.models import Role, User, normalise_email
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
    record(session, actor, "user.created", "user", user.id, {"email": [None, email], "role": [None, user.role.value]})
    return user
