"""The pickup report on a small known history made by the services: pickups in Berlin
collected (one of them partly returned since), expired, cancelled and still open, a pickup
in Hamburg (on Lisbon's time here) ready but not collected, a delivery from the warehouse
and a till sale (not an online order). Status moves are dated with `order_transition(at=)`.
Every figure of the answer is asserted, medians included (an even count is the mean of the
two middle durations)."""

from datetime import UTC, date, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from orders import services as order_services
from orders.domain import Actor, Status
from orders.models import Order
from reports import services as report_services
from reports.registry import ReportParams, report_get
from returns import services as return_services
from tests.backoffice.conftest import place_pickup, till_sale
from tests.factories.customers import CustomerWithLoginFactory
from tests.factories.orders import CARD, CartFactory, order_staff
from tests.factories.pos import make_terminal
from tests.factories.returns import returns_staff

pytestmark = pytest.mark.django_db

URL = "/api/v1/reports/pickup/"
MARCH = {"from": "2026-03-01", "to": "2026-03-31"}


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def _placed(order, when: datetime):
    Order.objects.filter(pk=order.pk).update(placed_at=when)
    order.refresh_from_db()
    return order


def _move(order, target: str, when: datetime, actor=Actor.STAFF):
    order.refresh_from_db()
    order_services.order_transition(
        order=order,
        target=target,
        actor=actor,
        user=order_staff(order.location) if actor == Actor.STAFF else None,
        pickup_code=order.pickup_code if target == Status.COLLECTED else None,
        at=when,
    )


def pickup(shop, store, placed: datetime, *, channel: str = "web"):
    variant = shop.sku(price="10.00", store=5, other=5)
    return _placed(place_pickup(variant, store, channel=channel), placed)


@pytest.fixture
def history(shop):
    berlin, hamburg = shop.store, shop.other_store
    type(hamburg).objects.filter(pk=hamburg.pk).update(time_zone="Europe/Lisbon")
    # Berlin: ready after 2 h, collected 6 h later.
    p1 = pickup(shop, berlin, at(2, 8))
    _move(p1, Status.READY_FOR_PICKUP, at(2, 10))
    _move(p1, Status.COLLECTED, at(2, 16))
    # Berlin, from the app: ready after 4.5 h, collected a day later, then partly returned.
    p2 = pickup(shop, berlin, at(2, 9), channel="app")
    _move(p2, Status.READY_FOR_PICKUP, at(2, 13, 30))
    _move(p2, Status.COLLECTED, at(3, 13, 30))
    p2.refresh_from_db()
    return_services.return_create(
        order=p2,
        location=berlin,
        reason="changed_mind",
        lines=[{"sku": p2.lines.get().sku, "quantity": 1, "condition": "resaleable"}],
        user=returns_staff(berlin),
        enforce_window=False,
    )
    assert Order.objects.get(pk=p2.pk).status == Status.RETURNED
    # Berlin: ready after 1 h, never collected.
    p3 = pickup(shop, berlin, at(3, 10))
    _move(p3, Status.READY_FOR_PICKUP, at(3, 11))
    _move(p3, Status.EXPIRED, at(8, 11), actor=Actor.SYSTEM)
    # Berlin: cancelled before it was ready; and one still waiting to be prepared.
    p4 = pickup(shop, berlin, at(3, 12))
    _move(p4, Status.CANCELLED, at(3, 13))
    pickup(shop, berlin, at(4, 8))
    # Hamburg: placed at 23:30 on 2 March, Lisbon time (Berlin's 3 March), ready 2.5 h later.
    h1 = pickup(shop, hamburg, at(2, 23, 30))
    _move(h1, Status.READY_FOR_PICKUP, at(3, 2))
    # A delivery from the warehouse, 00:30 on 3 March in Berlin's time.
    customer = CustomerWithLoginFactory()
    cart = CartFactory(customer=customer, channel="web")
    order_services.cart_line_add(cart=cart, sku=shop.sku(price="10.00").sku, quantity=1)
    delivery = order_services.checkout_place(
        cart=cart,
        fulfilment={"type": "delivery", "address": {"line1": "Main St 1"}},
        payment=CARD,
        customer=customer,
        user=customer.user,
    )
    assert delivery.location == shop.warehouse
    _placed(delivery, at(2, 23, 30))
    # A till sale in Berlin: not an online order.
    _terminal, token = make_terminal(berlin)
    till_sale(token, shop.sku(price="10.00", store=5))
    Order.objects.filter(channel="pos").update(placed_at=at(2, 12))
    # The history was dated back behind the services' backs: the report rows are rebuilt
    # from it, as after a bulk load.
    report_services.facts_rebuild()
    return berlin, hamburg


