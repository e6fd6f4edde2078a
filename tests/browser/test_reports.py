"""The reports in a real browser (see conftest.py): head office opens the list of reports and
every report page from it, and each page shows its chart — a drawn SVG of some size, with
no script run and nothing fetched from elsewhere — or says there is no data for these
dates. A small history (web and app pickups, one collected, a till sale) gives the sales
report something to draw. Every page leaves a screenshot ("reports-…").
"""

from datetime import timedelta

import pytest
from django.db.models import F

from orders import services as order_services
from orders.domain import Actor, Status
from orders.models import Order
from reports import registry
from reports import services as report_services
from staff.services import staff_member_create
from tests.backoffice.conftest import place_pickup, till_sale
from tests.browser.conftest import PASSWORD, log_in
from tests.factories.orders import make_shop
from tests.factories.pos import make_terminal

pytestmark = pytest.mark.django_db(transaction=True)

HEAD = "hanna@staff.example.com"


def _history():
    shop = make_shop()
    coat = shop.sku(price="80.00", store=10, other=10)
    place_pickup(coat, shop.store)
    collected = place_pickup(coat, shop.store, channel="app", quantity=2)
    order_services.order_transition(
        order=collected, target=Status.READY_FOR_PICKUP, actor=Actor.STAFF
    )
    order_services.order_transition(
        order=collected,
        target=Status.COLLECTED,
        actor=Actor.STAFF,
        pickup_code=collected.pickup_code,
    )
    place_pickup(coat, shop.other_store)
    _terminal, token = make_terminal(shop.store)
    till_sale(token, coat, quantity=3)
    # A day back: the default dates (the last 30 days to today) hold every order whatever
    # the hour of the run in the stores' time zone.
    Order.objects.update(placed_at=F("placed_at") - timedelta(days=1))
    report_services.facts_rebuild()  # the rows follow the orders dated back
    return shop


def test_head_office_opens_every_report_and_sees_its_chart(page, shot, live_server):
    _history()
    staff_member_create(
        email=HEAD, password=PASSWORD, role="head_office", locations=[], full_name="Hanna Head"
    )
    elsewhere, errors = [], []
    page.on(
        "request",
        lambda request: (
            None
            if request.url.startswith((live_server.url, "data:"))
            else elsewhere.append(request.url)
        ),
    )
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, HEAD)

    # The start page keeps the list of every page under a fold: opened, Reports is there.
    if page.locator("details.bo-apps").count():
        page.click("details.bo-apps > summary")
    page.click('#content-main a[href="/admin/reports/report/"]')
    page.wait_for_url("**/admin/reports/report/")
    shot(page, "reports-00-list")
    reports = registry.reports()
    for report in reports:
        assert page.locator(f'a[href="/admin/reports/report/{report.name}/"]').count() == 1

    drawn = {}
    for index, report in enumerate(reports, start=1):
        page.goto("/admin/reports/report/")
        page.click(f'a[href="/admin/reports/report/{report.name}/"]')
        page.wait_for_url(f"**/admin/reports/report/{report.name}/")
        assert page.locator("#report-filters").is_visible()
        assert page.locator(".errornote").count() == 0, report.name
        svg = page.locator("#report-chart svg.pygal-chart")
        if svg.count():
            box = svg.bounding_box()
            assert box["width"] > 100 and box["height"] > 50, (report.name, box)
            assert svg.locator("path, rect").count() > 0
            drawn[report.name] = True
        else:
            assert page.locator("#report-chart .report-no-data").is_visible(), report.name
            assert page.locator("#report-chart").inner_text().strip() == "No data for these dates"
            drawn[report.name] = False
        assert page.locator("#report-table").is_visible()
        assert (
            page.locator("#report-csv")
            .get_attribute("href")
            .startswith(f"/api/v1/reports/{report.name}/?")
        )
        shot(page, f"reports-{index:02}-{report.name}")

    if "sales" in drawn:
        assert drawn["sales"], "the sales report drew no chart for a history with sales"
    assert errors == [] and elsewhere == []
