"""Test helpers: factories with sensible defaults, and signing in through the real form."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient

from scheduler.auth.models import Role, User

TEST_PASSWORD = "correct horse battery staple"


def make_user(session: Any, *, role: Role = Role.EXPERT, email: str | None = None, **kw: Any) -> User:
    """A staff user with the test password; sensible defaults for everything else."""
    count = session.query(User).count() + 1
    user = User(email=email or f"{role.value}{count}@example.org", full_name=kw.pop("full_name", f"Test {role.value}"),
                role=role, **kw)
    user.set_password(TEST_PASSWORD)
    session.add(user)
    session.flush()
    return user


CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_token(client: FlaskClient, path: str) -> str:
    page = client.get(path)
    match = CSRF_RE.search(page.get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def login(client: FlaskClient, user: User, password: str = TEST_PASSWORD) -> Any:
    token = csrf_token(client, "/staff/login")
    return client.post("/staff/login", data={"email": user.email, "password": password, "csrf_token": token})
