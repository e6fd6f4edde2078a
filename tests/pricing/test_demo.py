"""The pricing part of `seed_demo`: every variant priced, scheduled changes, live promotions."""

import io
import random
from datetime import timedelta

import pytest
from django.utils import timezone

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
    assert len(variants) == Price.objects.filter(valid_from__lte=timezone.now()).count()


def test_the_demo_without_a_catalog_says_so_and_makes_nothing():
    out = io.StringIO()
    demo.seed(rng=random.Random(1), stdout=out)
    assert "no catalog variants" in out.getvalue()
    assert not Price.objects.exists()
