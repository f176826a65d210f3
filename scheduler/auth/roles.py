"""The role check every staff view uses."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort
from flask_login import current_user, login_required

from scheduler.auth.models import Role

F = TypeVar("F", bound=Callable[..., Any])


def role_required(*roles: Role) -> Callable[[F], F]:
    """Allow signed-in staff with one of ``roles`` (admins always); others get 403.

    The allowed roles are kept on the view as ``allowed_roles`` so that a test can walk
    every staff endpoint and prove each one refuses the wrong role.
    """

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.has_role(*roles):
                abort(403)
            return view(*args, **kwargs)

        guarded = login_required(wrapped)
        guarded.allowed_roles = frozenset(roles) | {Role.ADMIN}  # type: ignore[attr-defined]
        return guarded  # type: ignore[return-value]

    return decorator


ALL_STAFF = (Role.EXPERT, Role.RECEPTION, Role.SUPERVISOR, Role.ADMIN)
