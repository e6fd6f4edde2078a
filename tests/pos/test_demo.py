"""The POS demo: two tills per demo store, their history synced through the sale sync, and
the tokens `make run` prints, which work against the feeds."""

import io
import random
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from inventory.demo import LOCATIONS
from inventory.models import Location, StockMovement
from inventory.services import verify_ledger
from loyalty.models import LoyaltyEntry
from loyalty.services import verify
from orders.models import Order
from pos import demo
from pos.models import PosSale, Terminal
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
        if spec["code"] in ("BER-MITTE", "LIS-BAIXA")
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


def test_each_demo_store_gets_two_tills_and_weeks_of_history_through_the_sale_sync(stores):
    out = io.StringIO()
    demo.seed(rng=random.Random(42), stdout=out)

    codes = sorted(Terminal.objects.values_list("code", flat=True))
    assert codes == ["BER-MITTE-1", "BER-MITTE-2", "LIS-BAIXA-1", "LIS-BAIXA-2"]
    sales = PosSale.objects.all()
    orders = Order.objects.filter(channel="pos")
    assert sales.count() == orders.count() > 100
    assert set(sales.values_list("order_number", flat=True)) == set(
        orders.values_list("number", flat=True)
    )
    # Weeks of history, in opening hours, at both tills of each store.
    span = max(o.placed_at for o in orders) - min(o.placed_at for o in orders)
    assert span > timedelta(days=14)
    assert {s.terminal.code for s in sales.select_related("terminal")} == set(codes)
    # Stock left the stores only through the synced sales; known customers earned points.
    till_sales = StockMovement.objects.filter(kind="sale")
    assert till_sales.exists() and not till_sales.exclude(reference__startswith="order:").exists()
    identified = orders.filter(customer__isnull=False)
    assert identified.exists()
    assert LoyaltyEntry.objects.filter(kind="earn").count() == identified.count()
    assert verify_ledger() == [] and verify() == []
    assert "0 rejected" in out.getvalue()


def test_seeding_again_adds_no_tills_and_no_sales(stores):
    demo.seed(rng=random.Random(1), stdout=io.StringIO())
    before = (Terminal.objects.count(), PosSale.objects.count())
    out = io.StringIO()
    demo.seed(rng=random.Random(2), stdout=out)
    assert (Terminal.objects.count(), PosSale.objects.count()) == before
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
