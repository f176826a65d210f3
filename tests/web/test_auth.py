"""Staff sign-in: passwords, CSRF, rate limits, the role check on every staff view, cookies."""

from __future__ import annotations

import re
from typing import Any, Literal

import pytest
from argon2 import PasswordHasher
from flask import Flask

from scheduler.audit import AuditEntry
from scheduler.auth.models import Role
from tests.helpers import csrf_token, login, make_user

CSRF_VALUE_RE = re.compile(r'name="csrf_token"[^>]*value="[^"]+"')


def test_staff_signs_in_with_the_right_password_and_is_audited(client: Any, session: Any) -> None:
    user = make_user(session, role=Role.EXPERT)
    response = login(client, user)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/staff/")
    assert client.get("/staff/").status_code == 200
    assert session.query(AuditEntry).filter_by(action="user.signed_in", entity_id=str(user.id)).count() == 1
    session.refresh(user)
    assert user.last_login_at is not None


def test_wrong_password_is_refused_with_a_field_message(client: Any, session: Any) -> None:
    user = make_user(session)
    response = login(client, user, password="not the password")
    assert response.status_code == 200
    assert "Неверный адрес электронной почты или пароль" in response.get_data(as_text=True)
    assert client.get("/staff/").status_code == 302


def test_inactive_account_cannot_sign_in(client: Any, session: Any) -> None:
    user = make_user(session, is_active_account=False)
    assert login(client, user).status_code == 200
    assert client.get("/staff/").status_code == 302


