"""Demo prices and promotions for `seed_demo`: every demo variant gets a price.

One default price list ("Retail", the settings currency) with a base price for every
variant since 90 days ago, a scheduled price change for about one variant in twelve,
and a handful of live promotions of every kind plus one coupon (its code is printed).
Variants and categories are read from the catalog read-only; writes go through
`pricing.services` (prices in one validated bulk insert).
"""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from catalog import selectors as catalog_selectors
from catalog.models import Product, Variant
from pricing import domain, selectors, services
from pricing.models import PriceList

COUPON_CODE = "WELCOME10"
PRICE_POINTS = [Decimal(p) for p in ("4.99", "9.99", "14.99", "19.99", "24.99", "29.99")] + [
    Decimal(p) for p in ("39.99", "49.99", "59.99", "79.99", "99.99", "149.99", "249.99")
]


def _points(*amounts: str) -> list[Decimal]:
    return [Decimal(a) for a in amounts]


# Price points by top-level category name, so a chocolate bar does not cost 249.99.
PRICE_BANDS = {
    "apparel": _points("9.99", "14.99", "19.99", "24.99", "29.99", "39.99", "49.99", "79.99"),
    "footwear": _points("29.99", "39.99", "49.99", "59.99", "79.99", "99.99", "129.99"),
    "electronics": _points(
        "9.99", "19.99", "29.99", "49.99", "99.99", "149.99", "249.99", "499.99"
    ),
    "books": _points("7.99", "9.99", "12.99", "14.99", "19.99", "24.99"),
    "grocery": _points("0.99", "1.49", "1.99", "2.49", "2.99", "3.99", "4.99", "6.99"),
    "home": _points("4.99", "9.99", "14.99", "19.99", "29.99", "39.99", "49.99", "79.99"),
}


# Leaf categories whose prices differ from their top-level category's.
LEAF_BANDS = {
    "smartphones": _points("199.00", "299.00", "449.00", "649.00", "899.00"),
    "laptops": _points("499.00", "699.00", "899.00", "1199.00", "1499.00"),
    "cases": _points("9.99", "14.99", "19.99", "29.99"),
    "chargers & cables": _points("9.99", "14.99", "19.99", "29.99", "39.99"),
    "candles": _points("4.99", "7.99", "9.99", "14.99"),
    "mugs & cups": _points("4.99", "7.99", "9.99", "12.99"),
}


def _band_by_category() -> dict[int, list[Decimal]]:
    """category id → its price points: the leaf's own band, else its top-level category's."""
    names = {c.pk: c.name.lower() for c in catalog_selectors.category_list()}
    return {
        category_id: LEAF_BANDS.get(names.get(category_id, ""))
        or PRICE_BANDS.get(names.get(chain[-1], ""), PRICE_POINTS)
        for category_id, chain in catalog_selectors.category_ancestor_map().items()
    }


def seed(*, rng: random.Random, stdout) -> None:
    now = timezone.now().replace(microsecond=0)
    price_list = selectors.price_list_default() or services.price_list_create(
        name="Retail", currency=settings.DEFAULT_CURRENCY, is_default=True
    )
    variants = list(Variant.objects.select_related("product").order_by("pk"))
    if not variants:
        stdout.write("    no catalog variants: no prices or promotions made")
        return

    rows, scheduled = _price_rows(rng, price_list, variants, now)
    services.prices_save(rows=rows, close_open_ended=True)
    stdout.write(
        f"    {len(variants)} variants priced in {price_list.name} ({price_list.currency}), "
        f"{scheduled} scheduled price changes"
    )

    made = _promotions(rng, variants, now)
    stdout.write(f"    {len(made)} promotions: " + "; ".join(p.name for p in made))
    stdout.write(f"    coupon code: {COUPON_CODE} (10% off the basket, once per customer)")


