"""The dashboard's tables — one definition used by the page, the CSV and XLSX downloads and the API."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l

from booking.analytics.queries import Counts, Dashboard, Summary
from booking.tickets.rating import RatingRow

# Column kinds: how the page formats a value ("int", "decimal", "percent", "change" (a signed percentage), "text").
COUNT_COLUMNS: tuple[tuple[str, Any], ...] = (
    ("made", _l("Bookings made")), ("held", _l("Held")), ("cancelled", _l("Cancelled")),
    ("no_show", _l("No-shows")), ("walk_ins", _l("Walk-ins")), ("online", _l("Online (video)")),
    ("in_person", _l("In person")), ("individuals", _l("Individuals")), ("legal_entities", _l("Legal entities")),
)

# The summary's figures: key, label, kind, and how to read it from a Summary.
FIGURES: tuple[tuple[str, Any, str, Callable[[Summary], Any]], ...] = (
    *((key, label, "int", (lambda s, key=key: getattr(s.counts, key))) for key, label in COUNT_COLUMNS),
    ("booked_minutes", _l("Booked consultation minutes"), "int", lambda s: s.booked_minutes),
    ("available_minutes", _l("Experts' available minutes"), "int", lambda s: s.available_minutes),
    ("utilisation", _l("Utilisation of available time"), "percent", lambda s: s.utilisation),
    ("waits", _l("Reception waits measured"), "int", lambda s: s.waits),
    ("avg_wait_minutes", _l("Average wait at reception, minutes"), "decimal", lambda s: s.avg_wait_minutes),
    ("followups_opened", _l("Follow-ups opened"), "int", lambda s: s.followups_opened),
    ("followups_due", _l("Follow-ups due"), "int", lambda s: s.followups_due),
    ("followups_on_time", _l("Answered on time"), "int", lambda s: s.followups_on_time),
    ("followups_overdue", _l("Overdue"), "int", lambda s: s.followups_overdue),
    ("on_time_rate", _l("Share answered on time"), "percent", lambda s: s.on_time_rate),
    ("confirmation_rate", _l("Confirmation rate"), "percent", lambda s: s.confirmation_rate),
    ("reopen_rate", _l("Reopen rate"), "percent", lambda s: s.reopen_rate),
)


@dataclass(frozen=True)
class Column:
    key: str
    label: Any
    kind: str = "int"


@dataclass(frozen=True)
class Table:
    """A titled table: the first column names the row (``th scope="row"`` on the page)."""

    name: str
    title: Any
    columns: tuple[Column, ...]
    rows: list[tuple[Any, ...]]
    chart: str = ""  # "bar" or "line": the page draws it from the table; "" for none
    # When the rows mix counts and rates (the summary): each row's kind, used for all its values but a
    # change column, which is always a percentage.
    row_kinds: tuple[str, ...] = ()

    def kinds(self, index: int) -> list[str]:
        """How each value of row ``index`` reads ("int", "decimal", "percent", "text")."""
        if not self.row_kinds:
            return [c.kind for c in self.columns]
        kind = self.row_kinds[index]
        return ["text", *(kind if c.kind == "number" else c.kind for c in self.columns[1:])]


def figures(summary: Summary) -> dict[str, Any]:
    """The summary as plain JSON values."""
    return {key: read(summary) for key, _label, _kind, read in FIGURES}


def change(now: Any, before: Any) -> float | None:
    """Growth on the year-earlier value (0.25 = +25 %); None without a base."""
    if now is None or before is None or not before:
        return None
    return (now - before) / before


def counts_json(rows: list[Counts]) -> list[dict[str, Any]]:
    return [{"key": r.key, "label": r.label, **{k: getattr(r, k) for k, _label in COUNT_COLUMNS}} for r in rows]


def rating_json(rows: list[RatingRow]) -> list[dict[str, Any]]:
    return [{**r.as_dict(), "answered": r.answered, "on_time_rate": r.on_time_rate} for r in rows]


def _count_table(name: str, title: Any, first: Any, rows: list[Counts], chart: str) -> Table:
    columns = (Column("key", first, "text"), *(Column(k, label) for k, label in COUNT_COLUMNS))
    return Table(name, title, columns, [(r.label, *(getattr(r, k) for k, _l in COUNT_COLUMNS)) for r in rows], chart)


def _rating_table(name: str, title: Any, rows: list[RatingRow], daily: bool) -> Table:
    columns = (
        Column("department", _l("Department"), "text"), *((Column("day", _l("Day"), "text"),) if daily else ()),
        Column("due", _l("Due")), Column("answered_on_time", _l("Answered on time")),
        Column("overdue", _l("Overdue")), Column("on_time_rate", _l("Share answered on time"), "percent"),
        Column("avg_answer_hours", _l("Average answer time, working hours"), "decimal"),
        Column("confirmation_rate", _l("Confirmation rate"), "percent"),
        Column("reopen_rate", _l("Reopen rate"), "percent"),
    )
    return Table(name, title, columns, [
        (r.department_title, *((r.day.isoformat() if r.day else "",) if daily else ()), r.due, r.answered_on_time,
         r.overdue, r.on_time_rate, r.avg_answer_hours, r.confirmation_rate, r.reopen_rate) for r in rows])


def channel_label(key: str) -> Any:
    return {"video": _l("Online (video)"), "in_person": _l("In person")}.get(key, key)


def tables(board: Dashboard) -> dict[str, Table]:
    """Every table of the dashboard, by name (the names are the export URLs' too)."""
    summary_rows = []
    for _key, label, kind, read in FIGURES:
        now, before = read(board.summary), read(board.previous)
        summary_rows.append((label, now, before, change(now, before) if kind != "percent" else None))
    channels = [Counts(r.key, str(channel_label(r.key)), *(getattr(r, k) for k, _l in COUNT_COLUMNS))
                for r in board.by_channel]
    result = [
        Table("summary", _l("Figures for the period"), (
            Column("figure", _l("Figure"), "text"), Column("period", _l("This period"), "number"),
            Column("previous_year", _l("A year earlier"), "number"),
            Column("change", _l("Change on a year earlier"), "change")), summary_rows,
            row_kinds=tuple(kind for _key, _label, kind, _read in FIGURES)),
        _count_table("channels", _l("Online and in person"), _l("Channel"), channels, "bar"),
        _count_table("topics", _l("By topic"), _l("Topic"), board.by_topic, "bar"),
        _count_table("months", _l("Seasonality by month"), _l("Month"), board.by_month, "line"),
        _count_table("days", _l("By day"), _l("Day"), board.by_day, "line"),
        _rating_table("rating", _l("Department rating for the period"), board.rating, daily=False),
        _rating_table("rating_daily", _l("Department rating by day"), board.rating_daily, daily=True),
    ]
    return {t.name: t for t in result}


def to_csv(table: Table) -> bytes:
    """UTF-8 with a byte-order mark (so spreadsheet programs read Cyrillic), comma-separated, plain numbers."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([str(c.label) for c in table.columns])
    for row in table.rows:
        writer.writerow(["" if v is None else str(v) for v in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(table: Table) -> bytes:
    """One worksheet: a header row, then the figures as numbers (rates as percentages)."""
    import xlsxwriter

    out = io.BytesIO()
    workbook = xlsxwriter.Workbook(out, {"in_memory": True})
    sheet = workbook.add_worksheet(table.name[:31])
    bold = workbook.add_format({"bold": True})
    percent = workbook.add_format({"num_format": "0.0%"})
    for col, column in enumerate(table.columns):
        sheet.write_string(0, col, str(column.label), bold)
        sheet.set_column(col, col, 40 if col == 0 else 16)
    for n, row in enumerate(table.rows, start=1):
        kinds = table.kinds(n - 1)
        for col, value in enumerate(row):
            if value is None:
                continue
            if isinstance(value, (int, float)):
                sheet.write_number(n, col, value, percent if kinds[col] in ("percent", "change") else None)
            else:
                sheet.write_string(n, col, str(value))
    workbook.close()
    return out.getvalue()
