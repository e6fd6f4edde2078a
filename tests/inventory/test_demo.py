"""The demo stock: stores and warehouses that look real, a spread of stock, a true ledger."""

import io
import random
from zoneinfo import ZoneInfo

import pytest

from inventory import demo, selectors
from inventory.domain import opening_hours_problems
from inventory.models import Location, StockLevel, StockMovement
from tests.factories.catalog import VariantFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded():
    for _ in range(60):
        VariantFactory()
    out = io.StringIO()
    demo.seed(rng=random.Random(42), stdout=out)
    return out.getvalue()


def test_demo_has_three_to_five_stores_some_pickup_points_and_one_or_two_warehouses(seeded):
    stores = Location.objects.filter(kind="store")
    warehouses = Location.objects.filter(kind="warehouse")
    assert 3 <= stores.count() <= 5 and 1 <= warehouses.count() <= 2
    assert 0 < stores.filter(is_pickup_point=True).count() < stores.count()
    assert warehouses.filter(ships_online=True).count() == warehouses.count()
    for location in Location.objects.all():
        ZoneInfo(location.time_zone)
        assert opening_hours_problems(location.opening_hours) == []
        assert location.latitude is not None and location.address_line
    # One country, one time zone: a variant has one VAT rate, not one per country, so the
    # demo chain stays in Germany rather than charge German VAT in Austria or Portugal.
    assert {loc.country for loc in Location.objects.all()} == {"DE"}
    assert {loc.time_zone for loc in Location.objects.all()} == {"Europe/Berlin"}
    assert "stock levels" in seeded


def test_demo_stock_is_spread_with_gaps_and_a_verified_ledger(seeded):
    from inventory.services import verify_ledger

    assert verify_ledger() == []
    store_levels = StockLevel.objects.filter(location__kind="store")
    # Only opening deliveries: what the tills sold comes from the POS demo's synced sales.
    assert set(StockMovement.objects.values_list("kind", flat=True)) == {"receipt"}
    assert store_levels.filter(on_hand__gt=0).count() > store_levels.count() // 2
    variants = StockLevel.objects.values("variant").distinct().count()
    stores = Location.objects.filter(kind="store").count()
    assert store_levels.count() < variants * stores  # not every store carries everything
    deep = StockLevel.objects.filter(location__kind="warehouse", on_hand__gte=20).count()
    assert deep > 30
    assert any(selectors.pickup_locations())


def test_demo_thresholds_are_a_quarter_of_the_shelf_so_a_fresh_store_has_nothing_low(seeded):
    from django.db.models import F

    for level in StockLevel.objects.all():
        assert level.low_stock_threshold == max(1, level.on_hand // 4)
    # Before any sale nothing is at or below its minimum (the start page's "low" tile).
    assert not StockLevel.objects.filter(on_hand__gt=0, on_hand__lte=F("low_stock_threshold"))


def test_seeding_twice_does_not_duplicate_anything(seeded):
    count = StockLevel.objects.count()
    out = io.StringIO()
    demo.seed(rng=random.Random(42), stdout=out)
    assert StockLevel.objects.count() == count
    assert "skipping" in out.getvalue()


def test_the_same_seed_gives_the_same_stock():
    for _ in range(20):
        VariantFactory()

    def seed_and_read():
        demo.seed(rng=random.Random(1), stdout=io.StringIO())
        stock = sorted(StockLevel.objects.values_list("variant_id", "location__code", "on_hand"))
        StockMovement.objects.all().delete()
        StockLevel.objects.all().delete()
        Location.objects.all().delete()
        return stock

    assert seed_and_read() == seed_and_read()


def test_each_demo_store_stocks_its_own_assortment_and_nothing_starts_negative():
    from catalog import demo as catalog_demo

    catalog_demo.seed(rng=random.Random(3), stdout=io.StringIO())
    demo.seed(rng=random.Random(3), stdout=io.StringIO())

    def roots(code: str) -> set[str]:
        slugs = StockLevel.objects.filter(location__code=code).values_list(
            "variant__product__category__slug", flat=True
        )
        return {slug.split("-")[0] for slug in slugs}

    assert roots("KOE-SCHILDERGASSE") == {"apparel", "footwear"}  # a fashion store
    assert roots("FRA-ZEIL") == {"electronics", "books", "grocery"}
    assert {"apparel", "electronics", "grocery"} <= roots("BER-MITTE")
    assert not StockLevel.objects.filter(on_hand__lt=0).exists()
    assert not StockLevel.objects.filter(on_hand=0).exists()


def test_replenishing_fills_a_store_up_to_its_shelf_quantities_through_the_ledger(seeded):
    from inventory.services import stock_adjust, verify_ledger

    store = Location.objects.get(code="BER-MITTE")
    level = StockLevel.objects.filter(location=store).order_by("pk").first()
    stock_adjust(lines=[(level.variant_id, -level.on_hand)], location=store, reason="sold out")
    par = {level.variant_id: level.on_hand + 4}

    assert (
        demo.replenish(location=store, par=par, reference="demo:restock-1") == par[level.variant_id]
    )
    level.refresh_from_db()
    assert level.on_hand == par[level.variant_id]
    assert demo.replenish(location=store, par=par, reference="demo:restock-2") == 0
    assert verify_ledger() == []
