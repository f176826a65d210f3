"""Staff accounts from the command line."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import select

from scheduler.auth.models import User


def test_create_and_set_password(app: Flask, session: Any) -> None:
    runner = app.test_cli_runner()
    created = runner.invoke(args=["users", "create", "--email", "New.Expert@example.org", "--name", "Новый эксперт",
                                  "--role", "expert", "--password", "first password 123"])
    assert created.exit_code == 0, created.output
    user = session.scalar(select(User).where(User.email == "new.expert@example.org"))
    assert user is not None and user.check_password("first password 123")
    short = runner.invoke(args=["users", "set-password", "--email", "new.expert@example.org", "--password", "short"])
    assert short.exit_code != 0 and "12" in short.output
    changed = runner.invoke(args=["users", "set-password", "--email", "NEW.EXPERT@example.org",
                                  "--password", "second password 456"])
    assert changed.exit_code == 0, changed.output
    session.refresh(user)
    assert user.check_password("second password 456") and not user.check_password("first password 123")
    missing = runner.invoke(args=["users", "set-password", "--email", "nobody@example.org", "--password", "x" * 20])
    assert missing.exit_code != 0


def test_duplicate_user_is_refused(app: Flask, session: Any) -> None:
    runner = app.test_cli_runner()
    args = ["users", "create", "--email", "dup@example.org", "--name", "Дубль", "--role", "expert",
            "--password", "long enough password"]
    assert runner.invoke(args=args).exit_code == 0
    again = runner.invoke(args=args)
    assert again.exit_code != 0
