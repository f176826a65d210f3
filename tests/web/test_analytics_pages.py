"""The analytics dashboard, its CSV/XLSX downloads and GET /api/v1/stats: who sees what, and the same figures."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from typing import Any
from xml.etree import ElementTree

import pytest
from babel.numbers import format_decimal, format_percent

from booking.analytics.exports import FIGURES
from booking.apikeys import create_key
from scheduler.audit import Actor
from scheduler.auth.models import Role
from tests.analytics_fixtures import EXPECTED, FIRST, LAST, Dataset, seed_dataset
from tests.helpers import login, make_user
from tests.web.test_openapi import document, problems

PERIOD = f"from={FIRST.isoformat()}&to={LAST.isoformat()}"


@pytest.fixture
def data(session: Any) -> Dataset:
    return seed_dataset(session)


def signed_in(client: Any, session: Any, role: Role, department_id: int | None = None) -> None:
    login(client, make_user(session, role=role, department_id=department_id))


def summary_values(page: str) -> list[str]:
    """The ``data-value`` of the summary table's "this period" column, row by row."""
    table = page.split('id="table-summary"', 1)[1].split("</table>", 1)[0]
    return re.findall(r'<tr>\s*<th scope="row">[^<]*</th>\s*<td data-value="([^"]*)"', table)


def period_value(page: str, row: int) -> str:
    return summary_values(page)[row]


@pytest.mark.parametrize("role", [Role.EXPERT, Role.RECEPTION])
def test_experts_and_reception_may_not_see_analytics(client: Any, session: Any, data: Dataset, role: Role) -> None:
    signed_in(client, session, role, data.gas.id)
    assert client.get(f"/staff/analytics/?{PERIOD}").status_code == 403
    assert client.get(f"/staff/analytics/summary.csv?{PERIOD}").status_code == 403


def test_admin_sees_every_department(client: Any, session: Any, data: Dataset) -> None:
    signed_in(client, session, Role.ADMIN)
    page = client.get(f"/staff/analytics/?{PERIOD}").get_data(as_text=True)
    assert period_value(page, 0) == str(EXPECTED["made"])
    assert data.water.title in page and data.gas.title in page
    assert 'id="department"' in page


def test_supervisor_sees_only_their_department(client: Any, session: Any, data: Dataset) -> None:
    signed_in(client, session, Role.SUPERVISOR, data.gas.id)
    page = client.get(f"/staff/analytics/?{PERIOD}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert period_value(text, 0) == "8"  # the gas department's bookings only
    assert data.pipe.title not in text and 'id="department"' not in text
    # Asking for another department is refused, not quietly widened.
    assert client.get(f"/staff/analytics/?{PERIOD}&department={data.water.slug}").status_code == 400


def test_supervisor_without_a_department_sees_nothing(client: Any, session: Any, data: Dataset) -> None:
    signed_in(client, session, Role.SUPERVISOR)
    page = client.get(f"/staff/analytics/?{PERIOD}").get_data(as_text=True)
    assert period_value(page, 0) == "0"


def test_filters_narrow_the_page(client: Any, session: Any, data: Dataset) -> None:
    signed_in(client, session, Role.ADMIN)
    page = client.get(f"/staff/analytics/?{PERIOD}&applicant_type=legal_entity&channel=video").get_data(as_text=True)
    assert period_value(page, 0) == "3"
    page = client.get(f"/staff/analytics/?{PERIOD}&location={data.office.slug}").get_data(as_text=True)
    assert period_value(page, 0) == "3"


@pytest.mark.parametrize("query", ["from=2025-13-01", "from=2025-04-10&to=2025-04-01", "from=2023-01-01&to=2025-01-01",
                                   "channel=fax", "topic=nope", "applicant_type=robot"])
def test_bad_filters_are_refused(client: Any, session: Any, data: Dataset, query: str) -> None:
    signed_in(client, session, Role.ADMIN)
    assert client.get(f"/staff/analytics/?{query}").status_code == 400


def test_numbers_are_formatted_for_the_locale(client: Any, session: Any, data: Dataset) -> None:
    signed_in(client, session, Role.ADMIN)
    page = client.get(f"/staff/analytics/?{PERIOD}").get_data(as_text=True)
    assert f'data-value="5820">{format_decimal(5820, locale="ru")}<' in page  # "5 820"
    assert f">{format_percent(0.052, locale='ru', decimal_quantization=False)}<" in page  # utilisation "5,2 %"
    assert f">{format_decimal(16.0, '#,##0.0', locale='ru')}<" in page  # the wait, "16,0"


def test_every_table_has_a_chart_drawn_from_it_and_the_library_is_vendored(client: Any, session: Any,
                                                                           data: Dataset) -> None:
    signed_in(client, session, Role.ADMIN)
    page = client.get(f"/staff/analytics/?{PERIOD}").get_data(as_text=True)
    for name in ("channels", "topics", "months", "days"):
        assert f'data-chart-for="table-{name}"' in page
        assert f'id="table-{name}" data-chart=' in page
    script = re.search(r'src="([^"]*chart\.umd\.min\.js)"', page)
    assert script is not None
    library = client.get(script.group(1))
    library.close()
    assert library.status_code == 200


def _csv(response: Any) -> list[list[str]]:
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))


