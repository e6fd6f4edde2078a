"""`pricing.selectors.quote` against the database: loading, errors, coupons, query counts."""

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from pricing import selectors
from pricing.errors import (
    CouponNotFound,
    InvalidQuantity,
    NoPrice,
    UnknownSku,
    VariantInactive,
)
from pricing.models import Promotion
from tests.factories.catalog import CategoryFactory, ProductFactory, VariantFactory
from tests.factories.pricing import (
    CouponFactory,
    CouponRedemptionFactory,
    PriceFactory,
    PromotionFactory,
)

pytestmark = pytest.mark.django_db

D = Decimal


@dataclass
class Line:
    sku: str
    quantity: int


def test_a_quote_prices_lines_given_as_objects_or_dicts_in_their_order():
    a = PriceFactory(amount=D("19.99"))
    b = PriceFactory(amount=D("5.00"))
    quote = selectors.quote([Line(b.variant.sku, 2), {"sku": a.variant.sku, "quantity": 1}])
    assert [(line.sku, line.quantity, line.line_total) for line in quote.lines] == [
        (b.variant.sku, 2, D("10.00")),
        (a.variant.sku, 1, D("19.99")),
    ]
    assert quote.total == D("29.99") and quote.currency == "EUR"
    assert quote.lines[0].variant_id == b.variant_id
    assert quote.lines[0].product_id == b.variant.product_id


def test_promotions_from_the_database_apply_with_their_scopes():
    parent = CategoryFactory()
    child = CategoryFactory(parent=parent)
    shoe = PriceFactory(amount=D("100.00"), variant__product__category=child)
    hat = PriceFactory(amount=D("20.00"))
    PromotionFactory(scope=Promotion.Scope.CATEGORIES, categories=[parent], value=D("25"))
    PromotionFactory(
        kind=Promotion.Kind.AMOUNT_OFF,
        scope=Promotion.Scope.VARIANTS,
        variants=[hat.variant],
        value=D("2"),
    )
    PromotionFactory(
        scope=Promotion.Scope.PRODUCTS,
        products=[hat.variant.product],
        value=D("50"),
        starts_at=timezone.now() + timedelta(days=1),  # not live yet
    )
    quote = selectors.quote(
        [{"sku": shoe.variant.sku, "quantity": 1}, {"sku": hat.variant.sku, "quantity": 1}]
    )
    assert [line.line_total for line in quote.lines] == [D("75.00"), D("18.00")]
    assert quote.lines[0].discounts[0].promotion_name.startswith("Promotion")


def test_an_ended_or_inactive_promotion_does_not_apply():
    price = PriceFactory(amount=D("10.00"))
    now = timezone.now()
    PromotionFactory(starts_at=now - timedelta(days=5), ends_at=now)
    PromotionFactory(is_active=False)
    quote = selectors.quote([{"sku": price.variant.sku, "quantity": 1}], at=now)
    assert quote.total == D("10.00")


@pytest.mark.parametrize("quantity", [0, -1, 10_001, "2", 1.5, True, None])
def test_a_quantity_that_is_not_a_whole_number_from_1_to_10000_is_refused(quantity):
    price = PriceFactory()
    with pytest.raises(InvalidQuantity) as error:
        selectors.quote(
            [{"sku": price.variant.sku, "quantity": 1}, {"sku": "NOPE", "quantity": quantity}]
        )
    assert error.value.http_status == 400
    assert [line["index"] for line in error.value.details["lines"]] == [1]


def test_every_bad_line_is_reported_at_once_under_the_first_error_kind():
    good = PriceFactory()
    inactive = PriceFactory(variant__is_active=False)
    retired_product = PriceFactory(variant__product__is_active=False)
    unpriced = VariantFactory()
    lines = [
        {"sku": good.variant.sku, "quantity": 1},
        {"sku": unpriced.sku, "quantity": 1},
        {"sku": inactive.variant.sku, "quantity": 1},
        {"sku": "NO-SUCH-SKU", "quantity": 1},
        {"sku": retired_product.variant.sku, "quantity": 1},
    ]
    with pytest.raises(UnknownSku) as error:
        selectors.quote(lines)
    assert error.value.code == "unknown_sku" and error.value.http_status == 422
    assert error.value.details["lines"] == [
        {"index": 1, "sku": unpriced.sku, "code": "no_price"},
        {"index": 2, "sku": inactive.variant.sku, "code": "variant_inactive"},
        {"index": 3, "sku": "NO-SUCH-SKU", "code": "unknown_sku"},
        {"index": 4, "sku": retired_product.variant.sku, "code": "variant_inactive"},
    ]
    with pytest.raises(VariantInactive):
        selectors.quote([lines[1], lines[2]])
    with pytest.raises(NoPrice):
        selectors.quote([lines[1]])


def test_a_coupon_code_matches_in_any_case_and_unlocks_its_promotion():
    price = PriceFactory(amount=D("50.00"))
    coupon = CouponFactory(code="SPRING15", promotion__value=D("15"))
    line = {"sku": price.variant.sku, "quantity": 1}
    assert selectors.quote([line]).total == D("50.00")
    quote = selectors.quote([line], coupon="  spring15 ")
    assert quote.total == D("42.50")
    assert dict(quote.coupon) == {"code": coupon.code, "status": "applied", "reason": None}
    assert quote.lines[0].discounts[0].promotion_id == coupon.promotion_id


