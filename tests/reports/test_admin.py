"""The reports in the admin: the list, a page per report (filters, chart, table, CSV link),
who may open them, and what a store manager sees.

A probe report (stock movements per local day, week, month or store) stands in for the
real ones so these tests pin the pages whatever the reports compute; one test opens every
registered report as well.
"""

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.db.models import Count, Sum
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from inventory.models import StockMovement
from reports import charts, registry
from reports.registry import ReportParams, ReportResult
from reports.sql import LocalPeriod, in_local_dates, money
from tests.factories.inventory import StockLevelFactory

pytestmark = pytest.mark.django_db

LIST = "/admin/reports/report/"
PAGE = "/admin/reports/report/probe/"
APRIL = {"from": "2026-04-01", "to": "2026-04-30"}


def _probe(params):
    movements = in_local_dates(
        StockMovement.objects.all(),
        timestamp="created_at",
        time_zone="level__location__time_zone",
        date_from=params.date_from,
        date_to=params.date_to,
    )
    if params.location_ids is not None:
        movements = movements.filter(level__location_id__in=params.location_ids)
    if params.group_by == "store":
        key = "level__location__code"
    else:
        movements = movements.annotate(
            period=LocalPeriod(params.group_by, "created_at", "level__location__time_zone")
        )
        key = "period"
    grouped = movements.values(key).annotate(n=Count("pk"), units=Sum("quantity")).order_by(key)
    rows = [
        {params.group_by: row[key], "movements": row["n"], "value": money(row["units"] * 2)}
        for row in grouped
    ]
    return ReportResult(
        rows=rows,
        totals={
            "movements": sum(row["movements"] for row in rows),
            "value": money(sum(row["units"] * 2 for row in grouped)),
        },
    )


@pytest.fixture(autouse=True)
def probe():
    registry._load()
    registry.report(
        name="probe",
        title="Probe",
        description="Stock movements per day",
        group_by=("day", "week", "month", "store"),
    )(_probe)
    yield
    registry._REPORTS.pop("probe", None)


def _moved(location, at: datetime, units: int = 1):
    level = StockLevelFactory(location=location, on_hand=units)
    StockMovement.objects.filter(level=level).update(created_at=at)


@pytest.fixture
def history(shop):
    """Berlin: 3 units on 2 April and 4 on 10 April; Hamburg: 5 units on 2 April (UTC
    stores: the factory's default time zone)."""
    _moved(shop.store, datetime(2026, 4, 2, 10, tzinfo=UTC), 3)
    _moved(shop.store, datetime(2026, 4, 10, 10, tzinfo=UTC), 4)
    _moved(shop.other_store, datetime(2026, 4, 2, 12, tzinfo=UTC), 5)
    return shop