def _xlsx(response: Any) -> list[list[Any]]:
    """The first worksheet's cells (strings and numbers), row by row: a minimal reader for the test."""
    assert response.status_code == 200
    ns = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
    with zipfile.ZipFile(io.BytesIO(response.get_data())) as book:
        strings = [si.findtext("m:t", "", ns) for si in
                   ElementTree.fromstring(book.read("xl/sharedStrings.xml")).findall("m:si", ns)]
        sheet = ElementTree.fromstring(book.read("xl/worksheets/sheet1.xml"))
    rows = []
    for row in sheet.find("m:sheetData", ns) or []:
        cells: list[Any] = []
        for cell in row.findall("m:c", ns):
            column = ord(re.match(r"[A-Z]", cell.get("r", "A")).group(0)) - ord("A")  # type: ignore[union-attr]
            cells.extend([None] * (column - len(cells)))
            value = cell.findtext("m:v", None, ns)
            cells.append(strings[int(value)] if cell.get("t") == "s" else float(value) if value is not None else None)
        rows.append(cells)
    return rows


def test_csv_and_xlsx_downloads_read_back_to_the_same_figures(client: Any, session: Any, data: Dataset) -> None:
    signed_in(client, session, Role.ADMIN)
    summary = _csv(client.get(f"/staff/analytics/summary.csv?{PERIOD}"))
    assert len(summary) == 1 + len(FIGURES)
    assert [row[1] for row in summary[1:10]] == [str(EXPECTED[k]) for k in (
        "made", "held", "cancelled", "no_show", "walk_ins", "online", "in_person", "individuals", "legal_entities")]
    assert summary[1][2] == "2"  # the same week a year earlier
    book = _xlsx(client.get(f"/staff/analytics/summary.xlsx?{PERIOD}"))
    assert [row[1] for row in book[1:10]] == [float(row[1]) for row in summary[1:10]]

    days = _csv(client.get(f"/staff/analytics/days.csv?{PERIOD}"))
    assert [(r[0], r[1]) for r in days[1:]] == [("2025-04-07", "3"), ("2025-04-08", "3"), ("2025-04-09", "2"),
                                                ("2025-04-10", "2"), ("2025-04-13", "1")]
    rating = _xlsx(client.get(f"/staff/analytics/rating.xlsx?{PERIOD}"))
    assert sorted((r[0], r[1], r[2], r[3]) for r in rating[1:]) == sorted([
        (data.gas.title, 2.0, 1.0, 1.0), (data.water.title, 1.0, 0.0, 1.0)])
    for name in ("channels", "topics", "months", "rating_daily"):
        assert len(_csv(client.get(f"/staff/analytics/{name}.csv?{PERIOD}"))) > 1
    assert client.get(f"/staff/analytics/nope.csv?{PERIOD}").status_code == 404
    assert client.get(f"/staff/analytics/summary.pdf?{PERIOD}").status_code == 404


def test_supervisor_exports_only_their_department(client: Any, session: Any, data: Dataset) -> None:
    signed_in(client, session, Role.SUPERVISOR, data.water.id)
    summary = _csv(client.get(f"/staff/analytics/summary.csv?{PERIOD}"))
    assert summary[1][1] == "3"


def test_stats_api_needs_a_partner_key(client: Any, session: Any, data: Dataset) -> None:
    assert client.get(f"/api/v1/stats?{PERIOD}").status_code == 401
    assert client.get(f"/api/v1/stats?{PERIOD}", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_stats_api_gives_the_dashboards_figures_as_documented(client: Any, session: Any, data: Dataset) -> None:
    _row, key = create_key(session, "Портал", Actor.system("test"))
    auth = {"Authorization": f"Bearer {key}"}
    response = client.get(f"/api/v1/stats?{PERIOD}", headers=auth)
    assert response.status_code == 200
    body = response.get_json()
    assert problems(body, {"$ref": "#/components/schemas/Stats"}, document()) == []
    summary = body["summary"]
    assert {k: summary[k] for k in EXPECTED} == EXPECTED
    assert summary["utilisation"] == pytest.approx(300 / 5820)
    assert body["previous_year"]["made"] == 2
    assert [(r["key"], r["made"]) for r in body["by_day"]] == [
        ("2025-04-07", 3), ("2025-04-08", 3), ("2025-04-09", 2), ("2025-04-10", 2), ("2025-04-13", 1)]
    assert {r["department"]: r["due"] for r in body["rating"]} == {data.gas.slug: 2, data.water.slug: 1}

    gas = client.get(f"/api/v1/stats?{PERIOD}&department={data.gas.slug}&topic={data.meter.slug}", headers=auth)
    assert gas.get_json()["summary"]["made"] == 3
    bad = client.get(f"/api/v1/stats?{PERIOD}&channel=fax", headers=auth)
    assert bad.status_code == 422
    assert bad.get_json()["fields"] == {"channel": bad.get_json()["fields"]["channel"]}


def test_table_cells_are_escaped_by_the_helper_the_template_trusts() -> None:
    from booking.analytics.exports import Column, Table
    from booking.analytics.views import table_cells

    table = Table("t", "T", (Column("name", "Name", "text"), Column("a", "A"), Column("b", "B")),
                  [("<row>", '"1"&', None)])
    cells = table_cells(lambda value, kind: f"<{value}|{kind}>")
    assert [(name, list(values)) for name, values in cells(table)] == [
        ("<row>", [("&#34;1&#34;&amp;", "&lt;&#34;1&#34;&amp;|int&gt;"), ("", "&lt;None|int&gt;")])]
