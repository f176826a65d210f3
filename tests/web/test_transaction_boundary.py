"""The request boundary: one commit per request; nothing kept from a refused, aborted or failed one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, abort, flash, get_flashed_messages, jsonify, redirect
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import StringField

from scheduler.app import create_app
from scheduler.audit import AuditEntry
from scheduler.errors import DomainError, ErrorCode
from scheduler.extensions import db
from scheduler.forms import apply_domain_error, flash_domain_error
from tests.conftest import IsolatedClient, app_config, rolled_back_session


class ProbeForm(FlaskForm):
    name = StringField()


def _write(outcome: str) -> None:
    db.session.add(AuditEntry(actor_type="system", action="probe", entity_type="probe", entity_id=outcome))
    db.session.flush()


def _probe_routes(probe: Flask) -> None:
    @probe.post("/probe/<outcome>")
    def probe_view(outcome: str) -> Any:
        _write(outcome)
        form = ProbeForm()
        if outcome == "saved":
            return "saved"
        if outcome == "refused":
            apply_domain_error(form, DomainError({"name": "No.", "elsewhere": "Not here."}))
            return jsonify(name=form.name.errors, form=form.form_errors), 422
        if outcome == "flashed":
            flash_domain_error(DomainError({"booking": "Too late."}, code=ErrorCode.CONFLICT))
            return redirect("/probe/flashes")
        if outcome == "kept":
            apply_domain_error(form, DomainError({"name": "Wrong, but counted."}, keeps_changes=True))
            return "kept", 422
        if outcome == "answered-422":
            return jsonify(error="validation"), 422  # an error answer without any mapper (as the API's)
        if outcome == "aborted":
            abort(404)
        if outcome == "unstorable":
            db.session.add(AuditEntry(actor_type=None, action="probe", entity_type="probe", entity_id=outcome))
            flash("Saved.", "success")
            return "never stored"
        raise RuntimeError(outcome)

    @probe.get("/probe/flashes")
    def flashes() -> Any:
        return jsonify(get_flashed_messages())


@pytest.fixture
def probe(app: Flask, database_url: str, tmp_path: Path, restore_jobs: None) -> Iterator[Flask]:
    """A second app on the test database with probe routes, bound to a rolled-back outer transaction."""
    probe_app = create_app(app_config(database_url, tmp_path), instance_path=str(tmp_path))
    probe_app.config.update(TESTING=False, PROPAGATE_EXCEPTIONS=False, WTF_CSRF_ENABLED=False)
    _probe_routes(probe_app)
    probe_app.test_client_class = IsolatedClient
    with rolled_back_session(probe_app):
        yield probe_app
    with probe_app.app_context():
        db.engine.dispose()


def stored(outcome: str) -> int:
    db.session.rollback()  # only what a request committed survives this
    return db.session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.entity_id == outcome)) or 0


def test_a_request_that_succeeds_is_committed_once_at_the_end(probe: Flask) -> None:
    assert probe.test_client().post("/probe/saved").status_code == 200
    assert stored("saved") == 1


def test_a_refusal_mapped_onto_a_form_rolls_the_request_back(probe: Flask) -> None:
    response = probe.test_client().post("/probe/refused")
    assert response.status_code == 422
    # Field messages beside their fields, a key no field matches as a form-level error.
    assert response.get_json() == {"name": ["No."], "form": ["Not here."]}
    assert stored("refused") == 0


def test_a_flashed_refusal_rolls_back_and_shows_after_the_redirect(probe: Flask) -> None:
    client = probe.test_client()
    response = client.post("/probe/flashed", follow_redirects=True)
    assert response.get_json() == ["Too late."]
    assert stored("flashed") == 0


def test_a_refusal_whose_rule_keeps_its_work_is_committed(probe: Flask) -> None:
    assert probe.test_client().post("/probe/kept").status_code == 422
    assert stored("kept") == 1


@pytest.mark.parametrize(("outcome", "status"), [("answered-422", 422), ("aborted", 404), ("crashed", 500)])
def test_an_error_answer_an_abort_or_a_crash_writes_nothing(probe: Flask, outcome: str, status: int) -> None:
    assert probe.test_client().post(f"/probe/{outcome}").status_code == status
    assert stored(outcome) == 0


def test_a_failed_commit_is_an_error_page_without_the_success_message(probe: Flask) -> None:
    client = probe.test_client()
    assert client.post("/probe/unstorable").status_code == 500
    assert client.get("/probe/flashes").get_json() == []
    assert stored("unstorable") == 0


def test_error_codes_still_equal_the_strings_clients_compare_with() -> None:
    assert DomainError({"x": "y"}, code="conflict").code is ErrorCode.CONFLICT
    assert ErrorCode.SLOT_TAKEN == "slot_taken"
    with pytest.raises(ValueError):
        DomainError({"x": "y"}, code="no_such_code")
