"""The application factory: configuration, extensions, blueprints, errors and commands."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask, has_request_context, request, session
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.middleware.proxy_fix import ProxyFix

from scheduler.config import build_config, check_production, load_environment
from scheduler.inputs import register_input_rules
from scheduler.logging_setup import configure_logging

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config: dict[str, Any] | None = None, instance_path: str | None = None) -> Flask:
    """Build the okno application.

    ``test_config`` holds environment-style overrides (``{"OKNO_ENV": "testing", ...}``)
    applied over the process environment, and then raw Flask settings with the same names.
    """
    instance = instance_path or os.environ.get("OKNO_INSTANCE_PATH") or str(PROJECT_ROOT / "instance")
    app = Flask(
        "okno",
        instance_path=instance,
        instance_relative_config=True,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(Path(__file__).parent / "static"),
        root_path=str(Path(__file__).parent),
    )
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    register_config(app, test_config)
    register_log_redaction()
    register_proxy(app)
    register_observability(app)
    register_extensions(app)
    register_database_events(app)
    register_input_rules(app)  # before the blueprints: a route compiles its converters when added
    register_blueprints(app)
    register_errors(app)
    register_security_headers(app)
    register_sealed_sessions(app)
    register_commands(app)
    register_templating(app)
    return app


def register_config(app: Flask, test_config: dict[str, Any] | None) -> None:
    env = load_environment(Path(app.instance_path))
    if test_config:
        env.update({k: v for k, v in test_config.items() if isinstance(v, str)})
    app.config.update(build_config(env, Path(app.instance_path)))
    if test_config:
        app.config.update({k: v for k, v in test_config.items() if not isinstance(v, str)})
    if app.config["OKNO_ENV"] == "production":
        check_production(app.config)
    configure_logging(app.config)


def register_log_redaction() -> None:
    """Keep URL secrets (manage, ticket, personal-page and feed tokens) out of every log line: the app's and
    the development server's; gunicorn's logger is set in scheduler/gunicorn_conf.py."""
    from scheduler.redaction import install_redaction

    install_redaction("werkzeug")


def register_security_headers(app: Flask) -> None:
    from scheduler.security_headers import register_security_headers as register

    register(app)


def register_sealed_sessions(app: Flask) -> None:
    """The session cookie sealed, not just signed: it holds a citizen's email and manage grants."""
    from scheduler.sessions import register_sealed_sessions as register

    register(app)


def register_models() -> None:
    """Load every model module, so that ``db.metadata`` (and Alembic's autogenerate) holds every table.

    Only the composition root knows every feature, so the list lives here.
    """
    import scheduler.audit
    import scheduler.auth.models
    import scheduler.departments.models
    import scheduler.experts.models
    import scheduler.heartbeat
    import scheduler.mail.models
    import scheduler.schedules.models  # noqa: F401


def register_proxy(app: Flask) -> None:
    """Read the client's address, scheme and host from the trusted proxies' X-Forwarded-* headers.

    ProxyFix takes the rightmost ``TRUSTED_PROXY_COUNT`` entries, the ones our proxies appended,
    so an address a client put in the header itself is never taken as its own.
    """
    hops = app.config["TRUSTED_PROXY_COUNT"]
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]


def register_observability(app: Flask) -> None:
    """Request ids in the logs and responses, request timing and ``/metrics`` (before every other hook)."""
    from scheduler.logging_setup import register_request_id
    from scheduler.metrics import register_metrics

    register_request_id(app)
    register_metrics(app)


