"""`seed_scale` at a tiny size: it builds every kind of history the reports read, the same
for the same seed, with stock and points ledgers that verify, and it leaves a database with
orders alone unless forced."""

import io
from collections import Counter
from datetime import date

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Max, Min

from inventory.services import verify_ledger
from loyalty.models import LoyaltyAccount, LoyaltyEntry
from loyalty.services import verify
from orders.models import Cart, Order
from reports import services as report_services
from returns.models import Return
from tests.factories.loyalty import LoyaltyRulesFactory

pytestmark = pytest.mark.django_db

TINY = {
    "variants": 40,
    "locations": 2,
    "warehouses": 1,
    "months": 3,
    "orders_per_day": 8,
    "customers": 25,
    "assortment": 20,
    "end": date(2026, 6, 1),
}


def _seed(**options) -> str:
    out = io.StringIO()
    call_command("seed_scale", stdout=out, **{**TINY, "seed": 7, **options})
    return out.getvalue()


@pytest.fixture
def short_lived_points(db):
    # Points live 30 days here, so three months of history expire some.
    return LoyaltyRulesFactory(points_lifetime_days=30)


def _orders(after: int = 0) -> Counter:
    return Counter(
        Order.objects.filter(pk__gt=after).values_list(
            "channel", "fulfilment_type", "status", "total", "points_redeemed", "placed_at"
        )
    )


def _entries(after: int = 0) -> Counter:
    return Counter(
        LoyaltyEntry.objects.filter(pk__gt=after).values_list(
            "kind", "points", "channel", "occurred_at"
        )
    )


def test_it_builds_every_channel_and_outcome_with_ledgers_that_verify(short_lived_points):
    output = _seed()
    assert "seed_scale:" in output
    orders = Order.objects.all()
    assert set(orders.values_list("channel", flat=True)) == {"web", "app", "pos"}
    assert set(orders.values_list("status", flat=True)) >= {
        "collected",
        "delivered",
        "cancelled",
        "expired",
        "partially_returned",
    }
    span = orders.aggregate(first=Min("placed_at"), last=Max("placed_at"))
    assert span["first"].date() >= date(2026, 3, 1) and span["last"].date() < date(2026, 6, 1)
    assert Return.objects.filter(status="completed").exists()
    kinds = set(LoyaltyEntry.objects.values_list("kind", flat=True))
    assert kinds == {"earn", "redeem", "reverse", "expire"}
    assert Cart.objects.filter(state="open").exists()
    assert Cart.objects.filter(state="converted").count() == orders.exclude(channel="pos").count()
    assert verify() == []
    assert verify_ledger() == []
    assert report_services.facts_verify() == []  # the reports' rows follow the bulk load
    sales = LoyaltyEntry.objects.filter(reference__startswith="order:")
    assert sales.exists() and not sales.filter(location__isnull=True).exists()
    assert Cart.objects.filter(checkout_at__isnull=False, state="open").exists()
    assert LoyaltyAccount.objects.filter(balance__gt=0).exists()
    if hasattr(Order, "utm_source"):
        assert orders.exclude(utm_source="").exclude(channel="pos").exists()
        assert not orders.filter(channel="pos").exclude(utm_source="").exists()


def test_the_same_seed_gives_the_same_history_and_another_seed_another(short_lived_points):
    _seed()
    orders_before = Order.objects.aggregate(m=Max("pk"))["m"]
    entries_before = LoyaltyEntry.objects.aggregate(m=Max("pk"))["m"]
    first_orders, first_entries = _orders(), _entries()
    _seed(force=True)
    assert _orders(after=orders_before) == first_orders
    assert _entries(after=entries_before) == first_entries
    orders_again = Order.objects.aggregate(m=Max("pk"))["m"]
    _seed(force=True, seed=8)
    assert _orders(after=orders_again) != first_orders
    assert verify() == []
    assert verify_ledger() == []


def test_it_refuses_a_database_that_has_orders_unless_forced(short_lived_points):
    _seed(months=1)
    count = Order.objects.count()
    with pytest.raises(CommandError, match="already has orders"):
        _seed(months=1)
    assert Order.objects.count() == count