def test_an_unknown_coupon_code_is_an_error_but_a_blank_one_means_no_coupon():
    price = PriceFactory()
    line = {"sku": price.variant.sku, "quantity": 1}
    with pytest.raises(CouponNotFound) as error:
        selectors.quote([line], coupon="NOPE-123")
    assert error.value.http_status == 422 and error.value.details == {"coupon": "NOPE-123"}
    assert selectors.quote([line], coupon="  ").coupon is None


def test_a_used_up_coupon_is_reported_not_applicable_with_the_reason():
    price = PriceFactory(amount=D("50.00"))
    coupon = CouponFactory(usage_limit=2, usage_limit_per_customer=1)
    line = {"sku": price.variant.sku, "quantity": 1}
    CouponRedemptionFactory(coupon=coupon, customer_id=7)
    mine = selectors.quote([line], coupon=coupon.code, customer=7)
    assert mine.coupon["reason"] == "customer_limit_reached" and mine.total == D("50.00")
    assert selectors.quote([line], coupon=coupon.code, customer=8).coupon["status"] == "applied"
    assert selectors.quote([line], coupon=coupon.code).coupon["reason"] == "customer_required"
    CouponRedemptionFactory(coupon=coupon, customer_id=9)
    full = selectors.quote([line], coupon=coupon.code, customer=8)
    assert full.coupon["reason"] == "usage_limit_reached"
    # A given-back use does not count.
    coupon.redemptions.filter(customer_id=9).update(released_at=timezone.now())
    assert selectors.quote([line], coupon=coupon.code, customer=8).coupon["status"] == "applied"


def test_the_customer_may_be_an_id_or_an_object_with_a_pk():
    @dataclass
    class Someone:
        pk: int

    price = PriceFactory()
    coupon = CouponFactory(usage_limit_per_customer=1)
    CouponRedemptionFactory(coupon=coupon, customer_id=42)
    line = {"sku": price.variant.sku, "quantity": 1}
    for customer in (42, Someone(42)):
        quote = selectors.quote([line], coupon=coupon.code, customer=customer)
        assert quote.coupon["reason"] == "customer_limit_reached"


def test_a_coupon_outside_its_promotion_window_says_so():
    price = PriceFactory()
    now = timezone.now()
    early = CouponFactory(promotion__starts_at=now + timedelta(days=1))
    late = CouponFactory(promotion__starts_at=now - timedelta(days=9), promotion__ends_at=now)
    off = CouponFactory(is_active=False)
    line = {"sku": price.variant.sku, "quantity": 1}
    reasons = [
        selectors.quote([line], coupon=c.code, at=now).coupon["reason"] for c in (early, late, off)
    ]
    assert reasons == ["not_started", "expired", "inactive"]


def test_the_same_basket_at_the_same_instant_gives_the_same_quote():
    price = PriceFactory(amount=D("33.33"))
    PromotionFactory()
    at = timezone.now()
    lines = [{"sku": price.variant.sku, "quantity": 3}]
    assert selectors.quote(lines, at=at).as_dict() == selectors.quote(lines, at=at).as_dict()
    assert selectors.quote(lines, at=at).priced_at == at


def _basket(size: int) -> list[dict]:
    root = CategoryFactory()
    child = CategoryFactory(parent=root)
    prices = [PriceFactory(variant__product__category=child) for _ in range(size)]
    PromotionFactory(scope=Promotion.Scope.CATEGORIES, categories=[root])
    PromotionFactory(scope=Promotion.Scope.VARIANTS, variants=[p.variant for p in prices[:3]])
    PromotionFactory(scope=Promotion.Scope.PRODUCTS, products=[prices[0].variant.product])
    PromotionFactory(kind=Promotion.Kind.BUY_X_GET_Y, buy_quantity=2, get_quantity=1)
    CouponFactory(code=f"BASKET{size}")
    return [{"sku": p.variant.sku, "quantity": 2} for p in prices]


def _queries(lines, coupon) -> list[str]:
    with CaptureQueriesContext(connection) as ctx:
        selectors.quote(lines, coupon=coupon, customer=5)
    return [q["sql"] for q in ctx.captured_queries]


def test_a_quote_costs_the_same_queries_for_10_or_50_lines_and_writes_nothing():
    # One statement: the variants with prices, the rules revision and the coupon with its
    # uses; after a pricing write (here: the basket's promotions), a second one reads the
    # promotions with their (category-expanded) scopes.
    small = _queries(_basket(10), "BASKET10")
    lines = _basket(50)
    large = _queries(lines, "BASKET50")
    assert len(small) == len(large) == 2
    assert len(_queries(lines, "basket50")) == 1  # the rules unchanged since
    for sql in small + large:
        words = sql.upper().split()
        assert words[0].lstrip("(") in ("SELECT", "WITH"), sql
        assert not {"INSERT", "UPDATE", "DELETE"} & set(words), sql


def test_a_product_without_a_category_path_entry_still_prices():
    # Category-scoped promotions read the tree; products of other categories are unaffected.
    price = PriceFactory(amount=D("10.00"), variant__product=ProductFactory())
    PromotionFactory(scope=Promotion.Scope.CATEGORIES, categories=[CategoryFactory()])
    assert selectors.quote([{"sku": price.variant.sku, "quantity": 1}]).total == D("10.00")
