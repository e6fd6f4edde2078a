"""The quote's hand-written reads: the same values as the ORM, the same rules, both databases.

`pricing.selectors` reads variants, prices, promotions and coupons with plain SQL for
speed; these tests pin that what it reads is exactly what the ORM would have read
(Decimal exponents included), that category scopes reach every level below their
category, and that time windows and use counts are evaluated at the quoted instant.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from pricing import domain, selectors
from pricing.models import Price, Promotion
from tests.factories.catalog import CategoryFactory, ProductFactory, VariantFactory
from tests.factories.pricing import (
    CouponFactory,
    CouponRedemptionFactory,
    PriceFactory,
    PriceListFactory,
    PromotionFactory,
)

pytestmark = pytest.mark.django_db

D = Decimal


def _line(price: Price, quantity: int = 1) -> dict:
    return {"sku": price.variant.sku, "quantity": quantity}


def test_a_category_promotion_reaches_every_level_below_its_category_and_nothing_else():
    root = CategoryFactory()
    shoes = CategoryFactory(parent=root)
    boots = CategoryFactory(parent=shoes)
    winter_boots = CategoryFactory(parent=boots)
    hats = CategoryFactory(parent=root)
    prices = [
        PriceFactory(amount=D("100.00"), variant__product__category=category)
        for category in (root, shoes, boots, winter_boots, hats)
    ]
    PromotionFactory(scope=Promotion.Scope.CATEGORIES, categories=[shoes], value=D("10"))
    # Listing a category and its own sub-category still discounts each line once.
    PromotionFactory(scope=Promotion.Scope.CATEGORIES, categories=[boots, winter_boots])

    quote = selectors.quote([_line(price) for price in prices])

    totals = [line.line_total for line in quote.lines]
    assert totals == [D("100.00"), D("90.00"), D("81.00"), D("81.00"), D("100.00")]
    assert [len(line.discounts) for line in quote.lines] == [0, 1, 2, 2, 0]


def test_the_rules_read_for_a_quote_hold_the_values_the_orm_reads():
    now = timezone.now()
    parent = CategoryFactory()
    child = CategoryFactory(parent=parent)
    variant = VariantFactory()
    product = ProductFactory()
    by_variant = PromotionFactory(
        kind=Promotion.Kind.AMOUNT_OFF,
        scope=Promotion.Scope.VARIANTS,
        variants=[variant],
        value=D("1.5"),
        priority=3,
    )
    by_product = PromotionFactory(
        kind=Promotion.Kind.BUY_X_GET_Y,
        scope=Promotion.Scope.PRODUCTS,
        products=[product],
        buy_quantity=2,
        get_quantity=1,
        is_stackable=False,
    )
    by_category = PromotionFactory(scope=Promotion.Scope.CATEGORIES, categories=[parent])
    threshold = PromotionFactory(
        kind=Promotion.Kind.BASKET_THRESHOLD, value=D("12.5"), threshold=D("5000"), priority=-1
    )
    gated = CouponFactory(promotion__priority=-2).promotion
    PromotionFactory(is_active=False)
    PromotionFactory(starts_at=now + timedelta(seconds=1))

    rules = selectors.promotion_rules_live(at=now)

    expected = [by_variant, by_product, by_category, threshold, gated]
    assert [rule.id for rule in rules] == [p.pk for p in expected]
    for rule, promotion in zip(rules, expected, strict=True):
        stored = Promotion.objects.get(pk=promotion.pk)  # as the ORM reads it back
        assert repr(rule.value) == repr(stored.value)
        assert repr(rule.threshold) == repr(stored.threshold)
        assert (rule.name, rule.kind, rule.scope) == (stored.name, stored.kind, stored.scope)
        assert (rule.buy_quantity, rule.get_quantity, rule.priority) == (
            stored.buy_quantity,
            stored.get_quantity,
            stored.priority,
        )
        assert rule.stackable is stored.is_stackable
        assert rule.requires_coupon is (promotion == gated)
    assert rules[0].variant_ids == {variant.pk} and not rules[0].product_ids
    assert rules[1].product_ids == {product.pk} and not rules[1].variant_ids
    assert rules[2].category_ids == {parent.pk, child.pk}
    assert not (rules[3].variant_ids or rules[3].product_ids or rules[3].category_ids)


def test_variant_prices_read_for_a_quote_hold_the_values_the_orm_reads():
    now = timezone.now()
    priced = PriceFactory(amount=D("33.33"), variant__vat_rate=D("7.5"))
    PriceFactory(  # an earlier, ended price of the same variant
        variant=priced.variant,
        amount=D("40"),
        valid_from=now - timedelta(days=60),
        valid_until=priced.valid_from,
    )
    unpriced = VariantFactory()
    retired = PriceFactory(variant__product__is_active=False)
    PriceFactory(variant=unpriced, price_list=PriceListFactory(name="Outlet", is_default=False))

    found = {
        v.id: v
        for v in selectors.variants_pricing(
            at=now, skus=[priced.variant.sku, unpriced.sku, retired.variant.sku]
        )
    }

    mine = found[priced.variant.pk]
    stored = Price.objects.select_related("variant", "price_list").get(pk=priced.pk)
    assert repr(mine.price) == repr(stored.amount)
    assert repr(mine.vat_rate) == repr(stored.variant.vat_rate)
    assert (mine.sku, mine.product_id, mine.category_id) == (
        stored.variant.sku,
        stored.variant.product_id,
        stored.variant.product.category_id,
    )
    assert mine.currency == "EUR" and mine.sellable is True
    assert (found[unpriced.pk].price, found[unpriced.pk].currency) == (None, None)
    assert found[retired.variant.pk].sellable is False
    by_id = selectors.variants_pricing(at=now, ids=[priced.variant.pk])
    assert by_id == [mine]
    assert selectors.variants_pricing(at=now, skus=[]) == []


def test_a_promotion_is_live_from_its_start_up_to_but_not_at_its_end():
    price = PriceFactory(amount=D("10.00"))
    start = timezone.now().replace(microsecond=0) - timedelta(hours=1)
    end = start + timedelta(hours=2, microseconds=500)
    PromotionFactory(starts_at=start, ends_at=end)

    def total(at):
        return selectors.quote([_line(price)], at=at).total

    assert total(start - timedelta(microseconds=1)) == D("10.00")
    assert total(start) == D("9.00")
    assert total(end - timedelta(microseconds=1)) == D("9.00")
    assert total(end) == D("10.00")


def test_a_coupon_window_is_checked_at_the_quoted_instant_to_the_microsecond():
    price = PriceFactory()
    start = timezone.now().replace(microsecond=0) + timedelta(days=1)
    coupon = CouponFactory(promotion__starts_at=start, promotion__ends_at=start + timedelta(days=1))

    def reason(at):
        return selectors.quote([_line(price)], coupon=coupon.code.lower(), at=at).coupon["reason"]

    assert reason(start - timedelta(microseconds=1)) == domain.COUPON_NOT_STARTED
    assert reason(start) is None
    assert reason(start + timedelta(days=1)) == domain.COUPON_EXPIRED


def test_coupon_uses_are_counted_live_per_coupon_and_per_customer():
    now = timezone.now()
    coupon = CouponFactory(usage_limit=4, usage_limit_per_customer=2)
    other = CouponFactory()
    CouponRedemptionFactory(coupon=coupon, customer_id=1)
    CouponRedemptionFactory(coupon=coupon, customer_id=1, released_at=now)
    CouponRedemptionFactory(coupon=coupon, customer_id=2)
    CouponRedemptionFactory(coupon=other, customer_id=1)

    assert selectors.coupon_check(code=coupon.code, customer_id=1, at=now).problem is None
    CouponRedemptionFactory(coupon=coupon, customer_id=1)
    limited = selectors.coupon_check(code=coupon.code, customer_id=1, at=now)
    assert limited.problem == domain.COUPON_CUSTOMER_LIMIT
    assert limited.promotion_id == coupon.promotion_id and limited.code == coupon.code
    assert selectors.coupon_check(code=coupon.code, customer_id=3, at=now).problem is None
    CouponRedemptionFactory(coupon=coupon, customer_id=2)
    full = selectors.coupon_check(code=coupon.code, customer_id=3, at=now)
    assert full.problem == domain.COUPON_USAGE_LIMIT