def _verify_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Spy on argon2's verify: record each hash checked while still doing the real work."""
    calls: list[str] = []
    real_verify = PasswordHasher.verify

    def spy(self: PasswordHasher, hash: str | bytes, password: str | bytes) -> Literal[True]:
        calls.append(hash if isinstance(hash, str) else hash.decode())
        return real_verify(self, hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", spy)
    return calls


def _argon2_parameters(hash: str) -> str:
    """'$argon2id$v=19$m=…,t=…,p=…' — the part that decides how long a verification takes."""
    return "$".join(hash.split("$")[:4])


def _refusal(response: Any) -> str:
    return CSRF_VALUE_RE.sub("", response.get_data(as_text=True))


def test_unknown_email_costs_one_verification_like_a_known_one(
    client: Any, session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Timing must not tell which staff emails exist: every sign-in verifies exactly one argon2 hash."""
    user = make_user(session)
    inactive = make_user(session, is_active_account=False)
    calls = _verify_calls(monkeypatch)

    wrong_password = login(client, user, password="not the password")
    assert len(calls) == 1
    known_parameters = _argon2_parameters(calls[0])

    calls.clear()
    token = csrf_token(client, "/staff/login")
    unknown = client.post("/staff/login", data={"email": "nobody@example.org", "password": "not the password",
                                                "csrf_token": token})
    assert len(calls) == 1
    assert _argon2_parameters(calls[0]) == known_parameters

    calls.clear()
    assert login(client, inactive).status_code == 200
    assert len(calls) == 1

    assert unknown.status_code == wrong_password.status_code == 200
    assert _refusal(unknown).replace("nobody@example.org", user.email) == _refusal(wrong_password)
    assert client.get("/staff/").status_code == 302


def test_password_is_stored_as_argon2_hash(session: Any) -> None:
    user = make_user(session)
    assert user.password_hash.startswith("$argon2id$")
    assert user.check_password("correct horse battery staple")
    assert not user.check_password("Correct horse battery staple")


def test_post_without_csrf_token_is_rejected(client: Any, session: Any) -> None:
    user = make_user(session)
    response = client.post("/staff/login", data={"email": user.email, "password": "correct horse battery staple"})
    assert response.status_code == 400
    assert client.get("/staff/").status_code == 302


def test_post_with_forged_csrf_token_is_rejected(client: Any, session: Any) -> None:
    user = make_user(session)
    client.get("/staff/login")
    response = client.post(
        "/staff/login", data={"email": user.email, "password": "correct horse battery staple", "csrf_token": "forged"}
    )
    assert response.status_code == 400


def test_sign_out_needs_a_csrf_token(client: Any, session: Any) -> None:
    user = make_user(session)
    login(client, user)
    assert client.post("/staff/logout").status_code == 400
    assert client.get("/staff/").status_code == 200
    token = csrf_token(client, "/staff/")
    assert client.post("/staff/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/staff/").status_code == 302


def test_login_attempts_are_rate_limited(client: Any, session: Any, app: Flask) -> None:
    user = make_user(session)
    limit = int(app.config["LOGIN_RATE_LIMIT"].split()[0])
    token = csrf_token(client, "/staff/login")
    statuses = [
        client.post("/staff/login", data={"email": user.email, "password": "guess", "csrf_token": token}).status_code
        for _ in range(limit + 1)
    ]
    assert statuses[:limit] == [200] * limit
    assert statuses[limit] == 429
    # Even the right password is refused while the limit holds.
    assert login(client, user).status_code == 429


def test_open_redirect_after_login_is_refused(client: Any, session: Any) -> None:
    user = make_user(session)
    token = csrf_token(client, "/staff/login")
    response = client.post(
        "/staff/login?next=https://evil.example/",
        data={"email": user.email, "password": "correct horse battery staple", "csrf_token": token},
    )
    assert response.headers["Location"] == "/staff/"


def staff_endpoints(app: Flask) -> list[tuple[str, str, frozenset[Role]]]:
    """Every GET-able URL whose view is guarded by role_required, with its allowed roles."""
    found = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        roles = getattr(view, "allowed_roles", None)
        if roles is None or rule.arguments or "GET" not in (rule.methods or ()):
            continue
        found.append((rule.endpoint, rule.rule, roles))
    return found


def test_every_staff_page_is_guarded_by_a_role_check(app: Flask) -> None:
    unguarded = [
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/staff/")
        and rule.endpoint not in {"auth.login", "auth.logout"}
        and getattr(app.view_functions[rule.endpoint], "allowed_roles", None) is None
    ]
    assert unguarded == []
    assert len(staff_endpoints(app)) >= 4


@pytest.mark.parametrize("role", list(Role))
def test_each_staff_view_refuses_the_wrong_role(client: Any, session: Any, app: Flask, role: Role) -> None:
    user = make_user(session, role=role)
    login(client, user)
    for _endpoint, path, allowed in staff_endpoints(app):
        status = client.get(path).status_code
        if role in allowed:
            assert status == 200, (path, role)
        else:
            assert status == 403, (path, role)


def test_anonymous_visitors_are_sent_to_sign_in(client: Any, app: Flask) -> None:
    for _endpoint, path, _allowed in staff_endpoints(app):
        response = client.get(path)
        assert response.status_code == 302
        assert "/staff/login" in response.headers["Location"]


def test_refusals_never_pile_messages_into_the_session(client: Any, app: Flask) -> None:
    """Every refused staff page once, never following a redirect: one waiting message, a small cookie."""
    for _endpoint, path, _allowed in staff_endpoints(app):
        assert client.get(path).status_code == 302
    with client.session_transaction() as stored:
        assert stored["_flashes"] == [("info", "Войдите, чтобы открыть эту страницу.")]
    page = client.get("/staff/login").get_data(as_text=True)
    assert page.count("Войдите, чтобы открыть эту страницу.") == 1


def test_admin_creates_a_staff_account_with_validation(client: Any, session: Any) -> None:
    admin = make_user(session, role=Role.ADMIN)
    login(client, admin)
    token = csrf_token(client, "/staff/users")
    short = client.post("/staff/users", data={"full_name": "Анна", "email": "anna@example.org", "role": "expert",
                                               "password": "short", "csrf_token": token})
    assert "Не менее 12 символов" in short.get_data(as_text=True)
    created = client.post("/staff/users", data={"full_name": "Анна", "email": "Anna@Example.org", "role": "expert",
                                                 "password": "a long enough password", "csrf_token": token})
    assert created.status_code == 302
    duplicate = client.post("/staff/users", data={"full_name": "Анна", "email": "anna@example.org", "role": "expert",
                                                   "password": "a long enough password", "csrf_token": token})
    assert "уже существует" in duplicate.get_data(as_text=True)
    assert session.query(AuditEntry).filter_by(action="user.created").count() == 1


def test_session_cookie_is_http_only_and_same_site(client: Any, session: Any) -> None:
    user = make_user(session)
    response = login(client, user)
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
