"""The reports' own rows (`OrderDay`, `RefundDay`, `PickupTiming`) are a ledger of what the
orders and returns say: kept by the services as orders are placed, move on, are re-routed
and come back, they always equal what is derived from the orders themselves
(`facts_verify`), and folding the rows of past days keeps every figure."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db.models import Count, Sum
from django.utils import timezone

from customers.models import Customer
from loyalty.services import points_adjust
from orders import services as order_services
from orders.domain import Actor, Status
from reports import services as report_services
from reports.models import CustomerYear, OrderDay, PickupTiming, PointsDay, RefundDay
from reports.registry import ReportParams, report_get
from returns import services as return_services
from tests.backoffice.conftest import place_pickup, till_sale
from tests.factories.customers import CustomerWithLoginFactory
from tests.factories.loyalty import LoyaltyRulesFactory
from tests.factories.orders import order_staff
from tests.factories.pos import make_terminal
from tests.factories.returns import collected_order, returns_staff

pytestmark = pytest.mark.django_db


def _figures(name: str, params: ReportParams):
    """A report's rows and totals (without `as_of`, the loyalty report's moment of now)."""
    result = report_get(name).run(params)
    return result.rows, {k: v for k, v in result.totals.items() if k != "as_of"}


def _move(order, target: str, *, actor=Actor.STAFF, at=None):
    order.refresh_from_db()
    return order_services.order_transition(
        order=order,
        target=target,
        actor=actor,
        user=order_staff(order.location) if actor == Actor.STAFF else None,
        pickup_code=order.pickup_code if target == Status.COLLECTED else None,
        at=at,
    )


@pytest.fixture
def lived(shop):
    """A day of a shop made only through the services: pickups collected, expired,
    cancelled, re-routed and still open, till sales, a delivery and returns (one refunded
    to the card at another store)."""
    berlin, hamburg = shop.store, shop.other_store
    LoyaltyRulesFactory()  # collected orders earn points, returns take them back
    coat = shop.sku(price="80.00", store=10, other=10, warehouse=10)
    shirt = shop.sku(price="20.00", store=10, other=10, warehouse=10)
    collected = place_pickup(coat, berlin, quantity=2)
    _move(collected, Status.READY_FOR_PICKUP)
    _move(collected, Status.COLLECTED)
    expired = place_pickup(shirt, berlin, channel="app")
    _move(expired, Status.READY_FOR_PICKUP)
    later = timezone.now() + timedelta(days=30)
    assert order_services.orders_expire_uncollected(at=later) == 1
    cancelled = place_pickup(shirt, hamburg)
    _move(cancelled, Status.CANCELLED)
    rerouted = place_pickup(coat, berlin)
    _move(rerouted, Status.READY_FOR_PICKUP)
    order_services.order_reroute(order=rerouted, location=hamburg.code)
    place_pickup(shirt, hamburg, quantity=3)  # still open
    _terminal, token = make_terminal(hamburg)
    till_sale(token, shirt, quantity=2)
    till_sale(token, coat)
    bought = collected_order(shop, CustomerWithLoginFactory(), [(shirt, 3)])
    return_services.return_create(
        order=bought,
        location=hamburg,
        reason="wrong_size",
        lines=[{"sku": shirt.sku, "quantity": 2, "condition": "resaleable"}],
        user=returns_staff(hamburg),
    )
    return_services.return_create(
        order=collected,
        location=berlin,
        reason="other",
        lines=[{"sku": coat.sku, "quantity": 1, "condition": "damaged"}],
        user=returns_staff(berlin),
    )
    points_adjust(customer=bought.customer, points=15, reason="goodwill", actor=None)
    return shop


def test_the_rows_kept_by_the_services_equal_what_the_orders_say(lived):
    assert report_services.facts_verify() == []
    points = PointsDay.objects.aggregate(
        earned=Sum("earned"), reversed=Sum("reversed"), adjusted=Sum("adjusted")
    )
    assert points["earned"] > 0 and points["reversed"] > 0 and points["adjusted"] == 15
    refunded = sum(RefundDay.objects.values_list("amount", flat=True), Decimal(0))
    assert refunded == Decimal("120.00")  # two shirts and a coat, each to its tender
    # The re-routed pickup is no longer ready anywhere: the two collected pickups and the
    # expired one have timings, and only the collected ones a time to collection.
    timings = PickupTiming.objects.order_by("order_id")
    assert [t.hours_to_collect is not None for t in timings] == [True, False, True]


def test_a_rebuild_gives_the_same_figures_as_the_services_kept(lived):
    today = timezone.localdate()
    params = ReportParams(today - timedelta(days=1), today + timedelta(days=1), "channel")
    names = ("sales", "pickup", "returns", "loyalty")
    kept = {name: _figures(name, params) for name in names}
    customers = _figures("customers", ReportParams(today - timedelta(days=1), today, None))
    report_services.facts_rebuild()
    assert report_services.facts_verify() == []
    for name, result in kept.items():
        assert _figures(name, params) == result, name
    assert _figures("customers", ReportParams(today - timedelta(days=1), today, None)) == customers


def test_folding_past_days_keeps_every_figure_in_fewer_rows(lived):
    today = timezone.localdate()
    params = ReportParams(today - timedelta(days=1), today + timedelta(days=1), "store")
    before = {name: _figures(name, params) for name in ("sales", "pickup", "loyalty")}
    customers = ReportParams(today - timedelta(days=1), today, "first_channel")
    before_customers = _figures("customers", customers)
    tables = (OrderDay, RefundDay, PointsDay, CustomerYear)
    rows = sum(model.objects.count() for model in tables)
    removed = report_services.facts_fold(before=today + timedelta(days=2))
    assert removed > 0
    assert sum(model.objects.count() for model in tables) == rows - removed
    assert report_services.facts_verify() == []
    for name, result in before.items():
        assert _figures(name, params) == result, name
    assert _figures("customers", customers) == before_customers
    # A customer has one row per year, across the chain and per location.
    assert (
        not CustomerYear.objects.values("customer_id", "location_id", "year")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
    )
    # Nothing of an earlier day is left to fold.
    assert report_services.facts_fold(before=today + timedelta(days=2)) == 0


def test_a_verify_finds_a_row_that_does_not_match_the_orders(lived):
    OrderDay.objects.create(
        day=date(2026, 3, 2),
        location=lived.store,
        channel="web",
        fulfilment="pickup",
        outcome="open",
        orders=1,
        units=1,
        revenue=Decimal("1.00"),
        discounts=Decimal(0),
        points=0,
        points_cost=Decimal(0),
    )
    problems = report_services.facts_verify()
    assert len(problems) == 1 and "2026-03-02" in problems[0]


def test_the_nightly_task_folds_days_before_the_last_three(lived, monkeypatch):
    from reports import tasks

    days = (OrderDay, RefundDay, PointsDay)
    rows = [model.objects.count() for model in days]
    tasks.fold_past_days()
    # Today's rows stay as they are (a customer's sales rows have no day: folded each run).
    assert [model.objects.count() for model in days] == rows
    later = timezone.now() + timedelta(days=4)
    monkeypatch.setattr(timezone, "now", lambda: later)
    assert tasks.fold_past_days() > 0
    assert report_services.facts_verify() == []


def test_a_merge_hands_the_duplicates_sales_rows_to_the_survivor(lived):
    from customers.services import customer_merge
    from orders.models import Order

    survivor, duplicate = (
        Order.objects.filter(customer__isnull=False)
        .exclude(status__in=[Status.CANCELLED, Status.EXPIRED])
        .values_list("customer_id", flat=True)
        .distinct()
        .order_by("customer_id")[:2]
    )
    assert CustomerYear.objects.filter(customer_id=duplicate).exists()

    customer_merge(
        survivor=Customer.objects.get(pk=survivor),
        duplicate=Customer.objects.get(pk=duplicate),
        merged_by=None,
    )

    assert not CustomerYear.objects.filter(customer_id=duplicate).exists()
    assert report_services.facts_verify() == []


def test_every_order_channel_has_its_customer_sales_column():
    """A channel without a `CustomerYear` column would fail every order placed in it."""
    from orders.domain import Channel
    from reports.models import SALE_CHANNELS

    assert {channel.value for channel in Channel} <= set(SALE_CHANNELS)
    for channel in SALE_CHANNELS:
        CustomerYear._meta.get_field(f"sales_{channel}")
