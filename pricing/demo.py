"""Demo prices and promotions for `seed_demo`: every demo variant gets a price.

One default price list ("Retail", the settings currency). Each product's smallest size is
priced within its category's band (a chocolate bar 1.49–2.99, a winter coat 79.99–199.99)
and bigger sizes cost more where size is an amount (250 g coffee vs 1 kg, 128 vs 512 GB,
paperback vs hardcover); clothes and shoes share one price across sizes. Prices run from
before the year of demo history; a fifth of the products were repriced during it, one in
twelve has a change scheduled. Promotions: a handful live now (every kind, plus one
coupon, its code printed) and the year's seasonal campaigns, none making an item free.
Variants and categories are read from the catalog read-only; writes go through
`pricing.services` (prices in one validated bulk insert).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

from catalog import selectors as catalog_selectors
from catalog.models import Product, Variant
from pricing import domain, selectors, services
from pricing.models import PriceList, ShippingRate

COUPON_CODE = "WELCOME10"
PRICES_SINCE_DAYS = 400  # before the year of history the other demo parts make up
FALLBACK_BAND = ("9.99", "49.99")

# What the cheapest size of a product costs, by leaf category slug (the catalog demo's
# tree): a chocolate bar does not cost 249.99 and a winter coat not 9.99.
BANDS = {
    "apparel-women-dresses": ("39.99", "89.99"),
    "apparel-women-t-shirts-tops": ("12.99", "29.99"),
    "apparel-women-jeans": ("49.99", "99.99"),
    "apparel-women-jackets-coats": ("79.99", "199.99"),
    "apparel-women-knitwear": ("39.99", "89.99"),
    "apparel-men-t-shirts": ("12.99", "29.99"),
    "apparel-men-shirts": ("29.99", "59.99"),
    "apparel-men-jeans": ("49.99", "99.99"),
    "apparel-men-jackets-coats": ("89.99", "219.99"),
    "apparel-men-hoodies": ("39.99", "69.99"),
    "apparel-kids-t-shirts": ("8.99", "16.99"),
    "apparel-kids-trousers": ("17.99", "29.99"),
    "apparel-kids-jackets": ("29.99", "59.99"),
    "apparel-kids-pyjamas": ("14.99", "24.99"),
    "footwear-women-sneakers": ("59.99", "129.99"),
    "footwear-women-boots": ("89.99", "179.99"),
    "footwear-women-sandals": ("29.99", "69.99"),
    "footwear-men-sneakers": ("59.99", "139.99"),
    "footwear-men-boots": ("99.99", "189.99"),
    "footwear-men-sandals": ("29.99", "69.99"),
    "footwear-kids-sneakers": ("29.99", "49.99"),
    "footwear-kids-wellies-boots": ("19.99", "44.99"),
    "electronics-phones-smartphones": ("199.00", "899.00"),
    "electronics-phones-cases": ("9.99", "29.99"),
    "electronics-phones-chargers-cables": ("12.99", "19.99"),
    "electronics-audio-headphones": ("29.99", "249.00"),
    "electronics-audio-speakers": ("39.99", "299.00"),
    "electronics-computers-laptops": ("699.00", "1499.00"),
    "electronics-computers-keyboards-mice": ("24.99", "129.99"),
    "home-kitchen-cookware": ("24.99", "59.99"),
    "home-kitchen-mugs-cups": ("6.99", "14.99"),
    "home-kitchen-utensils": ("7.99", "24.99"),
    "home-bedding-bath-bed-linen": ("29.99", "59.99"),
    "home-bedding-bath-towels": ("6.99", "12.99"),
    "home-decor-candles": ("9.99", "24.99"),
    "home-decor-vases": ("14.99", "39.99"),
    "books-fiction-novels": ("10.99", "14.99"),
    "books-fiction-crime-thrillers": ("10.99", "13.99"),
    "books-non-fiction-cookbooks": ("14.99", "22.99"),
    "books-non-fiction-travel-guides": ("12.99", "18.99"),
    "grocery-coffee-tea-coffee": ("5.99", "9.99"),
    "grocery-coffee-tea-tea": ("2.99", "5.99"),
    "grocery-sweets-chocolate": ("1.49", "2.99"),
}

# How much more a bigger size costs than the smallest: per option value, multiplied over a
# variant's options. Weights, volumes, storage and bed sizes cost more; clothing and shoe
# sizes share a price (as in most shops), except children's sizes from 122 up.
SIZE_FACTORS = {
    "weight": {"250 g": "1", "1 kg": "3.3", "45 g": "1", "100 g": "1.9"},
    "pack": {"20 bags": "1", "50 bags": "2.1", "100 g loose": "1.6"},
    "storage": {"128 GB": "1", "256 GB": "1.15", "512 GB": "1.4"},
    "memory": {"8/256 GB": "1", "16/512 GB": "1.3", "32 GB/1 TB": "1.75"},
    "power": {"20 W": "1", "30 W": "1.3", "45 W": "1.6", "65 W": "2"},
    "format": {"Paperback": "1", "Hardcover": "1.9"},
    "size": {
        "20 cm": "1", "24 cm": "1.2", "28 cm": "1.4", "32 cm": "1.65",
        "Single": "1", "Double": "1.45", "King": "1.75",
        "Hand": "1", "Bath": "2", "Sheet": "3",
        "Small": "1", "Medium": "1.4", "Large": "1.9",
        "122": "1.15", "128": "1.15", "134": "1.15", "140": "1.15", "146": "1.15",
    },
}  # fmt: skip

# Option axes whose values are amounts of something (weight, volume, capacity, format):
# the variants of one product are never all one price along these.
SIZED_AXES = ("weight", "pack", "storage", "memory", "power", "format")


def size_factor(options: dict[str, str]) -> Decimal:
    """How many times the smallest size's price this variant's options cost."""
    factor = Decimal(1)
    for axis, value in options.items():
        factor *= Decimal(SIZE_FACTORS.get(axis, {}).get(value, "1"))
    return factor


def charm(amount: Decimal) -> Decimal:
    """A shop's price point near `amount`: x.49/x.99 under 10, x.99 under 100, then whole
    euros ending in 9 (449.00)."""
    if amount < 10:
        halves = (amount * 2).to_integral_value(rounding=ROUND_HALF_UP)
        return max(Decimal("0.49"), halves / 2 - Decimal("0.01"))
    if amount < 100:
        return amount.to_integral_value(rounding=ROUND_HALF_UP) - Decimal("0.01")
    return (amount / 10).to_integral_value(rounding=ROUND_HALF_UP) * 10 - 1


def _base_price(rng: random.Random, band: tuple[str, str]) -> Decimal:
    low, high = (Decimal(b) for b in band)
    return charm(low + (high - low) * Decimal(str(round(rng.random(), 3))))


def _variant_price(base: Decimal, options: dict[str, str]) -> Decimal:
    factor = size_factor(options)
    if factor == 1:
        return base
    return max(charm(base * factor), base + Decimal(1))  # a bigger size never costs the same


def seed(*, rng: random.Random, stdout) -> None:
    now = timezone.now().replace(microsecond=0)
    price_list = selectors.price_list_default() or services.price_list_create(
        name="Retail", currency=settings.DEFAULT_CURRENCY, is_default=True
    )
    variants = list(Variant.objects.select_related("product__category").order_by("pk"))
    if not variants:
        stdout.write("    no catalog variants: no prices or promotions made")
        return

    rows, changed, scheduled = _price_rows(rng, price_list, variants, now)
    services.prices_save(rows=rows, close_open_ended=True)
    stdout.write(
        f"    {len(variants)} variants priced in {price_list.name} ({price_list.currency}), "
        f"{changed} products repriced during the year, {scheduled} scheduled price changes"
    )

    made = _promotions(rng, variants, now)
    stdout.write(f"    {len(made)} promotions: " + "; ".join(p.name for p in made))
    stdout.write(f"    coupon code: {COUPON_CODE} (10% off the basket, once per customer)")
    rates = _shipping_rates()
    stdout.write("    delivery methods: " + "; ".join(str(rate) for rate in rates))


def _shipping_rates() -> list[ShippingRate]:
    """Standard delivery, free from 50.00 of goods, and express (VAT 19 % included)."""
    wanted = [
        ("standard", "Standard delivery (2-4 days)", "4.95", "50.00", 10),
        ("express", "Express delivery (next day)", "9.95", None, 20),
    ]
    rates = []
    for code, name, price, free_above, position in wanted:
        rate = ShippingRate.objects.filter(code=code).first() or ShippingRate(code=code)
        rate.name, rate.price, rate.vat_rate = name, Decimal(price), Decimal("19.00")
        rate.free_above = Decimal(free_above) if free_above else None
        rate.position, rate.is_active = position, True
        rates.append(services.shipping_rate_save(rate=rate))
    return rates


def _price_rows(
    rng: random.Random, price_list: PriceList, variants: list[Variant], now
) -> tuple[list[services.PriceRow], int, int]:
    """A base price per product (its smallest size) within its category's band, each
    variant's price scaled by its size; a fifth of the products repriced during the year
    (the old price ends where the new begins), one in twelve with a change scheduled."""
    since = now - timedelta(days=PRICES_SINCE_DAYS)
    by_product: dict[int, list[Variant]] = {}
    for variant in variants:
        by_product.setdefault(variant.product_id, []).append(variant)
    rows: list[services.PriceRow] = []
    changed = scheduled = 0

    def row(variant, amount, valid_from, valid_until=None):
        return services.PriceRow(
            price_list_id=price_list.pk,
            variant_id=variant.pk,
            amount=amount,
            valid_from=valid_from,
            valid_until=valid_until,
        )

    for members in by_product.values():
        band = BANDS.get(members[0].product.category.slug, FALLBACK_BAND)
        base = _base_price(rng, band)
        start = since
        if rng.random() < 0.2:  # repriced during the year: up a few percent, mostly
            changed += 1
            change_at = now - timedelta(days=rng.randint(30, 300))
            old = charm(base * Decimal(str(rng.choice((0.9, 0.93, 0.95, 1.05)))))
            rows += [row(v, _variant_price(old, v.options), since, change_at) for v in members]
            start = change_at
        rows += [row(v, _variant_price(base, v.options), start) for v in members]
        last = members is list(by_product.values())[-1]
        if rng.random() < 1 / 12 or (last and not scheduled):
            # A change some days ahead ends the open-ended price above by itself.
            scheduled += 1
            new = charm(base * Decimal(str(rng.choice((0.9, 1.06, 1.1)))))
            if new == base:
                new = base + Decimal(1)
            starts = now + timedelta(days=rng.randint(3, 30))
            rows += [row(v, _variant_price(new, v.options), starts) for v in members]
    return rows, changed, scheduled


def _window(now, month: int, day: int, days: int) -> tuple:
    """The most recent [start, end) of a yearly campaign starting on `month`/`day` (Berlin
    midnight) that has begun by `now`: this year's, else last year's."""
    zone = ZoneInfo("Europe/Berlin")
    local = now.astimezone(zone)
    start = datetime(local.year, month, day, tzinfo=zone)
    if start > now:
        start = datetime(local.year - 1, month, day, tzinfo=zone)
    return start, start + timedelta(days=days)


def _black_friday(now) -> datetime:
    """The most recent Black Friday (fourth Friday of November, Berlin time) before `now`."""
    zone = ZoneInfo("Europe/Berlin")
    for year in (now.astimezone(zone).year, now.astimezone(zone).year - 1):
        first = datetime(year, 11, 1, tzinfo=zone)
        friday = first + timedelta(days=(4 - first.weekday()) % 7 + 21)
        if friday - timedelta(days=4) <= now:
            return friday
    raise AssertionError("unreachable")


def _promotions(rng: random.Random, variants: list[Variant], now) -> list:
    """Live promotions (listed) and the year's past campaigns. None makes an item free:
    percentages, a fixed amount off only products priced well above it, a deal price below
    the variant's own, and 3 for 2 only over whole baskets of three."""
    categories = list(catalog_selectors.category_list())
    by_slug = {c.slug: c for c in categories}
    used_category_ids = {v.product.category_id for v in variants}
    ancestors = catalog_selectors.category_ancestor_map()
    with_products = sorted(
        {c for cid in used_category_ids for c in ancestors.get(cid, [cid])}
        & {c.pk for c in categories}
    )
    by_id = {c.pk: c for c in categories}
    picked = rng.sample(with_products, k=min(2, len(with_products)))
    season = by_slug.get("apparel-women-knitwear") or (by_id[picked[0]] if picked else None)
    three_for_two = by_slug.get("books") or (by_id[picked[-1]] if picked else None)
    prices = {
        vid: unit.price
        for vid, unit in selectors.unit_prices(variant_ids=[v.pk for v in variants]).items()
        if unit.price is not None
    }
    # 5 off only where the cheapest variant costs 30 or more: never near free.
    cheapest: dict[int, Decimal] = {}
    for v in variants:
        if v.pk in prices:
            cheapest[v.product_id] = min(cheapest.get(v.product_id, prices[v.pk]), prices[v.pk])
    dear = sorted(pid for pid, amount in cheapest.items() if amount >= 30)
    products = list(Product.objects.filter(pk__in=rng.sample(dear, k=min(3, len(dear)))))
    week = now + timedelta(days=7)
    made = []
    if season is not None:
        made.append(
            services.promotion_create(
                name=f"Season sale: 20% off {season.name}",
                kind=domain.PERCENT_OFF,
                scope=domain.CATEGORIES,
                value=20,
                categories=[season],
                starts_at=now - timedelta(days=3),
                ends_at=now + timedelta(days=30),
                priority=10,
            )
        )
    if three_for_two is not None:
        made.append(
            services.promotion_create(
                name=f"3 for 2 in {three_for_two.name}",
                kind=domain.BUY_X_GET_Y,
                scope=domain.CATEGORIES,
                buy_quantity=2,
                get_quantity=1,
                categories=[three_for_two],
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
    deals = sorted(v.pk for v in variants if Decimal("19.99") <= prices.get(v.pk, 0) <= 99)
    if deals:
        deal_id = rng.choice(deals)
        deal = next(v for v in variants if v.pk == deal_id)
        deal_price = charm(prices[deal.pk] * Decimal("0.7"))
        made.append(
            services.promotion_create(
                name=f"Deal of the week: {deal.product.name} ({deal.sku}) for {deal_price}",
                kind=domain.FIXED_PRICE,
                scope=domain.VARIANTS,
                value=deal_price,
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
        starts_at=now - timedelta(days=PRICES_SINCE_DAYS),
        priority=-10,
    )
    services.coupon_create(
        promotion=welcome, code=COUPON_CODE, usage_limit=10_000, usage_limit_per_customer=1
    )
    made.append(welcome)
    _campaigns(by_slug, now)
    # One that is not live yet, so the banners endpoint has something to leave out.
    services.promotion_create(
        name="Next month: 15% off everything",
        kind=domain.PERCENT_OFF,
        scope=domain.BASKET,
        value=15,
        starts_at=now + timedelta(days=30),
        ends_at=now + timedelta(days=37),
    )
    return [p for p in made if p.starts_at <= now and (p.ends_at is None or p.ends_at > now)]


# The year's campaigns, by the catalog demo's category slugs: (name, slugs, percent off,
# (month, day) or "black-week", days).
CAMPAIGNS = [
    ("January sale: 30% off fashion", ("apparel", "footwear"), 30, (1, 2), 28),
    ("Spring books: 15% off", ("books",), 15, (4, 1), 21),
    ("Summer sale: 25% off fashion", ("apparel", "footwear"), 25, (7, 1), 31),
    ("Back to school: 20% off kids", ("apparel-kids", "footwear-kids"), 20, (8, 20), 21),
    ("Black Week: 20% off electronics", ("electronics",), 20, "black-week", 8),
    ("Advent: 15% off home", ("home",), 15, (12, 1), 24),
]


def _campaigns(by_slug: dict, now) -> None:
    """The past year's seasonal sales (the demo history is priced with them)."""
    for name, slugs, percent, when, days in CAMPAIGNS:
        scope = [by_slug[slug] for slug in slugs if slug in by_slug]
        if not scope:
            continue
        if when == "black-week":
            starts = _black_friday(now) - timedelta(days=4)
        else:
            starts, _ends = _window(now, *when, days)
        services.promotion_create(
            name=name,
            kind=domain.PERCENT_OFF,
            scope=domain.CATEGORIES,
            value=percent,
            categories=scope,
            starts_at=starts,
            ends_at=starts + timedelta(days=days),
            priority=15,
        )
