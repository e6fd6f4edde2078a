"""What every report shares: who may see it, its filters, local dates per store, CSV.

A probe report (stock movements per local day of their store) stands in for the real ones,
so these tests pin the framework whatever the reports compute.
"""

import csv
import io
from datetime import UTC, date, datetime

import pytest
from django.db.models import Count
from django.urls import reverse

from inventory.models import StockMovement
from reports import registry
from reports.registry import ReportResult
from reports.sql import LocalPeriod, in_local_dates
from tests.factories.inventory import LocationFactory, StockLevelFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/reports/probe/"


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
    rows = [
        {params.group_by: row[key], "movements": row["n"]}
        for row in movements.values(key).annotate(n=Count("pk")).order_by(key)
    ]
    return ReportResult(rows=rows, totals={"movements": sum(r["movements"] for r in rows)})


@pytest.fixture(autouse=True)
def probe():
    registry._load()
    registry.report(
        name="probe", title="Probe", description="test", group_by=("day", "week", "month", "store")
    )(_probe)
    yield
    registry._REPORTS.pop("probe", None)


def _moved(location, at: datetime):
    level = StockLevelFactory(location=location, on_hand=1)
    StockMovement.objects.filter(level=level).update(created_at=at)


@pytest.fixture
def stores():
    berlin = LocationFactory(code="BER", time_zone="Europe/Berlin")
    lisbon = LocationFactory(code="LIS", time_zone="Europe/Lisbon")
    # 23:30 UTC on 31 March is 1 April in Berlin (UTC+2) and 00:30 in Lisbon (UTC+1).
    _moved(berlin, datetime(2026, 3, 31, 23, 30, tzinfo=UTC))
    _moved(lisbon, datetime(2026, 3, 31, 22, 30, tzinfo=UTC))  # 23:30 in Lisbon: 31 March
    _moved(lisbon, datetime(2026, 4, 30, 12, 0, tzinfo=UTC))
    return berlin, lisbon


def test_a_movement_counts_on_its_stores_local_day_week_and_month(member, stores):
    head = member("head_office")
    by_day = head.get(URL, {"from": "2026-03-31", "to": "2026-04-30"}).json()
    assert by_day["rows"] == [
        {"day": "2026-03-31", "movements": 1},
        {"day": "2026-04-01", "movements": 1},
        {"day": "2026-04-30", "movements": 1},
    ]
    assert (by_day["from"], by_day["to"], by_day["group_by"]) == ("2026-03-31", "2026-04-30", "day")
    by_month = head.get(URL, {"from": "2026-03-01", "to": "2026-04-30", "group_by": "month"})
    assert by_month.json()["rows"] == [
        {"month": "2026-03-01", "movements": 1},
        {"month": "2026-04-01", "movements": 2},
    ]
    by_week = head.get(URL, {"from": "2026-03-31", "to": "2026-04-01", "group_by": "week"})
    assert by_week.json()["rows"] == [{"week": "2026-03-30", "movements": 2}]  # a Monday
    # The last day is included, in local time: 1 April in Berlin only.
    one_day = head.get(URL, {"from": "2026-04-01", "to": "2026-04-01"}).json()
    assert one_day["totals"] == {"movements": 1}


def test_the_local_period_expression_agrees_with_python_on_this_engine(stores):
    berlin, _lisbon = stores
    day = (
        StockMovement.objects.filter(level__location=berlin)
        .annotate(day=LocalPeriod("day", "created_at", "level__location__time_zone"))
        .values_list("day", flat=True)
        .get()
    )
    assert day == date(2026, 4, 1)


def test_a_store_manager_sees_their_store_only_and_cannot_name_another(member, stores):
    berlin, lisbon = stores
    manager = member("store_manager", lisbon)
    data = manager.get(URL, {"from": "2026-03-01", "to": "2026-04-30", "group_by": "store"})
    assert data.json()["rows"] == [{"store": "LIS", "movements": 2}]
    refused = manager.get(URL, {"from": "2026-03-01", "to": "2026-04-30", "location": "BER"})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "permission_denied"
    head = member("head_office")
    only_berlin = head.get(URL, {"from": "2026-03-01", "to": "2026-04-30", "location": "ber"})
    assert only_berlin.json()["totals"] == {"movements": 1}


@pytest.mark.parametrize("role", ["store_associate", "merchandiser"])
def test_roles_without_the_reports_permission_are_refused(member, shop, role):
    stores = () if role == "merchandiser" else (shop.store,)
    response = member(role, *stores).get(URL)
    assert response.status_code == 403


def test_anonymous_callers_and_customers_are_refused(client):
    assert client.get(URL).status_code in (401, 403)


@pytest.mark.parametrize(
    "query, field",
    [
        ({"from": "2026-13-01"}, "from"),
        ({"from": "٢٠٢٦-٠١-٠١"}, "from"),  # Unicode digits
        ({"to": "2026-02-30"}, "to"),
        ({"from": "2026-05-01", "to": "2026-04-01"}, "to"),
        ({"from": "2020-01-01", "to": "2026-01-01"}, "from"),
        ({"group_by": "hour"}, "group_by"),
        ({"from": "2026-01-01\x00"}, None),  # NUL: refused at the edge
        ({"location": "x" * 65}, "location"),
    ],
)
def test_bad_filters_are_a_400_in_the_error_shape(member, query, field):
    response = member("head_office").get(URL, query)
    assert response.status_code == 400
    error = response.json()["error"]
    if field:
        assert error["code"] == "validation_error" and field in error["details"]


def test_unknown_reports_and_locations_are_404(member):
    head = member("head_office")
    assert head.get("/api/v1/reports/nope/").json()["error"]["code"] == "report_not_found"
    missing = head.get(URL, {"location": "NOWHERE"})
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "location_not_found")


def test_csv_has_the_rows_and_a_total_line_and_errors_stay_json(member, stores):
    head = member("head_office")
    response = head.get(URL, {"from": "2026-03-31", "to": "2026-04-30", "format": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    assert "probe-2026-03-31-2026-04-30.csv" in response["Content-Disposition"]
    lines = list(csv.reader(io.StringIO(response.content.decode())))
    assert lines == [
        ["day", "movements"],
        ["2026-03-31", "1"],
        ["2026-04-01", "1"],
        ["2026-04-30", "1"],
        ["total", "3"],
    ]
    bad = head.get(URL, {"group_by": "hour", "format": "csv"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "validation_error"


def test_the_report_url_is_named(member):
    assert reverse("report", args=["sales"]) == "/api/v1/reports/sales/"
