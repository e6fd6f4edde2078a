"""The demo history: weeks of a small shop's life made through the services, in the past,
with the ledgers consistent and no stock below zero."""

import io
import random
from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db.models import Count
from django.utils import timezone

from demo import history
from demo.clock import DemoClock
from inventory import demo as inventory_demo
from inventory.models import StockLevel, StockMovement
from inventory.services import verify_ledger
from loyalty import demo as loyalty_demo
from loyalty.models import LoyaltyEntry
from loyalty.services import verify
from orders.models import Cart, Order
from pos import demo as pos_demo
from returns.models import Return
from tests.factories.catalog import VariantFactory
from tests.factories.customers import CustomerFactory, CustomerWithLoginFactory
from tests.factories.pricing import PriceFactory

pytestmark = pytest.mark.django_db

DAYS = 56


@pytest.fixture
def year():
    """A small shop (the demo's stores, a few dozen priced variants, some customers) and
    eight weeks of its history."""
    for n in range(40):
        variant = VariantFactory()
        PriceFactory(
            variant=variant,
            amount=Decimal("9.99") + n,
            valid_from=timezone.now() - timedelta(days=400),
        )
    inventory_demo.seed(rng=random.Random(1), stdout=io.StringIO())
    CustomerWithLoginFactory.create_batch(8)
    CustomerFactory.create_batch(10)
    loyalty_demo.seed(rng=random.Random(1), stdout=io.StringIO())
    pos_demo.seed(rng=random.Random(1), stdout=io.StringIO())
    out = io.StringIO()
    history.seed(rng=random.Random(7), stdout=out, days=DAYS)
    return out.getvalue()


def test_weeks_of_history_in_every_channel_through_the_services_with_true_ledgers(year):
    """One test over one history: making it costs more than all the checks together."""
    now = timezone.now()
    orders = Order.objects.all()
    assert set(orders.values_list("channel", flat=True)) == {"web", "app", "pos"}
    placed = list(orders.values_list("placed_at", flat=True))
    assert max(placed) < now and min(placed) > now - timedelta(days=DAYS + 1)
    assert len({at.date() for at in placed}) > DAYS * 0.7  # not all in one moment
    # The tills ring up in opening hours, and more on Saturdays than on Mondays.
    zone = ZoneInfo("Europe/Berlin")
    till = [
        timezone.localtime(at, zone)
        for at in orders.filter(channel="pos").values_list("placed_at", flat=True)
    ]
    assert all(9 <= at.hour < 20 for at in till)
    saturdays = sum(1 for at in till if at.weekday() == 5)
    mondays = sum(1 for at in till if at.weekday() == 0)
    assert saturdays > mondays * 1.3
    # What the services stamped is the moment in the past, not the time of seeding.
    moved = StockMovement.objects.exclude(reference="demo:opening-stock")
    assert moved.filter(created_at__lt=now - timedelta(days=DAYS // 2)).exists()
    assert Cart.objects.filter(state="open", customer=None).exists()  # carts left behind

    # Pickups are collected or expire, deliveries arrive.
    statuses = dict(
        Order.objects.exclude(channel="pos")
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    assert statuses.get("collected", 0) > 5
    assert statuses.get("expired", 0) >= 1
    assert statuses.get("delivered", 0) > 5
    assert set(Order.objects.exclude(channel="pos").values_list("fulfilment_type", flat=True)) == {
        "pickup",
        "delivery",
    }

    # Returns come back across channels and stores; points are earned and spent.
    returns = Return.objects.select_related("order")
    assert returns.filter(order__channel__in=["web", "app"]).exists()
    assert returns.filter(order__channel="pos").exists()
    assert any(r.location_id != r.order.location_id for r in returns)  # return anywhere
    kinds = set(LoyaltyEntry.objects.values_list("kind", flat=True))
    assert {"earn", "redeem"} <= kinds
    assert verify_ledger() == [] and verify() == []
    assert not StockLevel.objects.filter(on_hand__lt=0).exists()
    assert "till sales" in year


def test_the_demo_clock_stands_in_for_now_only_while_it_runs():
    clock = DemoClock()
    past = timezone.now() - timedelta(days=100)
    with clock.running(), clock.at(past):
        assert timezone.now() == past
        assert StockMovement._meta.get_field("created_at").get_default() == past
    assert timezone.now() - past > timedelta(days=99)
    assert StockMovement._meta.get_field("created_at").get_default() - past > timedelta(days=99)