def _html(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def _table(html: str) -> list[list[str]]:
    """The cells of the report table, row by row (header, rows, totals)."""
    table = re.search(r'<table id="report-table">(.*?)</table>', html, re.S).group(1)
    return [
        [
            re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", tr, re.S)
        ]
        for tr in re.findall(r"<tr>(.*?)</tr>", table, re.S)
    ]


def test_head_office_sees_every_report_in_the_list_with_a_link_to_its_page(member):
    html = _html(member("head_office").get(LIST))
    for report in registry.reports():
        assert report.title in html
        assert f'href="/admin/reports/report/{report.name}/"' in html
    assert "Stock movements per day" in html


def test_a_report_page_has_the_filters_a_chart_the_rows_and_totals_and_a_csv_link(member, history):
    head = member("head_office")
    html = _html(head.get(PAGE, APRIL))
    assert _table(html) == [
        ["Day", "Movements", "Value"],
        ["2026-04-02", "2", "16.00"],
        ["2026-04-10", "1", "8.00"],
        ["Total", "3", "24.00"],
    ]
    chart = re.search(r'<section class="report-chart".*?</section>', html, re.S).group(0)
    assert chart.count("<svg") == 1 and "<script" not in chart
    # A line over every day of April (30 points), of the money figure.
    assert chart.count('class="dot reactive tooltip-trigger"') == 30
    assert ">Value<" in chart
    csv_link = re.search(r'id="report-csv" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert csv_link == (
        "/api/v1/reports/probe/?from=2026-04-01&to=2026-04-30&group_by=day&format=csv"
    )
    lines = list(csv.reader(io.StringIO(head.get(csv_link).content.decode())))
    assert lines == [
        ["day", "movements", "value"],
        ["2026-04-02", "2", "16.00"],
        ["2026-04-10", "1", "8.00"],
        ["total", "3", "24.00"],
    ]


def test_grouped_by_store_the_chart_is_bars_and_another_figure_can_be_drawn(member, history):
    head = member("head_office")
    html = _html(head.get(PAGE, {**APRIL, "group_by": "store"}))
    assert _table(html)[1:] == [
        ["BER-MITTE", "2", "14.00"],
        ["HAM-01", "1", "10.00"],
        ["Total", "3", "24.00"],
    ]
    assert html.count('class="rect reactive tooltip-trigger"') == 2  # a bar per store
    assert "?from=2026-04-01&amp;to=2026-04-30&amp;group_by=store&amp;chart=movements" in html
    counts = _html(head.get(PAGE, {**APRIL, "group_by": "store", "chart": "movements"}))
    assert re.search(r'class="current">Movements<', counts)


def test_a_report_without_rows_says_so_instead_of_a_chart(member, shop):
    html = _html(member("head_office").get(PAGE, APRIL))
    assert "No data for these dates" in html
    assert "pygal-chart" not in html


def test_every_registered_report_page_answers_with_a_chart_or_no_data(member, history):
    head = member("head_office")
    for report in registry.reports():
        for group_by in report.group_by:
            html = _html(
                head.get(f"/admin/reports/report/{report.name}/", {**APRIL, "group_by": group_by})
            )
            assert "pygal-chart" in html or "No data for these dates" in html, (
                report.name,
                group_by,
            )
            assert "errornote" not in html, (report.name, group_by)


def test_a_store_manager_is_offered_their_store_only_and_another_is_refused(member, history):
    manager = member("store_manager", history.store)
    html = _html(manager.get(PAGE, {**APRIL, "group_by": "store"}))
    options = re.findall(
        r'<option value="([^"]*)"', html.split('name="location"')[1].split("</select>")[0]
    )
    assert options == ["", "BER-MITTE"]
    assert _table(html)[1:] == [["BER-MITTE", "2", "14.00"], ["Total", "2", "14.00"]]
    for other in ("HAM-01", str(history.other_store.pk)):
        refused = manager.get(PAGE, {**APRIL, "group_by": "store", "location": other})
        assert refused.status_code in (200, 403)
        if refused.status_code == 200:
            page = refused.content.decode()
            assert "errornote" in page
            assert 'id="report-table"' not in page and "pygal-chart" not in page
            assert "Hamburg" not in page and "10.00" not in page


def test_head_office_may_narrow_a_page_to_one_store(member, history):
    html = _html(member("head_office").get(PAGE, {**APRIL, "location": "HAM-01"}))
    assert _table(html)[-1] == ["Total", "1", "10.00"]
    assert "location=HAM-01&amp;format=csv" in html


@pytest.mark.parametrize("role", ["store_associate", "merchandiser"])
def test_roles_without_the_reports_permission_are_refused(member, shop, role):
    browser = member(role, *(() if role == "merchandiser" else (shop.store,)))
    assert browser.get(LIST).status_code == 403
    assert browser.get(PAGE).status_code == 403
    assert "/admin/reports/" not in browser.get("/admin/").content.decode()


@pytest.mark.parametrize("role", ["head_office", "store_manager"])
def test_the_admin_index_lists_the_reports_for_the_roles_that_read_them(member, shop, role):
    html = _html(member(role, shop.store).get("/admin/"))
    assert 'href="/admin/reports/report/"' in html


def test_an_unknown_report_is_a_404(member):
    assert member("head_office").get("/admin/reports/report/nope/").status_code == 404


def test_anonymous_visitors_are_sent_to_the_login(client):
    response = client.get(PAGE)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


@pytest.mark.parametrize(
    "query, text",
    [
        ({"from": "2026-13-01"}, "No such date."),
        ({"from": "01.04.2026"}, "Use a date as YYYY-MM-DD."),
        ({"from": "٢٠٢٦-٠١-٠١"}, "Use a date as YYYY-MM-DD."),
        ({"from": "2026-05-01", "to": "2026-04-01"}, "The end is before the start."),
        ({"from": "2020-01-01", "to": "2026-01-01"}, "At most 732 days at once."),
        ({"group_by": "hour"}, "Select a valid choice."),
        ({"location": "NOWHERE"}, "Select a valid choice."),
        ({"from": "2026-01-01\x00"}, "Null characters are not allowed."),
    ],
)
def test_bad_filters_are_shown_next_to_their_field(member, history, query, text):
    html = _html(member("head_office").get(PAGE, query))
    assert 'class="errornote"' in html and text in html
    assert 'id="report-table"' not in html and "pygal-chart" not in html


def test_opening_a_report_page_writes_nothing(member, history):
    head = member("head_office")
    with CaptureQueriesContext(connection) as queries:
        _html(head.get(PAGE, APRIL))
        _html(head.get(LIST))
    writes = [
        q["sql"]
        for q in queries
        if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
    ]
    assert writes == []


def test_a_page_runs_the_same_few_queries_whatever_the_number_of_rows(member, shop):
    manager = member("store_manager", shop.store)
    _moved(shop.store, datetime(2026, 4, 2, 10, tzinfo=UTC))
    with CaptureQueriesContext(connection) as few:
        _html(manager.get(PAGE, APRIL))
    for day in range(3, 28):
        _moved(shop.store, datetime(2026, 4, day, 10, tzinfo=UTC), day)
    with CaptureQueriesContext(connection) as many:
        html = _html(manager.get(PAGE, APRIL))
    assert len(_table(html)) == 1 + 26 + 1
    assert len(many) == len(few) <= 10


# The chart on its own: which chart, which figure, what is on the axis.


def _params(group_by="day", start=date(2026, 4, 1), days=30):
    return ReportParams(
        date_from=start, date_to=start + timedelta(days=days - 1), group_by=group_by
    )


def test_a_chart_over_time_has_every_period_of_the_filter_with_zero_where_no_rows():
    chart = charts.report_chart(
        report_name="probe",
        params=_params("week", date(2026, 4, 1), 30),  # 30 March … 27 April: 5 Mondays
        rows=[{"week": date(2026, 4, 6), "orders": 2, "revenue": "20.00"}],
        totals={"orders": 2, "revenue": "20.00"},
    )
    assert [column.name for column in chart.figures] == ["revenue"]  # money before counts
    assert chart.svg.count('class="dot reactive tooltip-trigger"') == 5
    for label in ("2026-03-30", "2026-04-06", "2026-04-13", "2026-04-20", "2026-04-27"):
        assert label in chart.svg
    assert "<script" not in chart.svg


def test_an_average_is_a_gap_not_a_zero_where_a_period_has_no_rows():
    rows = [
        {"day": "2026-04-01", "orders": 2, "average_basket": "15.00"},
        {"day": "2026-04-03", "orders": 1, "average_basket": "30.00"},
    ]
    totals = {"orders": 3, "average_basket": "20.00"}
    chart = charts.report_chart(
        report_name="probe", params=_params("day", days=3), rows=rows, totals=totals
    )
    assert [column.name for column in chart.figures] == ["average_basket"]
    assert chart.svg.count('class="dot reactive tooltip-trigger"') == 2  # 2 April: no dot
    counts = charts.report_chart(
        report_name="probe",
        params=_params("day", days=3),
        rows=rows,
        totals=totals,
        wanted="orders",
    )
    assert counts.svg.count('class="dot reactive tooltip-trigger"') == 3  # 2 April: 0


def test_how_pickups_end_is_stacked_per_store_on_whole_numbers():
    rows = [
        {"store": "BER", "collected": 3, "expired": 1, "cancelled": 0, "open": 1},
        {"store": "HAM", "collected": 1, "expired": 0, "cancelled": 1, "open": 0},
    ]
    chart = charts.report_chart(report_name="pickup", params=_params("store"), rows=rows)
    assert [c.name for c in chart.figures] == ["collected", "expired", "cancelled", "open"]
    assert 'class="series serie-3 ' in chart.svg
    assert ">0.5<" not in chart.svg and ">5<" in chart.svg  # whole units up to BER's 5


def test_the_figure_named_for_a_report_wins_and_a_missing_name_falls_back():
    rows = [{"channel": "web", "orders": 3, "gross_revenue": "30.00", "net_revenue": "25.00"}]
    named = charts.report_chart(report_name="sales", params=_params("channel"), rows=rows)
    assert [column.name for column in named.figures] == ["net_revenue"]
    other = charts.report_chart(
        report_name="sales", params=_params("channel"), rows=[{"channel": "web", "orders": 3}]
    )
    assert [column.name for column in other.figures] == ["orders"]
    ratios = charts.report_chart(
        report_name="probe", params=_params("store"), rows=[{"store": "B", "share": "0.2500"}]
    )
    assert [column.name for column in ratios.figures] == ["share"] and ratios.svg


def test_a_second_key_in_the_rows_gives_a_series_per_value():
    rows = [
        {"day": "2026-04-01", "channel": "web", "revenue": "10.00"},
        {"day": "2026-04-01", "channel": "pos", "revenue": "5.00"},
        {"day": "2026-04-02", "channel": "web", "revenue": "7.00"},
    ]
    chart = charts.report_chart(report_name="probe", params=_params("day", days=2), rows=rows)
    assert 'class="series serie-1 ' in chart.svg and "serie-2 " not in chart.svg
    assert ">web<" in chart.svg and ">pos<" in chart.svg


def test_labels_from_outside_are_escaped_in_the_chart():
    rows = [{"campaign": "<script>alert(1)</script>", "orders": 1}]
    chart = charts.report_chart(report_name="probe", params=_params("campaign"), rows=rows)
    assert "<script" not in chart.svg and "&lt;script&gt;" in chart.svg


def test_nothing_to_draw_gives_no_svg():
    empty = charts.report_chart(report_name="probe", params=_params(), rows=[])
    assert empty.svg == ""
    undefined = charts.report_chart(
        report_name="probe", params=_params("store"), rows=[{"store": "B", "share": None}]
    )
    assert undefined.svg == ""


def test_many_groups_draw_the_largest_and_say_so():
    rows = [{"campaign": f"c{i:02}", "orders": i} for i in range(40)]
    chart = charts.report_chart(report_name="probe", params=_params("campaign"), rows=rows)
    assert chart.svg.count('class="rect reactive tooltip-trigger"') == charts.MAX_BARS
    assert ">c39<" in chart.svg and ">c00<" not in chart.svg
    assert "30 largest of 40" in chart.note


def test_the_admin_url_names():
    assert reverse("admin:reports_report_changelist") == LIST
    assert reverse("admin:reports_report_page", args=["probe"]) == PAGE


def test_figures_and_keys_only_in_the_totals_are_not_drawn():
    rows = [{"channel": "web", "earned": 10}, {"channel": "pos", "earned": 4}]
    totals = {"earned": 14, "liability": "1.40", "currency": "EUR"}
    chart = charts.report_chart(
        report_name="probe", params=_params("channel"), rows=rows, totals=totals
    )
    assert [column.name for column in chart.figures] == ["earned"]
    assert [column.name for column in chart.choices] == ["earned"]
    assert chart.svg.count('class="rect reactive tooltip-trigger"') == 2
    assert 'class="series serie-1 ' not in chart.svg  # one series, not one per currency


def test_rows_keyed_by_other_dates_are_a_line_in_date_order():
    rows = [
        {"cohort": "2026-03-01", "customers": 2, "ltv": "30.00"},
        {"cohort": "2026-01-01", "customers": 5, "ltv": "55.00"},
    ]
    chart = charts.report_chart(report_name="customers", params=_params("cohort"), rows=rows)
    assert [column.name for column in chart.figures] == ["ltv"]
    assert chart.svg.count('class="dot reactive tooltip-trigger"') == 2
    assert chart.svg.index(">2026-01-01<") < chart.svg.index(">2026-03-01<")


def test_sales_per_day_split_by_channel_draw_a_line_per_channel(member, shop):
    from tests.backoffice.conftest import place_pickup, till_sale
    from tests.factories.pos import make_terminal

    place_pickup(shop.sku(price="10.00"), shop.store)
    _terminal, token = make_terminal(shop.store)
    till_sale(token, shop.sku(price="10.00"))
    html = _html(
        member("head_office").get(
            "/admin/reports/report/sales/", {"group_by": "day", "split": "channel"}
        )
    )
    chart = html[html.index("pygal-chart") :]
    assert 'class="series serie-0 ' in chart and 'class="series serie-1 ' in chart
    assert ">web<" in chart and ">pos<" in chart
    assert 'name="split"' in html and "split=channel" in html  # the select and the CSV link