def _price_rows(
    rng: random.Random, price_list: PriceList, variants: list[Variant], now
) -> tuple[list[services.PriceRow], int]:
    since = now - timedelta(days=90)
    bands = _band_by_category()
    base_by_product: dict[int, Decimal] = {}
    rows: list[services.PriceRow] = []
    scheduled = 0
    for variant in variants:
        points = bands.get(variant.product.category_id, PRICE_POINTS)
        base = base_by_product.setdefault(variant.product_id, rng.choice(points))
        rows.append(
            services.PriceRow(
                price_list_id=price_list.pk, variant_id=variant.pk, amount=base, valid_from=since
            )
        )
        if rng.random() < 1 / 12:
            # A change some days ahead ends the open-ended price above by itself.
            # The new price is the next price point up or down.
            step = rng.choice((-1, 1))
            point = min(max(points.index(base) + step, 0), len(points) - 1)
            rows.append(
                services.PriceRow(
                    price_list_id=price_list.pk,
                    variant_id=variant.pk,
                    amount=points[point] if point != points.index(base) else base + 1,
                    valid_from=now + timedelta(days=rng.randint(3, 30)),
                )
            )
            scheduled += 1
    return rows, scheduled


def _promotions(rng: random.Random, variants: list[Variant], now) -> list:
    categories = list(catalog_selectors.category_list())
    used_category_ids = {v.product.category_id for v in variants}
    ancestors = catalog_selectors.category_ancestor_map()
    with_products = sorted(
        {c for cid in used_category_ids for c in ancestors.get(cid, [cid])}
        & {c.pk for c in categories}
    )
    by_id = {c.pk: c for c in categories}
    picked = rng.sample(with_products, k=min(2, len(with_products)))
    product_ids = sorted({v.product_id for v in variants})
    products = list(
        Product.objects.filter(pk__in=rng.sample(product_ids, k=min(3, len(product_ids))))
    )
    week = now + timedelta(days=7)
    made = []
    if picked:
        made.append(
            services.promotion_create(
                name=f"Season sale: 20% off {by_id[picked[0]].name}",
                kind=domain.PERCENT_OFF,
                scope=domain.CATEGORIES,
                value=20,
                categories=[by_id[picked[0]]],
                starts_at=now - timedelta(days=3),
                ends_at=now + timedelta(days=30),
                priority=10,
            )
        )
        made.append(
            services.promotion_create(
                name=f"3 for 2 in {by_id[picked[-1]].name}",
                kind=domain.BUY_X_GET_Y,
                scope=domain.CATEGORIES,
                buy_quantity=2,
                get_quantity=1,
                categories=[by_id[picked[-1]]],
                starts_at=now - timedelta(days=1),
                ends_at=now + timedelta(days=14),
                priority=20,
                is_stackable=False,
            )
        )
    if products:
        made.append(
            services.promotion_create(
                name="5 off selected products",
                kind=domain.AMOUNT_OFF,
                scope=domain.PRODUCTS,
                value=5,
                products=products,
                starts_at=now - timedelta(days=2),
                priority=5,
            )
        )
    deal = rng.choice(variants)
    made.append(
        services.promotion_create(
            name=f"Deal of the week: {deal.sku} for 9.99",
            kind=domain.FIXED_PRICE,
            scope=domain.VARIANTS,
            value=Decimal("9.99"),
            variants=[deal],
            starts_at=now - timedelta(days=1),
            ends_at=week,
            priority=30,
            is_stackable=False,
        )
    )
    made.append(
        services.promotion_create(
            name="10% off baskets from 200",
            kind=domain.BASKET_THRESHOLD,
            scope=domain.BASKET,
            value=10,
            threshold=200,
            starts_at=now - timedelta(days=10),
            priority=0,
        )
    )
    welcome = services.promotion_create(
        name="Welcome: 10% off with a code",
        kind=domain.PERCENT_OFF,
        scope=domain.BASKET,
        value=10,
        starts_at=now - timedelta(days=30),
        priority=-10,
    )
    services.coupon_create(
        promotion=welcome, code=COUPON_CODE, usage_limit=10_000, usage_limit_per_customer=1
    )
    made.append(welcome)
    # One that is not live yet, so the banners endpoint has something to leave out.
    services.promotion_create(
        name="Next month: 15% off everything",
        kind=domain.PERCENT_OFF,
        scope=domain.BASKET,
        value=15,
        starts_at=now + timedelta(days=30),
        ends_at=now + timedelta(days=37),
    )
    return made
