"""Sale sync: every till sale reaches the core exactly once — its order, stock sale, points
and coupon use — whatever the retries; one bad sale never blocks the others."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from inventory.models import StockLevel, StockMovement
from inventory.services import verify_ledger
from loyalty.selectors import balance_get
from loyalty.services import verify
from orders.models import Order
from pos.models import PosSale, PriceDiscrepancy
from tests.factories.catalog import VariantFactory
from tests.factories.customers import CustomerWithLoginFactory
from tests.factories.inventory import LocationFactory, StockLevelFactory
from tests.factories.loyalty import LoyaltyRulesFactory
from tests.factories.pos import make_terminal, terminal_client
from tests.factories.pricing import CouponFactory, PriceFactory

pytestmark = pytest.mark.django_db

SYNC = "/api/v1/pos/sync/sales/"


@pytest.fixture
def till(db):
    store = LocationFactory(code="BER-1", name="Berlin Mitte")
    terminal, token = make_terminal(store, code="BER-1-T1")
    return terminal, terminal_client(token)


def _variant(price="10.00", stock=5, location=None):
    variant = VariantFactory()
    PriceFactory(variant=variant, amount=Decimal(price))
    if location is not None:
        StockLevelFactory(variant=variant, location=location, on_hand=stock)
    return variant


def _sale(variant, *, quantity=1, price="10.00", customer=None, minutes_ago=5, **extra):
    total = Decimal(price) * quantity
    return {
        "id": str(uuid.uuid4()),
        "occurred_at": (timezone.now() - timedelta(minutes=minutes_ago)).isoformat(),
        "cashier": "C1",
        "customer": customer,
        "hold": None,
        "lines": [
            {"sku": variant.sku, "quantity": quantity, "unit_price": price, "discount": "0.00"}
        ],
        "tenders": [{"kind": "cash", "amount": str(total), "points": 0}],
    } | extra


def _push(client, sales):
    response = client.post(SYNC, {"sales": sales}, format="json")
    assert response.status_code == 200, response.content
    return {r["id"]: r for r in response.json()["results"]}


def test_a_sale_is_recorded_once_however_often_the_batch_is_replayed(till):
    terminal, client = till
    variant = _variant(location=terminal.location, stock=5)
    sale = _sale(variant, quantity=2)
    first = _push(client, [sale])[sale["id"]]
    assert first["status"] == "created" and len(first["order"]) == 8
    for _ in range(3):
        again = _push(client, [sale])[sale["id"]]
        assert again == {"id": sale["id"], "status": "duplicate", "order": first["order"]}
    order = Order.objects.get(number=first["order"])
    assert (order.channel, order.fulfilment_type, order.status) == ("pos", "in_store", "collected")
    assert order.total == Decimal("20.00")
    level = StockLevel.objects.get(variant=variant, location=terminal.location)
    assert level.on_hand == 3
    assert StockMovement.objects.filter(level=level, kind="sale").count() == 1
    assert PosSale.objects.count() == 1
    assert verify_ledger() == []


def test_a_retried_batch_with_new_sales_creates_only_the_new_ones(till):
    terminal, client = till
    variant = _variant(location=terminal.location)
    old, new = _sale(variant), _sale(variant)
    _push(client, [old])
    results = _push(client, [new, old])
    assert (results[new["id"]]["status"], results[old["id"]]["status"]) == ("created", "duplicate")
    assert Order.objects.count() == 2


def test_one_bad_sale_never_blocks_the_others(till):
    terminal, client = till
    variant = _variant(location=terminal.location)
    good = _sale(variant)
    unknown = _sale(variant) | {
        "lines": [{"sku": "NOPE", "quantity": 1, "unit_price": "10.00", "discount": "0.00"}]
    }
    malformed = _sale(variant) | {"tenders": [{"kind": "cash", "amount": "1.00"}]}
    returned = _sale(variant) | {
        "lines": [{"sku": variant.sku, "quantity": -1, "unit_price": "10.00", "discount": "0"}]
    }
    garbage = {"id": "not-a-uuid", "lines": "x"}
    results = _push(client, [good, unknown, malformed, returned, garbage])
    assert results[good["id"]]["status"] == "created"
    assert results[unknown["id"]] | {"order": ""} == {
        "id": unknown["id"],
        "status": "rejected",
        "reason": "unknown_sku:NOPE",
        "order": "",
    }
    assert results[malformed["id"]]["reason"] == "malformed"
    # A returned line must name the receipt it was bought on (tests/pos/test_till_returns.py).
    assert results[returned["id"]]["reason"] == "malformed"
    assert results["not-a-uuid"]["status"] == "rejected"
    assert Order.objects.count() == 1


def test_a_sale_beyond_the_stock_takes_it_below_zero_and_flags_the_level(till):
    terminal, client = till
    variant = _variant(location=terminal.location, stock=1)
    sale = _sale(variant, quantity=3)
    assert _push(client, [sale])[sale["id"]]["status"] == "created"
    level = StockLevel.objects.get(variant=variant, location=terminal.location)
    assert level.on_hand == -2 and level.needs_attention


def test_an_identified_customer_earns_points_and_sees_the_sale_in_the_app(till):
    terminal, client = till
    LoyaltyRulesFactory()  # 1 point per EUR
    customer = CustomerWithLoginFactory()
    variant = _variant(location=terminal.location, price="25.00")
    sale = _sale(variant, quantity=2, price="25.00", customer={"phone": customer.phone})
    number = _push(client, [sale])[sale["id"]]["order"]
    assert balance_get(customer=customer) == 50
    app = APIClient()
    app.force_authenticate(customer.user)
    orders = app.get("/api/v1/me/orders/").json()["results"]
    assert [(o["number"], o["channel"], o["store"]) for o in orders] == [
        (number, "pos", "Berlin Mitte")
    ]
    timeline = app.get("/api/v1/me/timeline/").json()["results"]
    sold = [e for e in timeline if e["reference"] == f"order:{number}"]
    assert {e["details"].get("store") or e["details"].get("place") for e in sold} == {
        "Berlin Mitte"
    }
    ledger = app.get("/api/v1/me/loyalty/").json()
    assert ledger["balance"] == 50
    (earned,) = ledger["entries"]["results"]
    assert (earned["reference"], earned["place"]) == (f"order:{number}", "Berlin Mitte")
    assert verify() == []


def test_the_same_uuid_from_another_terminal_is_refused(till):
    terminal, client = till
    variant = _variant(location=terminal.location)
    sale = _sale(variant)
    _push(client, [sale])
    _other, token = make_terminal(LocationFactory(code="HAM-1"))
    results = _push(terminal_client(token), [sale])
    assert results[sale["id"]]["status"] == "rejected"
    assert results[sale["id"]]["reason"] == "terminal_mismatch"
    assert Order.objects.count() == 1


def test_a_price_the_engine_would_not_have_charged_is_recorded_not_refused(till):
    terminal, client = till
    variant = _variant(location=terminal.location, price="10.00")
    sale = _sale(variant, quantity=2, price="9.00")
    assert _push(client, [sale])[sale["id"]]["status"] == "created"
    (gap,) = PriceDiscrepancy.objects.all()
    assert (gap.sku, gap.charged, gap.expected, gap.difference) == (
        variant.sku,
        Decimal("18.00"),
        Decimal("20.00"),
        Decimal("-2.00"),
    )
    assert PosSale.objects.get().flags == {"prices": 1}


def test_a_coupon_used_beyond_its_limit_at_the_till_is_recorded_and_flagged(till):
    terminal, client = till
    variant = _variant(location=terminal.location)
    coupon = CouponFactory(code="ONCE", usage_limit=1)
    first, second = (_sale(variant, coupons=["once"]) for _ in range(2))
    results = _push(client, [first, second])
    assert {r["status"] for r in results.values()} == {"created"}
    assert coupon.redemptions.count() == 2
    flags = [sale.flags.get("coupon") for sale in PosSale.objects.order_by("occurred_at")]
    assert sorted(flags, key=str) == sorted([None, "usage_limit"], key=str)


def test_a_batch_of_more_than_500_sales_is_refused_whole(till):
    _terminal, client = till
    response = client.post(SYNC, {"sales": [{}] * 501}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"


def test_the_same_sale_twice_in_one_batch_is_answered_and_recorded_once(till):
    terminal, client = till
    variant = _variant(location=terminal.location)
    sale = _sale(variant)
    results = client.post(SYNC, {"sales": [sale, sale]}, format="json").json()["results"]
    assert [(r["id"], r["status"]) for r in results] == [(sale["id"], "created")]
    assert Order.objects.count() == 1
