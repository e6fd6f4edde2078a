"""The till simulator as a scenario: a till pulls the feeds, sells offline from what it
pulled, syncs through duplicates, reordering and a lost answer — and afterwards the core
holds every sale exactly once, with its stock, its points, its coupon use and both ledgers
in order."""

import io
import random
from collections import Counter
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from inventory.models import StockLevel
from inventory.services import verify_ledger
from loyalty.models import LoyaltyEntry
from loyalty.selectors import balance_get
from loyalty.services import verify
from orders.models import Order
from pos.models import PosSale, PriceDiscrepancy
from pos.simulator import LocalTransport, simulate
from pricing.models import CouponRedemption, Promotion
from tests.factories.catalog import BarcodeFactory, CategoryFactory, ProductFactory, VariantFactory
from tests.factories.customers import CustomerFactory
from tests.factories.inventory import LocationFactory, StockLevelFactory
from tests.factories.loyalty import LoyaltyRulesFactory
from tests.factories.pos import make_terminal
from tests.factories.pricing import CouponFactory, PriceFactory, PromotionFactory

# Transactional: on PostgreSQL the stock feed serves a change only once its transaction
# has committed (the safe horizon), and the till pulls its own sales' changes back.
pytestmark = pytest.mark.django_db(transaction=True)
SETTLE = 30  # seconds the till waits for the horizon (cluster-wide: other runs hold it)

STOCK = 30


@pytest.fixture
def shop():
    """A store with 12 priced, stocked variants (each with a barcode), promotions of
    several kinds incl. a coupon-only one, a loyalty programme and known shoppers."""
    store = LocationFactory(code="SIM-1", name="Simulated store")
    terminal, token = make_terminal(store, code="SIM-1-T1")
    rng = random.Random(5)
    shoes = CategoryFactory(name="Shoes")
    variants = []
    for n in range(12):
        product = ProductFactory(category=shoes if n < 4 else CategoryFactory())
        variant = VariantFactory(product=product)
        BarcodeFactory(variant=variant)
        PriceFactory(variant=variant, amount=Decimal(rng.choice(["4.99", "19.99", "59.90"])))
        StockLevelFactory(variant=variant, location=store, on_hand=STOCK)
        variants.append(variant)
    PromotionFactory(
        kind=Promotion.Kind.PERCENT_OFF, scope=Promotion.Scope.CATEGORIES, value=20,
        categories=[shoes], priority=10,
    )  # fmt: skip
    PromotionFactory(
        kind=Promotion.Kind.FIXED_PRICE, scope=Promotion.Scope.VARIANTS, value=Decimal("3.33"),
        variants=[variants[5]], priority=30, is_stackable=False,
    )  # fmt: skip
    PromotionFactory(
        kind=Promotion.Kind.BASKET_THRESHOLD, scope=Promotion.Scope.BASKET, value=5, threshold=60
    )
    CouponFactory(
        code="TILL10",
        usage_limit_per_customer=1,
        promotion=PromotionFactory(value=10, priority=-10),
    )
    LoyaltyRulesFactory()
    shoppers = CustomerFactory.create_batch(5)
    carded = CustomerFactory(phone=None, card_number="2900000000017")
    return terminal, token, variants, shoppers + [carded]


def _identifiers(customers):
    return [{"card": c.card_number} if c.card_number else {"phone": c.phone} for c in customers]


def test_a_till_that_sells_offline_and_syncs_badly_still_records_each_sale_exactly_once(shop):
    terminal, token, variants, customers = shop
    summary, sales = simulate(
        LocalTransport(token),
        sales=40,
        seed=3,
        shoppers=_identifiers(customers),
        batch_size=7,
        settle_seconds=SETTLE,
    )

    assert summary.exactly_once and summary.ok, summary.as_lines()
    assert summary.answers_lost == 1 and summary.sent > 2 * len(sales)
    assert summary.answers["duplicate"] > len(sales)  # the resends were all recognised
    assert summary.identified and summary.coupons and summary.by_barcode
    # Each sale exists once: one sale row and one in-store order per till UUID.
    ids = {sale["id"] for sale in sales}
    assert len(ids) == len(sales) == 40
    rows = PosSale.objects.filter(terminal=terminal)
    assert {str(row.id) for row in rows} == ids
    orders = Order.objects.filter(channel="pos", location=terminal.location)
    assert sorted(orders.values_list("number", flat=True)) == sorted(
        rows.values_list("order_number", flat=True)
    )
    # Stock: every unit the till sold left the store's level, once.
    sold = Counter()
    by_barcode = {v.barcodes.get().code: v.sku for v in variants}
    for sale in sales:
        for line in sale["lines"]:
            sold[line.get("sku") or by_barcode[line["barcode"]]] += line["quantity"]
    for variant in variants:
        level = StockLevel.objects.get(variant=variant, location=terminal.location)
        assert level.on_hand == STOCK - sold[variant.sku]
    assert verify_ledger() == []
    # Points: one earn per identified sale, the balance is the ledger's sum.
    for customer in customers:
        mine = [s for s in sales if s["customer"] in _identifiers([customer])]
        earned = LoyaltyEntry.objects.filter(account__customer=customer, kind="earn")
        assert earned.count() == len(mine)
        assert balance_get(customer=customer) == sum(e.points for e in earned)
    assert verify() == []
    # Coupons: one use per coupon sale; the till priced from the feeds exactly as the
    # engine does, so no sale is a price discrepancy, coupon sales included.
    assert CouponRedemption.objects.count() == summary.coupons
    assert not PriceDiscrepancy.objects.exists()


def test_a_shopper_the_core_has_never_seen_gets_a_profile_and_the_points(shop):
    terminal, token, _variants, _customers = shop
    newcomer = {"phone": "+4915299990001"}
    summary, sales = simulate(
        LocalTransport(token), sales=10, seed=8, shoppers=[newcomer], settle_seconds=SETTLE
    )
    assert summary.exactly_once
    theirs = [s for s in sales if s["customer"] == newcomer]
    assert theirs
    order = Order.objects.get(number=PosSale.objects.get(id=theirs[0]["id"]).order_number)
    assert order.customer.phone == newcomer["phone"]
    assert balance_get(customer=order.customer) > 0


def test_the_command_runs_a_till_in_process_and_prints_its_summary(shop):
    terminal, _token, _variants, _customers = shop
    out = io.StringIO()
    call_command("pos_simulator", "--terminal", terminal.code, "--sales", "12", stdout=out)
    text = out.getvalue()
    assert "Issued a fresh token for SIM-1-T1" in text
    assert "exactly once: yes — 12 of 12 sales" in text
    assert "answers lost: 1" in text
    assert PosSale.objects.count() == Order.objects.filter(channel="pos").count() == 12


def test_the_command_refuses_an_unknown_terminal(db):
    with pytest.raises(CommandError, match="No terminal"):
        call_command("pos_simulator", "--terminal", "NOPE-1", stdout=io.StringIO())
