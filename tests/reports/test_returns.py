"""The returns report on a small known history made by the services.

Sold in March: a web pickup in Berlin partly paid with points whose two shirts come back
one in Hamburg and one in Berlin, an app pickup in Berlin sent back to the warehouse, an
app pickup in Hamburg with a return only requested, and a till sale in each store (the
Hamburg one returned there). A cancelled order was never a sale, and a February order
returned in March is another period's. Every figure of the answer is asserted."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from orders import services as order_services
from orders.domain import Actor, Status
from orders.models import Order
from reports import services as report_services
from reports.registry import ReportParams, report_get
from returns import services as return_services
from returns.models import Return
from tests.backoffice.conftest import place_pickup, till_sale
from tests.factories.customers import CustomerWithLoginFactory
from tests.factories.loyalty import LoyaltyRulesFactory
from tests.factories.pos import make_terminal
from tests.factories.returns import collected_order, returns_staff

pytestmark = pytest.mark.django_db

URL = "/api/v1/reports/returns/"
MARCH = {"from": "2026-03-01", "to": "2026-03-31"}


def _placed(order, day: int, month: int = 3):
    Order.objects.filter(pk=order.pk).update(placed_at=datetime(2026, month, day, 10, tzinfo=UTC))
    order.refresh_from_db()
    return order


def _return(order, location, reason: str, sku: str) -> Return:
    return return_services.return_create(
        order=order,
        location=location,
        reason=reason,
        lines=[{"sku": sku, "quantity": 1, "condition": "resaleable"}],
        user=returns_staff(location),
    )


def _till_order(store, variant):
    _terminal, token = make_terminal(store)
    till_sale(token, variant)
    return Order.objects.filter(channel="pos", location=store).latest("pk")


@pytest.fixture
def history(shop):
    berlin, hamburg, warehouse = shop.store, shop.other_store, shop.warehouse
    LoyaltyRulesFactory()  # 1 point per euro; a point pays 0.10
    customer = CustomerWithLoginFactory()
    _placed(collected_order(shop, customer, [(shop.sku(price="100.00"), 1)]), 15, month=2)

    # Web, Berlin: two shirts at 10.00, 50 points (5.00) and 15.00 by card.
    shirt = shop.sku(price="10.00")
    web = _placed(collected_order(shop, customer, [(shirt, 2)], redeem_points=50), 2)
    first = _return(web, hamburg, "wrong_size", shirt.sku)  # 5.00 as points, 5.00 to card
    second = _return(web, berlin, "wrong_size", shirt.sku)  # 10.00 to card
    assert (first.refund_amount, first.points_returned) == (Decimal("5.00"), 50)
    assert second.refund_amount == Decimal("10.00")

    # App, Berlin: a mug at 25.00, sent back by courier to the warehouse.
    mug = shop.sku(price="25.00", other=5)
    app = _placed(collected_order(shop, CustomerWithLoginFactory(), [(mug, 1)]), 3)
    Order.objects.filter(pk=app.pk).update(channel="app")
    _return(app, warehouse, "defective", mug.sku)

    # App, Hamburg: the customer asks to return it, nothing has come back yet.
    owner = CustomerWithLoginFactory()
    kept = _placed(collected_order(shop, owner, [(mug, 1)], location=hamburg), 5)
    Order.objects.filter(pk=kept.pk).update(channel="app")
    return_services.return_request(
        order=kept,
        customer=owner,
        location=hamburg,
        reason="other",
        lines=[{"sku": mug.sku, "quantity": 1}],
    )

    # Till sales: Hamburg's (10.00 cash) comes back there; Berlin's stays sold.
    pen = shop.sku(price="10.00", store=5, other=5)
    till = _placed(_till_order(hamburg, pen), 6)
    _return(till, hamburg, "changed_mind", pen.sku)
    _placed(_till_order(berlin, pen), 6)

    # Never a sale; and a February sale returned in March.
    cancelled = place_pickup(shop.sku(price="10.00"), berlin)
    order_services.order_transition(order=cancelled, target=Status.CANCELLED, actor=Actor.STAFF)
    _placed(cancelled, 4)
    february = shop.sku(price="40.00")
    earlier = _placed(collected_order(shop, None, [(february, 1)]), 20, month=2)
    _return(earlier, berlin, "other", february.sku)
    # The history was dated back behind the services' backs: the report rows are rebuilt
    # from it, as after a bulk load.
    report_services.facts_rebuild()
    return berlin, hamburg


CHANNELS = [
    {
        "channel": "app",
        "orders": 2,
        "returned_orders": 1,
        "return_rate": "0.5000",
        "returns": 1,
        "returned_in_store": 0,  # it came back to the warehouse
        "units_returned": 1,
        "refund_amount": "25.00",
    },
    {
        "channel": "pos",
        "orders": 2,
        "returned_orders": 1,
        "return_rate": "0.5000",
        "returns": 1,
        "returned_in_store": 0,  # not an online order
        "units_returned": 1,
        "refund_amount": "10.00",
    },
    {
        "channel": "web",
        "orders": 1,
        "returned_orders": 1,
        "return_rate": "1.0000",
        "returns": 2,
        "returned_in_store": 1,
        "units_returned": 2,
        "refund_amount": "15.00",  # the points' 5.00 went back as points
    },
]
TOTALS = {
    "orders": 5,
    "returned_orders": 3,
    "return_rate": "0.6000",
    "returns": 4,
    "returned_in_store": 1,
    "units_returned": 4,
    "refund_amount": "50.00",
}


def test_returns_per_channel_of_purchase_with_the_rate_of_the_periods_orders(member, history):
    data = member("head_office").get(URL, MARCH).json()
    assert data["group_by"] == "channel"
    assert data["rows"] == CHANNELS
    assert data["totals"] == TOTALS


def test_returns_per_month_of_sale(member, history):
    head = member("head_office")
    data = head.get(URL, {"from": "2026-02-01", "to": "2026-03-31", "group_by": "month"}).json()
    assert data["rows"] == [
        {
            "month": "2026-02-01",  # the two February sales, one of them returned
            "orders": 2,
            "returned_orders": 1,
            "return_rate": "0.5000",
            "returns": 1,
            "returned_in_store": 1,
            "units_returned": 1,
            "refund_amount": "40.00",
        },
        {"month": "2026-03-01", **TOTALS},
    ]
    assert data["totals"] == {
        "orders": 7,
        "returned_orders": 4,
        "return_rate": "0.5714",
        "returns": 5,
        "returned_in_store": 2,
        "units_returned": 5,
        "refund_amount": "90.00",
    }


STORES = [
    {
        "store": "BER-MITTE",
        "returned_orders": 1,
        "returns": 1,
        "returned_in_store": 1,
        "units_returned": 1,
        "refund_amount": "10.00",
    },
    {
        "store": "HAM-01",
        "returned_orders": 2,
        "returns": 2,
        "returned_in_store": 1,
        "units_returned": 2,
        "refund_amount": "15.00",
    },
    {
        "store": "WH-BER",
        "returned_orders": 1,
        "returns": 1,
        "returned_in_store": 0,
        "units_returned": 1,
        "refund_amount": "25.00",
    },
]
STORE_TOTALS = {
    "returned_orders": 3,  # the web order came back at two stores: counted once
    "returns": 4,
    "returned_in_store": 1,
    "units_returned": 4,
    "refund_amount": "50.00",
}


def test_returns_per_location_they_were_handed_in_at(member, history):
    data = member("head_office").get(URL, {**MARCH, "group_by": "store"}).json()
    assert data["rows"] == STORES
    assert data["totals"] == STORE_TOTALS


def test_top_reasons_come_first(member, history):
    data = member("head_office").get(URL, {**MARCH, "group_by": "reason"}).json()
    assert data["rows"] == [
        {
            "reason": "wrong_size",
            "returned_orders": 1,
            "returns": 2,
            "returned_in_store": 1,
            "units_returned": 2,
            "refund_amount": "15.00",
            "share_of_returns": "0.5000",
        },
        {
            "reason": "changed_mind",
            "returned_orders": 1,
            "returns": 1,
            "returned_in_store": 0,
            "units_returned": 1,
            "refund_amount": "10.00",
            "share_of_returns": "0.2500",
        },
        {
            "reason": "defective",
            "returned_orders": 1,
            "returns": 1,
            "returned_in_store": 0,
            "units_returned": 1,
            "refund_amount": "25.00",
            "share_of_returns": "0.2500",
        },
    ]
    assert data["totals"] == {**STORE_TOTALS, "share_of_returns": "1.0000"}


def test_a_store_manager_sees_returns_at_and_of_their_store(member, history):
    _berlin, hamburg = history
    manager = member("store_manager", hamburg)
    at_store = manager.get(URL, {**MARCH, "group_by": "store"}).json()
    assert at_store["rows"] == [STORES[1]]
    assert at_store["totals"] == {k: v for k, v in STORES[1].items() if k != "store"}
    # Per channel: Hamburg's own sales (the app pickup and the till sale).
    own_sales = manager.get(URL, MARCH).json()
    assert own_sales["rows"] == [
        {
            "channel": "app",
            "orders": 1,
            "returned_orders": 0,
            "return_rate": "0.0000",
            "returns": 0,
            "returned_in_store": 0,
            "units_returned": 0,
            "refund_amount": "0.00",
        },
        {**CHANNELS[1], "orders": 1, "return_rate": "1.0000"},
    ]
    assert own_sales["totals"] == {
        "orders": 2,
        "returned_orders": 1,
        "return_rate": "0.5000",
        "returns": 1,
        "returned_in_store": 0,
        "units_returned": 1,
        "refund_amount": "10.00",
    }
    assert manager.get(URL, {**MARCH, "location": "BER-MITTE"}).status_code == 403


def test_the_number_of_queries_does_not_grow_with_the_returns(shop, history):
    berlin, _hamburg = history
    run = report_get("returns").run
    for group_by in ("channel", "store", "reason"):
        params = ReportParams(date(2026, 3, 1), date(2026, 3, 31), group_by)
        with CaptureQueriesContext(connection) as before:
            run(params)
        for _ in range(2):
            sock = shop.sku(price="5.00")
            order = _placed(collected_order(shop, None, [(sock, 1)]), 20)
            _return(order, berlin, "other", sock.sku)
        with CaptureQueriesContext(connection) as after:
            result = run(params)
        assert len(before) == len(after) <= 3
        assert result.totals["returns"] > 4


def test_an_exchange_counts_its_credit_as_money_given_back(member, shop):
    hamburg = shop.other_store
    coat, better = shop.sku(price="30.00"), shop.sku(price="35.00", other=1)
    bought = _placed(collected_order(shop, CustomerWithLoginFactory(), [(coat, 1)]), 2)
    ret = return_services.return_create(
        order=bought,
        location=hamburg,
        reason="exchange",
        lines=[{"sku": coat.sku, "quantity": 1}],
        exchange=return_services.ExchangeInput(lines=((better.sku, 1),), payment_kind="cash"),
        user=returns_staff(hamburg),
    )
    assert ret.refund_amount == Decimal("0.00")  # the 30.00 went to the new coat
    _placed(ret.exchange_order, 9)
    report_services.facts_rebuild()
    data = member("head_office").get(URL, MARCH).json()
    assert data["rows"] == [
        {
            "channel": "pos",  # the new coat, sold at Hamburg's desk
            "orders": 1,
            "returned_orders": 0,
            "return_rate": "0.0000",
            "returns": 0,
            "returned_in_store": 0,
            "units_returned": 0,
            "refund_amount": "0.00",
        },
        {
            "channel": "web",
            "orders": 1,
            "returned_orders": 1,
            "return_rate": "1.0000",
            "returns": 1,
            "returned_in_store": 1,
            "units_returned": 1,
            "refund_amount": "30.00",
        },
    ]
