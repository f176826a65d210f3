"""Analytics pages and exports: the supervisors' dashboard (their department), admins' (every department)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

from babel.numbers import format_decimal, format_percent
from flask import Blueprint, Response, abort, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_login import current_user
from markupsafe import escape
from sqlalchemy import select

from booking.analytics.exports import Table, channel_label, tables, to_csv, to_xlsx
from booking.analytics.queries import StatsFilter, dashboard
from scheduler.auth import access
from scheduler.auth.models import Role
from scheduler.auth.roles import role_required
from scheduler.db import utcnow
from scheduler.departments.models import APPLICANT_TYPES, CHANNELS, Department, Location, Topic
from scheduler.extensions import db
from scheduler.inputs import parse_day

bp = Blueprint("analytics", __name__, url_prefix="/staff/analytics")

DEFAULT_DAYS = 30
MAX_DAYS = 366
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class BadFilter(ValueError):
    """A filter parameter that is malformed or names nothing: the page answers 400, the API a validation error."""

    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


@dataclass(frozen=True)
class Choices:
    """What the filter form offers, and what the request chose."""

    departments: list[Department]
    topics: list[Topic]
    locations: list[Location]
    filters: StatsFilter


def parse_filters(args: Any, allowed_department_ids: tuple[int, ...] | None, today: date) -> Choices:
    """``from``/``to`` (ISO dates, ``to`` default today, ``from`` default 30 days before) and slugs or values for
    ``department``, ``topic``, ``channel``, ``applicant_type``, ``location``; raises BadFilter(field).

    ``allowed_department_ids`` None: every department may be chosen (admins, partners); otherwise only those.
    """
    try:
        last = parse_day(args["to"]) if args.get("to") else today
    except ValueError:
        raise BadFilter("to") from None
    try:
        first = parse_day(args["from"]) if args.get("from") else last - timedelta(days=DEFAULT_DAYS - 1)
    except ValueError:
        raise BadFilter("from") from None
    if first > last or (last - first).days >= MAX_DAYS:
        raise BadFilter("from")
    query = select(Department).order_by(Department.title)
    if allowed_department_ids is not None:
        query = query.where(Department.id.in_(allowed_department_ids))
    departments = list(db.session.scalars(query))
    department_ids: tuple[int, ...] | None = allowed_department_ids
    if args.get("department"):
        chosen = [d for d in departments if d.slug == args["department"]]
        if not chosen:
            raise BadFilter("department")
        department_ids = (chosen[0].id,)
    in_scope = [d.id for d in departments] if department_ids is None else list(department_ids)
    topics = list(db.session.scalars(select(Topic).where(Topic.department_id.in_(in_scope)).order_by(Topic.title)))
    locations = list(db.session.scalars(
        select(Location).where(Location.department_id.in_(in_scope)).order_by(Location.name)))
    topic_id = location_id = None
    if args.get("topic"):
        topic_id = next((t.id for t in topics if t.slug == args["topic"]), None)
        if topic_id is None:
            raise BadFilter("topic")
    if args.get("location"):
        location_id = next((loc.id for loc in locations if loc.slug == args["location"]), None)
        if location_id is None:
            raise BadFilter("location")
    channel = args.get("channel") or None
    if channel is not None and channel not in CHANNELS:
        raise BadFilter("channel")
    applicant_type = args.get("applicant_type") or None
    if applicant_type is not None and applicant_type not in APPLICANT_TYPES:
        raise BadFilter("applicant_type")
    filters = StatsFilter(first, last, department_ids, topic_id, channel, applicant_type, location_id)
    return Choices(departments, topics, locations, filters)


def _choices() -> Choices:
    """Admins see every department; a supervisor only their own (nothing, if they have none yet)."""
    departments = access.department_ids(current_user, access.Action.VIEW_ANALYTICS)
    try:
        return parse_filters(request.args, departments, utcnow().date())
    except BadFilter:
        abort(400)


def value_formatter() -> Callable[[Any, str], str]:
    """``format_value(value, kind)``: a figure for the page, in the reader's locale (``1 234``, ``12,5``, ``37 %``);
    a dash for none. The locale is read once for the page's thousands of figures."""
    locale = str(get_locale() or "ru")

    def format_value(value: Any, kind: str) -> str:
        return "—" if value is None else _formatted(type(value), value, kind, locale)

    return format_value


Cell = tuple[str, str]


def table_cells(format_value: Callable[[Any, str], str]) -> Callable[[Table], Iterator[tuple[Any, Iterator[Cell]]]]:
    """``cells(table)``: each row's name and its values as (raw value for ``data-value``, text shown), both
    HTML-escaped here as plain strings: the template writes them with autoescaping off.

    A year's tables have some 13,000 cells. Formatted here, one row at a time as the template writes them,
    they are not all held at once, nor wrapped each in a ``Markup`` (an object the garbage collector
    tracks, unlike a string): 26,000 of those alive until the page was joined made a full collection of the
    whole heap every other page.
    """
    def cells(table: Table) -> Iterator[tuple[Any, Iterator[Cell]]]:
        for index, row in enumerate(table.rows):
            kinds = table.kinds(index)
            yield row[0], ((str(escape("" if value is None else value)), str(escape(format_value(value, kinds[n]))))
                           for n, value in enumerate(row[1:], 1))

    return cells


@lru_cache(maxsize=8192)
def _formatted(_type: type, value: Any, kind: str, locale: str) -> str:
    """Babel's formatting, remembered: a year's page shows some 13,000 figures, most of them small counts
    seen before, and Babel takes tens of microseconds for each."""
    if kind in ("percent", "change"):  # to a tenth of a per cent, in the locale's own pattern ("5,2 %", "5.2%")
        text = format_percent(round(value, 3), locale=locale, decimal_quantization=False)
        return f"+{text}" if kind == "change" and value > 0 else text
    if kind == "decimal":
        return format_decimal(value, "#,##0.0", locale=locale)
    if kind == "int":
        return format_decimal(value, locale=locale)
    return str(value)


@bp.route("/")
@role_required(Role.SUPERVISOR)
def index() -> ResponseReturnValue:
    """The dashboard: the period's figures against a year earlier, tables with charts, the department rating."""
    choices = _choices()
    board = dashboard(db.session, choices.filters, utcnow())
    return render_template(
        "analytics/dashboard.html", board=board, tables=tables(board), choices=choices, args=request.args,
        table_cells=table_cells(value_formatter()), channels=CHANNELS, applicant_types=APPLICANT_TYPES,
        channel_label=channel_label,
        is_admin=access.department_ids(current_user, access.Action.VIEW_ANALYTICS) is None,
    )


@bp.route("/<name>.<fmt>")
@role_required(Role.SUPERVISOR)
def export(name: str, fmt: str) -> ResponseReturnValue:
    """One table of the dashboard as CSV or XLSX, for the same filters."""
    if fmt not in ("csv", "xlsx"):
        abort(404)
    choices = _choices()
    table = tables(dashboard(db.session, choices.filters, utcnow())).get(name)
    if table is None:
        abort(404)
    filters = choices.filters
    filename = f"okno-{name}-{filters.first.isoformat()}-{filters.last.isoformat()}.{fmt}"
    body, mimetype = (to_csv(table), "text/csv; charset=utf-8") if fmt == "csv" else (to_xlsx(table), XLSX)
    return Response(body, mimetype=mimetype, headers={
        "Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"})