def register_extensions(app: Flask) -> None:
    from scheduler.extensions import babel, csrf, db, limiter, login_manager, migrate
    from scheduler.jobs import init_jobs
    from scheduler.ratelimits import watch_rate_limit_storage

    register_models()

    db.init_app(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"), render_as_batch=True, compare_type=True)
    csrf.init_app(app)
    limiter.init_app(app)
    watch_rate_limit_storage(app)
    babel.init_app(app, locale_selector=select_locale, default_translation_directories="translations")
    login_manager.init_app(app)
    init_jobs(app)
    register_jobs()


def register_jobs() -> None:
    """Hand every feature's periodic jobs to the worker (each registration happens once per process)."""
    from booking.jobs import register_jobs as register_booking_jobs
    from booking.privacy.jobs import register_jobs as register_privacy_jobs
    from booking.reception.jobs import register_jobs as register_reception_jobs
    from booking.tickets.jobs import register_jobs as register_ticket_jobs
    from scheduler.jobs import huey
    from scheduler.jobs import register_jobs as register_outbox_jobs

    for register in (register_outbox_jobs, register_booking_jobs, register_reception_jobs, register_ticket_jobs,
                     register_privacy_jobs):
        register(huey)


def select_locale() -> str:
    """Russian unless the visitor chose English (kept in the session).

    API clients choose with Accept-Language; outside a request (jobs, the CLI) it is Russian.
    """
    if not has_request_context():
        return "ru"
    choice = session.get("lang")
    if choice in ("ru", "en"):
        return str(choice)
    if request.path.startswith("/api/"):
        return request.accept_languages.best_match(("ru", "en")) or "ru"
    return "ru"


def register_database_events(app: Flask) -> None:
    from booking.metrics import install_booking_counters
    from booking.notifications import install_booking_mail
    from scheduler.connection_checks import ping_idle_connections
    from scheduler.extensions import db
    from scheduler.jobs import install_outbox_notifier
    from scheduler.transaction import refuse_writes_in_read_only_requests, register_transaction_boundary

    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "sqlite":
            configure_sqlite(engine)
        refuse_writes_in_read_only_requests(engine)
        ping_idle_connections(engine, float(app.config["POOL_PING_IDLE_SECONDS"]))

    install_outbox_notifier()
    install_booking_counters()
    install_booking_mail()
    register_transaction_boundary(app)


def configure_sqlite(engine: Engine) -> None:
    """Foreign keys on, WAL, concurrent reads and serialised write transactions that SQLAlchemy fully controls.

    pysqlite's own transaction handling breaks SAVEPOINT; the SQLAlchemy docs' recipe
    hands BEGIN to SQLAlchemy instead. Work that may write (``scheduler.transaction.may_write``:
    unsafe requests, GET views marked ``@writes``, jobs, commands) begins IMMEDIATE, taking the
    write lock up front (waiting up to busy_timeout): a deferred transaction that read first and
    writes later fails at once with "database is locked" when another process committed
    meanwhile, and serialised writers are what keeps the embedded database free of double
    bookings. Read-only requests begin deferred: under WAL they read a snapshot side by side,
    never waiting for a writer, and cannot write (``refuse_writes_in_read_only_requests``).
    """
    from scheduler.transaction import may_write

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if may_write() else "BEGIN")


def register_blueprints(app: Flask) -> None:
    from booking.analytics import api as stats_api
    from booking.api import bookings as bookings_api
    from booking.api import catalogue as catalogue_api
    from booking.api.limits import apply_api_limits
    from booking.api.plumbing import create_blueprint as create_api_blueprint
    from booking.citizen.routes import bp as citizen_bp
    from scheduler.auth.views import bp as auth_bp
    from scheduler.extensions import csrf
    from scheduler.health import bp as health_bp
    from scheduler.schedules.views import bp as schedules_bp
    from scheduler.staff.views import bp as staff_bp
    from scheduler.web import bp as web_bp

    app.register_blueprint(web_bp)
    app.register_blueprint(citizen_bp)
    app.register_blueprint(health_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(staff_bp)
    app.register_blueprint(schedules_bp)
    # The expert's schedule page shows free slots, which know about bookings: booking serves it.
    from booking.schedule_preview import bp as schedule_preview_bp

    app.register_blueprint(schedule_preview_bp)
    from video.tokens import JitsiSettings

    JitsiSettings.from_config(app.config)  # half-configured video fails at start-up, not on a join page
    from booking.tickets import api as tickets_api
    from booking.tickets.views import bp as tickets_bp
    from booking.workspace.views import bp as workspace_bp
    from video.views import bp as video_bp

    app.register_blueprint(workspace_bp)
    from booking.workspace.feed import feed_bp

    app.register_blueprint(feed_bp)  # /calendar/<token>.ics: polled by calendar programs, no sign-in
    app.register_blueprint(tickets_bp)
    from booking.analytics.views import bp as analytics_bp
    from booking.privacy.views import bp as privacy_bp
    from booking.reception.views import bp as reception_bp

    app.register_blueprint(reception_bp)
    app.register_blueprint(analytics_bp)
    app.register_blueprint(privacy_bp)
    app.register_blueprint(video_bp)
    api_bp = create_api_blueprint()  # one /api/v1 for every feature's routes, one rate limit and error shape
    for feature in (catalogue_api, bookings_api, tickets_api, stats_api):
        feature.register(api_bp)
    apply_api_limits(api_bp)
    app.register_blueprint(api_bp)
    csrf.exempt(api_bp)  # token-less JSON for partners; browser forms never post here


def register_errors(app: Flask) -> None:
    from scheduler.errors import register_error_handlers

    register_error_handlers(app)


def register_commands(app: Flask) -> None:
    from booking.apikeys import api_key_cli
    from booking.privacy.cli import privacy_cli
    from booking.tickets.cli import workdays_cli
    from scheduler.cli import register_cli

    register_cli(app)
    app.cli.add_command(api_key_cli)
    app.cli.add_command(workdays_cli)
    app.cli.add_command(privacy_cli)


def register_templating(app: Flask) -> None:
    from flask_babel import get_locale

    from booking.labels import booking_status_label, event_label, status_label
    from scheduler.timefmt import local_date, local_datetime, local_time, zone_label

    app.jinja_env.globals.update(
        zone_label=zone_label, local_date=local_date, local_time=local_time, local_datetime=local_datetime,
        status_label=status_label, booking_status_label=booking_status_label, event_label=event_label,
    )

    @app.context_processor
    def _inject() -> dict[str, Any]:
        return {"current_locale": str(get_locale() or "ru")}
