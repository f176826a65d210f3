"""Demo data drawn from the field notes: departments, topics, experts, schedules and staff."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.auth.models import Role, User

# Development-only credentials, printed by `flask demo-data`; production never loads demo data.
DEMO_PASSWORD = "okno-demo-2026"  # noqa: S105 - documented development-only login

DEMO_STAFF: list[tuple[str, str, Role]] = [
    ("admin@okno.example.org", "Администратор системы", Role.ADMIN),
    ("supervisor.gas@okno.example.org", "Ольга Руководитель", Role.SUPERVISOR),
    ("reception.gas@okno.example.org", "Ирина Приёмная", Role.RECEPTION),
    ("expert.stoves@okno.example.org", "Сергей Плитов", Role.EXPERT),
]


def demo_logins() -> list[tuple[str, str, str]]:
    return [(email, DEMO_PASSWORD, role.value) for email, _name, role in DEMO_STAFF]


def load_demo_data(session: Session) -> list[tuple[str, str, str]]:
    """Create what is missing and leave what exists; returns (email, password, role) logins."""
    logins: list[tuple[str, str, str]] = []
    for email, name, role in DEMO_STAFF:
        user = session.scalar(select(User).where(User.email == email))
        if user is None:
            user = User(email=email, full_name=name, role=role)
            user.set_password(DEMO_PASSWORD)
            session.add(user)
        logins.append((email, DEMO_PASSWORD, role.value))
    session.flush()
    return logins
