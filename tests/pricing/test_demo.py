"""The pricing part of `seed_demo`: every variant priced, scheduled changes, live promotions."""

import io
import random
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from catalog.models import Variant
from pricing import demo, selectors
from pricing.models import Price
from tests.factories.catalog import CategoryFactory, ProductFactory, VariantFactory

pytestmark = pytest.mark.django_db


def _catalog(products: int = 30) -> list:
    root = CategoryFactory()
    leaves = [CategoryFactory(parent=root), CategoryFactory(parent=CategoryFactory(parent=root))]
    variants = []
    for n in range(products):
        product = ProductFactory(category=leaves[n % 2])
        variants += [VariantFactory(product=product) for _ in range(2)]
    return variants


def test_the_demo_prices_every_variant_and_sets_up_live_promotions_and_a_coupon():
    variants = _catalog()
    out = io.StringIO()
    demo.seed(rng=random.Random(42), stdout=out)

    units = selectors.unit_prices(variant_ids=[v.pk for v in variants])
    assert {u.status for u in units.values()} == {"priced"}
    assert Price.objects.filter(valid_from__gt=timezone.now()).exists()  # scheduled changes
    live = list(selectors.promotions_live())
    assert len(live) >= 5 and any(p.requires_coupon for p in live)
    assert demo.COUPON_CODE in out.getvalue()

    basket = [{"sku": v.sku, "quantity": 2} for v in variants[:6]]
    quote = selectors.quote(basket, coupon=demo.COUPON_CODE.lower(), customer=1)
    assert quote.coupon["status"] == "applied"
    assert quote.discount_total > 0


def test_scheduled_demo_prices_take_effect_by_themselves():
    variants = _catalog(12)
    demo.seed(rng=random.Random(7), stdout=io.StringIO())
    scheduled = Price.objects.filter(valid_from__gt=timezone.now()).first()
    assert scheduled is not None
    later = scheduled.valid_from + timedelta(seconds=1)
    line = [{"sku": scheduled.variant.sku, "quantity": 1}]
    assert selectors.quote(line, at=later).lines[0].unit_price == scheduled.amount
    now = timezone.now()
    in_effect = Price.objects.filter(valid_from__lte=now).exclude(valid_until__lte=now)
    assert len(variants) == in_effect.count()  # one price in effect per variant


def test_the_demo_without_a_catalog_says_so_and_makes_nothing():
    out = io.StringIO()
    demo.seed(rng=random.Random(1), stdout=out)
    assert "no catalog variants" in out.getvalue()
    assert not Price.objects.exists()


@pytest.fixture
def demo_shop():
    """The demo catalog and its prices, as `seed_demo` makes them."""
    from catalog import demo as catalog_demo

    catalog_demo.seed(rng=random.Random(42), stdout=io.StringIO())
    demo.seed(rng=random.Random(42), stdout=io.StringIO())
    return list(Variant.objects.select_related("product__category").order_by("pk"))


def test_no_live_promotion_makes_a_demo_item_free_or_negative(demo_shop):
    units = selectors.unit_prices(variant_ids=[v.pk for v in demo_shop])
    priced = [(v, units[v.pk]) for v in demo_shop if units[v.pk].status == "priced"]
    assert len(priced) > 1000
    discounted = [unit for _v, unit in priced if unit.discounts]
    assert discounted  # live promotions do apply to single items
    assert all(unit.final > 0 for _v, unit in priced)
    assert all(unit.final >= unit.price / 2 for unit in discounted)

    # Multi-buy promotions on three of an item (one product at a time): still paid for.
    live = list(selectors.promotions_live())
    assert any(p.kind == "buy_x_get_y" for p in live)
    first_of_product = {v.product_id: v.sku for v, _unit in reversed(priced)}
    for sku in first_of_product.values():
        quote = selectors.quote([{"sku": sku, "quantity": 3}])
        assert quote.lines[0].line_total > 0 and quote.total > 0


def test_demo_sizes_that_are_amounts_cost_more_and_clothing_sizes_share_a_price(demo_shop):
    units = selectors.unit_prices(variant_ids=[v.pk for v in demo_shop])
    by_product: dict[int, list] = {}
    for variant in demo_shop:
        if units[variant.pk].price is not None:
            by_product.setdefault(variant.product_id, []).append(variant)
    checked = 0
    for variants in by_product.values():
        axes = set(variants[0].options)
        for axis in axes & set(demo.SIZED_AXES):
            sizes = {v.options[axis] for v in variants}
            if len(sizes) < 2:
                continue
            checked += 1
            prices = {units[v.pk].price for v in variants}
            assert len(prices) > 1, [(v.sku, units[v.pk].price) for v in variants]
            # The bigger amount costs more: 1 kg of coffee more than 250 g.
            by_size = {}
            for v in variants:
                by_size.setdefault(v.options[axis], set()).add(units[v.pk].price)
            factors = {size: demo.SIZE_FACTORS[axis][size] for size in by_size}
            small, big = (
                min(factors, key=lambda s: Decimal(factors[s])),
                max(factors, key=lambda s: Decimal(factors[s])),
            )
            assert max(by_size[small]) < min(by_size[big])
    assert checked > 25
    coffee = [v for v in demo_shop if v.product.category.slug.endswith("-coffee")]
    assert {v.options["weight"] for v in coffee} == {"250 g", "1 kg"}
    # Adult clothes: every size of a colour one price.
    shirts = [v for v in demo_shop if v.product.category.slug == "apparel-men-shirts"]
    for product_id in {v.product_id for v in shirts}:
        prices = {units[v.pk].price for v in shirts if v.product_id == product_id}
        assert len(prices - {None}) == 1


def test_demo_prices_sit_in_their_category_band(demo_shop):
    units = selectors.unit_prices(variant_ids=[v.pk for v in demo_shop])
    for variant in demo_shop:
        price = units[variant.pk].price
        if price is None:
            continue
        low, high = (Decimal(b) for b in demo.BANDS[variant.product.category.slug])
        factor = demo.size_factor(variant.options)
        # Within the band for the smallest size, scaled by the size; a repricing of ±10%.
        assert low * factor * Decimal("0.85") <= price <= high * factor * Decimal("1.15"), (
            variant.sku,
            price,
        )
    chocolate = [units[v.pk].price for v in demo_shop if "chocolate" in v.product.category.slug]
    laptops = [units[v.pk].price for v in demo_shop if "laptops" in v.product.category.slug]
    assert max(p for p in chocolate if p) < 10 < min(p for p in laptops if p) / 50


def test_the_same_seed_prices_the_demo_shop_the_same_way():
    from django.db import transaction

    from catalog import demo as catalog_demo

    def prices(seed: int):
        with transaction.atomic():
            catalog_demo.seed(rng=random.Random(1), stdout=io.StringIO())
            demo.seed(rng=random.Random(seed), stdout=io.StringIO())
            rows = sorted(Price.objects.values_list("variant__sku", "amount"))
            transaction.set_rollback(True)
        return rows

    first = prices(5)
    assert prices(5) == first
    assert prices(6) != first
