"""The POS demo: two tills per demo store, baskets rung up from the shelf and synced through
the sale sync, and the tokens `make run` prints, which work against the feeds."""

import io
import random
import re
from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from catalog.models import Variant
from inventory.demo import LOCATIONS
from inventory.models import Location, StockLevel, StockMovement
from inventory.services import verify_ledger
from loyalty.models import LoyaltyEntry
from loyalty.services import verify
from orders.models import Order
from pos import demo
from pos.models import PosSale, Terminal
from pricing.models import Price
from tests.factories.catalog import VariantFactory
from tests.factories.customers import CustomerFactory
from tests.factories.inventory import StockLevelFactory
from tests.factories.loyalty import LoyaltyRulesFactory
from tests.factories.pricing import PriceFactory

pytestmark = pytest.mark.django_db

LINE = re.compile(r"^Terminal (?P<code>\S+) \((?P<store>[^)]+)\) token (?P<token>\S+)$")


@pytest.fixture
def stores():
    """Two of the demo stores (as the inventory demo defines them), stocked and priced."""
    made = [
        Location.objects.create(**spec)
        for spec in LOCATIONS
        if spec["code"] in ("BER-MITTE", "KOE-SCHILDERGASSE")
    ]
    for _ in range(15):
        variant = VariantFactory()
        PriceFactory(
            variant=variant,
            amount=Decimal("12.50"),
            valid_from=timezone.now() - timedelta(days=60),
        )
        for store in made:
            StockLevelFactory(variant=variant, location=store, on_hand=40)
    LoyaltyRulesFactory()
    CustomerFactory.create_batch(6)
    CustomerFactory(phone=None, card_number="2900000000017")
    return made


def test_each_demo_store_gets_two_tills(stores):
    out = io.StringIO()
    demo.seed(rng=random.Random(42), stdout=out)

    codes = sorted(Terminal.objects.values_list("code", flat=True))
    assert codes == ["BER-MITTE-1", "BER-MITTE-2", "KOE-SCHILDERGASSE-1", "KOE-SCHILDERGASSE-2"]
    assert not PosSale.objects.exists()  # their sales are the demo history's
    assert "4 terminals" in out.getvalue()


def test_a_store_week_of_baskets_synced_sells_only_what_the_shelf_holds(stores):
    demo.seed(rng=random.Random(42), stdout=io.StringIO())
    rng = random.Random(3)
    store = stores[0]
    tills = sorted(Terminal.objects.filter(location=store), key=lambda t: t.code)
    priced = set(Price.objects.values_list("variant_id", flat=True))
    skus = dict(Variant.objects.values_list("pk", "sku"))
    shelf = demo.shelf_for(rng, store, priced=priced, skus=skus)
    today = timezone.localdate()
    days = [today - timedelta(days=n) for n in range(14, 0, -1)]
    baskets = [
        basket
        for day in days
        for basket in demo.day_baskets(
            rng, store, tills, shelf, demo.shoppers(rng), day, until=timezone.now()
        )
    ]

    recorded = demo.baskets_sync(rng, baskets)

    sales = PosSale.objects.all()
    orders = Order.objects.filter(channel="pos")
    assert len(recorded) == sales.count() == orders.count() == len(baskets) > 40
    # In opening hours, over the days, at both tills; Sunday closed.
    local = [timezone.localtime(o.placed_at, ZoneInfo(store.time_zone)) for o in orders]
    assert all(10 <= at.hour < 20 and at.weekday() != 6 for at in local)
    assert len({at.date() for at in local}) >= 10
    assert {s.terminal.code for s in sales.select_related("terminal")} == {t.code for t in tills}
    # Stock left the store only through the synced sales, never below zero.
    till_sales = StockMovement.objects.filter(kind="sale")
    assert till_sales.exists() and not till_sales.exclude(reference__startswith="order:").exists()
    assert not StockLevel.objects.filter(on_hand__lt=0).exists()
    assert all(left >= 0 for left in shelf.left.values())
    identified = orders.filter(customer__isnull=False)
    assert identified.exists()
    assert LoyaltyEntry.objects.filter(kind="earn").count() == identified.count()
    assert verify_ledger() == [] and verify() == []


def test_seeding_again_adds_no_tills(stores):
    demo.seed(rng=random.Random(1), stdout=io.StringIO())
    before = Terminal.objects.count()
    out = io.StringIO()
    demo.seed(rng=random.Random(2), stdout=out)
    assert Terminal.objects.count() == before
    assert "already present" in out.getvalue()


def test_the_printed_token_of_each_demo_till_works_against_its_stock_feed(stores):
    demo.seed(rng=random.Random(42), stdout=io.StringIO())

    out = io.StringIO()
    call_command("demo_users", stdout=out)  # what `make run` prints before serving
    lines = [line for line in out.getvalue().splitlines() if line.startswith("Terminal ")]

    assert len(lines) == 4
    for line in lines:
        match = LINE.match(line)
        assert match, line
        terminal = Terminal.objects.select_related("location").get(code=match["code"])
        assert match["store"] == terminal.location.name
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Terminal {match['token']}")
        response = client.get("/api/v1/pos/sync/stock/")
        assert response.status_code == 200, response.content
        assert response.json()["results"]  # its own store's levels


def test_printing_the_credentials_again_retires_the_tokens_printed_before(stores):
    demo.seed(rng=random.Random(42), stdout=io.StringIO())
    old = LINE.match(demo.credentials()[0])["token"]
    new = LINE.match(demo.credentials()[0])["token"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Terminal {old}")
    assert client.get("/api/v1/pos/sync/stock/").status_code == 401
    client.credentials(HTTP_AUTHORIZATION=f"Terminal {new}")
    assert client.get("/api/v1/pos/sync/stock/").status_code == 200