NOTHING = {
    "collected": 0,
    "expired": 0,
    "cancelled": 0,
    "open": 0,
    "median_hours_to_ready": None,
    "median_hours_to_collect": None,
}
BERLIN = {
    "store": "BER-MITTE",
    "orders": 5,
    "pickups": 5,
    "pickup_share": "1.0000",
    "collected": 2,
    "expired": 1,
    "cancelled": 1,
    "open": 1,
    "median_hours_to_ready": "2.0",  # of 1, 2 and 4.5 hours
    "median_hours_to_collect": "15.0",  # of 6 and 24 hours
}
HAMBURG = {
    **NOTHING,
    "store": "HAM-01",
    "orders": 1,
    "pickups": 1,
    "pickup_share": "1.0000",
    "open": 1,
    "median_hours_to_ready": "2.5",
}
TOTALS = {
    "orders": 7,
    "pickups": 6,
    "pickup_share": "0.8571",
    "collected": 2,
    "expired": 1,
    "cancelled": 1,
    "open": 2,
    "median_hours_to_ready": "2.3",  # (2 + 2.5) / 2 = 2.25 of 1, 2, 2.5 and 4.5 hours
    "median_hours_to_collect": "15.0",
}


def test_pickups_per_store_with_their_outcomes_and_median_hours(member, history):
    data = member("head_office").get(URL, MARCH).json()
    assert data["group_by"] == "store"
    assert data["rows"] == [
        BERLIN,
        HAMBURG,
        {**NOTHING, "store": "WH-BER", "orders": 1, "pickups": 0, "pickup_share": "0.0000"},
    ]
    assert data["totals"] == TOTALS


def test_pickups_per_local_day_and_month(member, history):
    head = member("head_office")
    by_day = head.get(URL, {**MARCH, "group_by": "day"}).json()
    assert by_day["rows"] == [
        {
            "day": "2026-03-02",  # p1, p2 in Berlin and h1 at 23:30 in Hamburg
            "orders": 3,
            "pickups": 3,
            "pickup_share": "1.0000",
            "collected": 2,
            "expired": 0,
            "cancelled": 0,
            "open": 1,
            "median_hours_to_ready": "2.5",  # of 2, 2.5 and 4.5
            "median_hours_to_collect": "15.0",
        },
        {
            "day": "2026-03-03",  # p3, p4 and the delivery (00:30 in Berlin)
            "orders": 3,
            "pickups": 2,
            "pickup_share": "0.6667",
            "collected": 0,
            "expired": 1,
            "cancelled": 1,
            "open": 0,
            "median_hours_to_ready": "1.0",
            "median_hours_to_collect": None,
        },
        {
            **NOTHING,
            "day": "2026-03-04",
            "orders": 1,
            "pickups": 1,
            "pickup_share": "1.0000",
            "open": 1,
        },
    ]
    assert by_day["totals"] == TOTALS
    by_month = head.get(URL, {**MARCH, "group_by": "month"}).json()
    assert by_month["rows"] == [{"month": "2026-03-01", **TOTALS}]
    assert by_month["totals"] == TOTALS


def test_a_store_manager_sees_their_store_only(member, history):
    _berlin, hamburg = history
    manager = member("store_manager", hamburg)
    data = manager.get(URL, MARCH).json()
    assert data["rows"] == [HAMBURG]
    assert data["totals"] == {key: value for key, value in HAMBURG.items() if key != "store"}
    assert manager.get(URL, {**MARCH, "location": "BER-MITTE"}).status_code == 403


def test_a_period_without_orders_has_no_rows_and_empty_figures(member, history):
    data = member("head_office").get(URL, {"from": "2026-04-01", "to": "2026-04-30"}).json()
    assert data["rows"] == []
    assert data["totals"] == {**NOTHING, "orders": 0, "pickups": 0, "pickup_share": None}


def test_the_number_of_queries_does_not_grow_with_the_orders(shop, history):
    berlin, _hamburg = history
    run = report_get("pickup").run
    for group_by in ("store", "day"):
        params = ReportParams(date(2026, 3, 1), date(2026, 3, 31), group_by)
        with CaptureQueriesContext(connection) as before:
            run(params)
        for hour in (8, 9, 10):
            order = pickup(shop, berlin, at(20, hour))
            _move(order, Status.READY_FOR_PICKUP, at(20, hour + 1))
        report_services.facts_rebuild()
        with CaptureQueriesContext(connection) as after:
            result = run(params)
        assert len(before) == len(after) <= 6
        assert result.totals["pickups"] > 6


def test_a_rerouted_pickup_counts_at_its_new_store_and_is_ready_when_that_store_has_it(
    member, shop
):
    berlin, hamburg = shop.store, shop.other_store
    order = pickup(shop, berlin, at(2, 8))
    report_services.facts_rebuild()  # placed back in time; the moves then keep the rows
    _move(order, Status.READY_FOR_PICKUP, at(2, 9))  # ready in Berlin after 1 h …
    order_services.order_reroute(order=order, location=hamburg.code)
    _move(order, Status.READY_FOR_PICKUP, at(2, 13))  # … and in Hamburg after 5 h
    _move(order, Status.COLLECTED, at(2, 14, 30))
    data = member("head_office").get(URL, MARCH).json()
    assert data["rows"] == [
        {
            **NOTHING,
            "store": "HAM-01",
            "orders": 1,
            "pickups": 1,
            "pickup_share": "1.0000",
            "collected": 1,
            "median_hours_to_ready": "5.0",
            "median_hours_to_collect": "1.5",
        }
    ]
