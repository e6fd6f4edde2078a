"""The quote engine and pricing rules as pure functions: no database, fast."""

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from pricing import domain
from pricing.domain import BasketItem, CouponCheck, PricePeriod, PromotionRule, allocate

D = Decimal
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def item(sku="A", price="10.00", qty=1, variant=None, product=None, path=(1,), vat="20"):
    number = int("".join(ch for ch in sku if ch.isdigit()) or 0) + ord(sku[0])
    return BasketItem(
        sku=sku,
        variant_id=variant or number,
        product_id=product or number,
        category_path=tuple(path),
        quantity=qty,
        unit_price=D(price),
        vat_rate=D(vat),
    )


def rule(id=1, kind=domain.PERCENT_OFF, scope=domain.BASKET, value="10", **kw):
    for key in ("variant_ids", "product_ids", "category_ids"):
        if key in kw:
            kw[key] = frozenset(kw[key])
    return PromotionRule(
        id=id, name=kw.pop("name", f"P{id}"), kind=kind, scope=scope, value=D(value), **kw
    )


def price(items, rules=(), coupon=None, currency="EUR"):
    return domain.price_basket(items, rules, currency=currency, coupon=coupon, priced_at=T0)


def totals(quote):
    return [str(line.line_total) for line in quote.lines]


# --- every promotion kind -----------------------------------------------------------


def test_percent_off_is_rounded_once_on_the_line_amount():
    quote = price([item(price="33.33", qty=3)], [rule(scope=domain.VARIANTS, variant_ids={65})])
    line = quote.lines[0]
    assert line.subtotal == D("99.99")
    assert line.discounts[0].amount == D("10.00")  # 9.999 rounded once, not 3 × 3.33
    assert line.line_total == D("89.99")
    assert quote.total == D("89.99")


def test_amount_off_takes_the_value_off_each_unit():
    quote = price(
        [item("A", "12.00", qty=3), item("B", "5.00")],
        [rule(kind=domain.AMOUNT_OFF, scope=domain.VARIANTS, value="2.50", variant_ids={65})],
    )
    assert totals(quote) == ["28.50", "5.00"]
    assert quote.lines[0].discounts[0].kind == domain.AMOUNT_OFF


def test_amount_off_never_takes_a_line_below_zero():
    quote = price(
        [item("A", "3.00", qty=2)],
        [rule(kind=domain.AMOUNT_OFF, value="5", scope=domain.PRODUCTS, product_ids={65})],
    )
    assert quote.lines[0].line_total == D("0.00")
    assert quote.lines[0].discount_total == D("6.00")


def test_amount_off_the_whole_basket_is_taken_once_and_split_over_the_lines():
    quote = price(
        [item("A", "10.00"), item("B", "20.00"), item("C", "30.00")],
        [rule(kind=domain.AMOUNT_OFF, scope=domain.BASKET, value="10")],
    )
    assert quote.discount_total == D("10.00")
    assert totals(quote) == ["8.33", "16.67", "25.00"]
    assert sum(line.line_total for line in quote.lines) == quote.total == D("50.00")


def test_fixed_price_sells_each_unit_in_scope_for_the_value():
    quote = price(
        [item("A", "24.99", qty=2), item("B", "24.99")],
        [rule(kind=domain.FIXED_PRICE, scope=domain.VARIANTS, value="19.99", variant_ids={65})],
    )
    assert totals(quote) == ["39.98", "24.99"]
    assert quote.lines[0].discounts[0].amount == D("10.00")


def test_fixed_price_above_the_current_price_changes_nothing():
    quote = price(
        [item("A", "9.00")],
        [rule(kind=domain.FIXED_PRICE, scope=domain.VARIANTS, value="19.99", variant_ids={65})],
    )
    assert quote.lines[0].discounts == ()
    assert quote.total == D("9.00")


def test_buy_two_get_one_gives_the_cheapest_unit_free_across_lines_with_different_prices():
    quote = price(
        [item("A", "30.00"), item("B", "10.00"), item("C", "20.00")],
        [rule(kind=domain.BUY_X_GET_Y, value="0", buy_quantity=2, get_quantity=1)],
    )
    assert totals(quote) == ["30.00", "0.00", "20.00"]
    assert quote.discount_total == D("10.00")


def test_buy_two_get_one_with_six_units_frees_the_two_cheapest_units_of_all():
    quote = price(
        [item("A", "60.00"), item("B", "50.00", qty=2), item("C", "10.00", qty=3)],
        [rule(kind=domain.BUY_X_GET_Y, value="0", buy_quantity=2, get_quantity=1)],
    )
    assert quote.discount_total == D("20.00")
    assert totals(quote) == ["60.00", "100.00", "10.00"]


def test_buy_n_get_m_does_nothing_without_a_full_group():
    quote = price(
        [item("A", "30.00"), item("B", "10.00")],
        [rule(kind=domain.BUY_X_GET_Y, value="0", buy_quantity=2, get_quantity=1)],
    )
    assert quote.discount_total == D("0.00")


def test_buy_n_get_m_on_one_line_frees_part_of_its_units():
    quote = price(
        [item("A", "9.99", qty=7)],
        [rule(kind=domain.BUY_X_GET_Y, value="0", buy_quantity=2, get_quantity=1)],
    )
    assert quote.lines[0].discount_total == D("19.98")  # 2 of 7 units free
    assert quote.total == D("49.95")


def test_basket_threshold_applies_exactly_at_the_threshold():
    quote = price(
        [item("A", "3000.00"), item("B", "2000.00")],
        [rule(kind=domain.BASKET_THRESHOLD, value="10", threshold=D("5000"))],
    )
    assert quote.discount_total == D("500.00")
    assert totals(quote) == ["2700.00", "1800.00"]


def test_basket_threshold_does_not_apply_one_cent_below():
    quote = price(
        [item("A", "3000.00"), item("B", "1999.99")],
        [rule(kind=domain.BASKET_THRESHOLD, value="10", threshold=D("5000"))],
    )
    assert quote.discount_total == D("0.00")


def test_basket_threshold_counts_the_basket_after_earlier_discounts():
    lines = [item("A", "5000.00")]
    earlier = rule(id=1, priority=10, value="10", scope=domain.VARIANTS, variant_ids={65})
    threshold = rule(id=2, kind=domain.BASKET_THRESHOLD, value="10", threshold=D("5000"))
    quote = price(lines, [earlier, threshold])
    assert [d.promotion_id for d in quote.lines[0].discounts] == [1]
    assert quote.total == D("4500.00")


# --- scopes -------------------------------------------------------------------------


def test_category_scope_covers_products_of_every_sub_category():
    shoes = item("A", "50.00", path=(7, 3, 1))  # category 7 under 3 under 1
    hats = item("B", "20.00", path=(9, 1))
    bags = item("C", "30.00", path=(11,))
    quote = price([shoes, hats, bags], [rule(scope=domain.CATEGORIES, category_ids={3})])
    assert totals(quote) == ["45.00", "20.00", "30.00"]
    quote = price([shoes, hats, bags], [rule(scope=domain.CATEGORIES, category_ids={1})])
    assert totals(quote) == ["45.00", "18.00", "30.00"]


def test_product_and_variant_scopes_only_touch_their_items():
    a = item("A", "10.00", variant=1, product=100)
    b = item("B", "10.00", variant=2, product=100)
    c = item("C", "10.00", variant=3, product=200)
    by_product = price([a, b, c], [rule(scope=domain.PRODUCTS, product_ids={100})])
    assert totals(by_product) == ["9.00", "9.00", "10.00"]
    by_variant = price([a, b, c], [rule(scope=domain.VARIANTS, variant_ids={3})])
    assert totals(by_variant) == ["10.00", "10.00", "9.00"]


def test_a_rule_listing_several_categories_of_a_line_discounts_it_once():
    shoes = item("A", "50.00", path=(7, 3, 1))
    quote = price([shoes], [rule(scope=domain.CATEGORIES, category_ids={7, 3, 1})])
    assert [d.amount for d in quote.lines[0].discounts] == [D("5.00")]


def test_the_rule_index_finds_exactly_the_rules_that_cover_each_line():
    rng = random.Random(7)
    scopes = [domain.BASKET, domain.VARIANTS, domain.PRODUCTS, domain.CATEGORIES, "unknown"]
    rules = [
        rule(
            id=n,
            scope=rng.choice(scopes),
            priority=rng.randint(-2, 2),
            variant_ids=rng.sample(range(10), 3),
            product_ids=rng.sample(range(10), 3),
            category_ids=rng.sample(range(10), 3),
        )
        for n in range(1, 30)
    ]
    index = domain.rule_index(rules)
    assert list(index.rules) == sorted(rules, key=lambda r: (-r.priority, r.id))
    for _basket in range(200):
        line = item(
            variant=rng.randrange(1, 10),
            product=rng.randrange(1, 10),
            path=rng.sample(range(10), rng.randint(0, 3)),
        )
        found = sorted([*index.basket, *index.positions(line)])
        assert found == [i for i, r in enumerate(index.rules) if r.covers(line)]


# --- priority and stacking ----------------------------------------------------------


def test_higher_priority_applies_first_and_the_next_works_on_what_is_left():
    first = rule(
        id=2,
        priority=10,
        kind=domain.AMOUNT_OFF,
        value="10",
        scope=domain.VARIANTS,
        variant_ids={65},
    )
    second = rule(id=1, priority=0, value="50")
    quote = price([item("A", "30.00")], [second, first])
    assert [d.promotion_id for d in quote.lines[0].discounts] == [2, 1]
    assert [d.amount for d in quote.lines[0].discounts] == [D("10.00"), D("10.00")]
    assert quote.total == D("10.00")


def test_stacking_percentages_compound():
    quote = price([item("A", "100.00")], [rule(id=1, value="10"), rule(id=2, value="10")])
    assert quote.total == D("81.00")


def test_a_non_stacking_promotion_skips_lines_that_already_have_a_discount():
    high = rule(id=1, priority=10, value="10", scope=domain.VARIANTS, variant_ids={65})
    exclusive = rule(id=2, priority=0, value="30", stackable=False)
    quote = price([item("A", "10.00"), item("B", "10.00")], [high, exclusive])
    assert [[d.promotion_id for d in line.discounts] for line in quote.lines] == [[1], [2]]
    assert totals(quote) == ["9.00", "7.00"]


def test_a_line_taken_by_a_non_stacking_promotion_takes_no_other():
    exclusive = rule(
        id=1, priority=10, value="30", stackable=False, scope=domain.VARIANTS, variant_ids={65}
    )
    later = rule(id=2, priority=0, value="10")
    quote = price([item("A", "10.00"), item("B", "10.00")], [exclusive, later])
    assert [[d.promotion_id for d in line.discounts] for line in quote.lines] == [[1], [2]]


def test_between_two_non_stacking_promotions_the_higher_priority_wins():
    low = rule(id=1, priority=0, value="50", stackable=False)
    high = rule(id=2, priority=5, value="20", stackable=False)
    quote = price([item("A", "10.00")], [low, high])
    assert [d.promotion_id for d in quote.lines[0].discounts] == [2]
    assert quote.total == D("8.00")


def test_equal_priorities_apply_in_id_order_whatever_order_they_come_in():
    rules = [
        rule(id=3, kind=domain.AMOUNT_OFF, value="1", scope=domain.BASKET),
        rule(id=1, value="10"),
        rule(id=2, value="5", stackable=False),
    ]
    quotes = {price([item("A", "19.99", qty=3)], order) for order in (rules, rules[::-1])}
    assert len(quotes) == 1
    assert [d.promotion_id for d in next(iter(quotes)).lines[0].discounts] == [1, 3]


# --- coupons ------------------------------------------------------------------------


def test_a_coupon_promotion_applies_only_with_its_code():
    gated = rule(id=5, value="10", requires_coupon=True)
    without = price([item("A", "10.00")], [gated])
    assert without.total == D("10.00") and without.coupon is None
    with_code = price([item("A", "10.00")], [gated], coupon=CouponCheck("SAVE", 5))
    assert with_code.total == D("9.00")
    assert dict(with_code.coupon) == {"code": "SAVE", "status": "applied", "reason": None}


def test_a_coupon_that_cannot_be_used_reports_why_and_unlocks_nothing():
    gated = rule(id=5, value="10", requires_coupon=True)
    quote = price([item("A", "10.00")], [gated], coupon=CouponCheck("SAVE", 5, "expired"))
    assert quote.total == D("10.00")
    assert dict(quote.coupon) == {"code": "SAVE", "status": "not_applicable", "reason": "expired"}


@pytest.mark.parametrize(
    ("gated", "reason"),
    [
        (
            rule(id=5, scope=domain.VARIANTS, variant_ids={999}, requires_coupon=True),
            "not_in_basket",
        ),
        (
            rule(id=5, kind=domain.BASKET_THRESHOLD, threshold=D("100"), requires_coupon=True),
            "conditions_not_met",
        ),
        (rule(id=5, value="10", stackable=False, requires_coupon=True), "not_combinable"),
    ],
)
def test_a_valid_coupon_whose_promotion_does_not_apply_says_why(gated, reason):
    other = rule(id=1, priority=10, value="5")
    quote = price([item("A", "10.00")], [other, gated], coupon=CouponCheck("SAVE", 5))
    assert quote.coupon["status"] == "not_applicable"
    assert quote.coupon["reason"] == reason


NOW = T0


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({}, None),
        ({"coupon_active": False}, "inactive"),
        ({"promotion_active": False}, "inactive"),
        ({"starts_at": NOW + timedelta(seconds=1)}, "not_started"),
        ({"starts_at": NOW}, None),
        ({"ends_at": NOW}, "expired"),
        ({"ends_at": NOW + timedelta(microseconds=1)}, None),
        ({"usage_limit": 3, "used": 3}, "usage_limit_reached"),
        ({"usage_limit": 3, "used": 2}, None),
        ({"usage_limit_per_customer": 1, "customer_id": None}, "customer_required"),
        ({"usage_limit_per_customer": 1, "used_by_customer": 1}, "customer_limit_reached"),
        ({"usage_limit_per_customer": 2, "used_by_customer": 1}, None),
    ],
)
def test_coupon_problem_checks_activity_window_and_limits(overrides, problem):
    args = dict(
        at=NOW,
        coupon_active=True,
        promotion_active=True,
        starts_at=NOW - timedelta(days=1),
        ends_at=None,
        usage_limit=None,
        used=0,
        usage_limit_per_customer=None,
        used_by_customer=0,
        customer_id=7,
    )
    assert domain.coupon_problem(**(args | overrides)) == problem


def test_coupon_codes_are_normalised_to_upper_case_without_spaces():
    assert domain.coupon_code_normalize("  welcome10 ") == "WELCOME10"


# --- VAT and rounding ---------------------------------------------------------------


def test_vat_is_included_and_rounded_once_per_rate_then_split_over_its_lines():
    quote = price(
        [
            item("A", "0.10", vat="20"),
            item("B", "0.10", vat="20"),
            item("C", "0.10", vat="20"),
            item("D", "10.00", vat="7"),
        ]
    )
    by_rate = {v.rate: v for v in quote.vat}
    assert by_rate[D("20")].gross == D("0.30")
    assert by_rate[D("20")].amount == D("0.05")  # 0.30 × 20/120, not 3 × 0.02
    assert by_rate[D("20")].base == D("0.25")
    assert [line.vat_amount for line in quote.lines[:3]] == [D("0.02"), D("0.02"), D("0.01")]
    assert by_rate[D("7")].amount == D("0.65")
    assert sum(v.gross for v in quote.vat) == quote.total


@pytest.mark.parametrize(
    ("total", "weights", "expected"),
    [
        ("10.00", ["10.00", "20.00", "30.00"], ["1.67", "3.33", "5.00"]),
        ("0.02", ["1.00", "1.00", "1.00"], ["0.01", "0.01", "0.00"]),
        ("0.01", ["5.00", "5.00"], ["0.01", "0.00"]),
        ("10.00", ["33.33", "33.33", "33.33"], ["3.34", "3.33", "3.33"]),
        ("5.00", ["0.00", "5.00"], ["0.00", "5.00"]),
        ("1.00", ["0.00", "0.00"], ["0.00", "0.00"]),
    ],
)
def test_allocate_splits_exactly_with_ties_to_the_earlier_weight(total, weights, expected):
    shares = allocate(D(total), [D(w) for w in weights], "EUR")
    assert [str(s) for s in shares] == expected
    if any(D(w) for w in weights):
        assert sum(shares) == D(total)


ROUNDING_TABLE = [
    # (name, items, rules, expected line totals, expected total)
    (
        "3 x 33.33 with 10% off the line",
        [item("A", "33.33", qty=3)],
        [rule(scope=domain.VARIANTS, variant_ids={65})],
        ["89.99"],
        "89.99",
    ),
    (
        "three lines of 33.33 with 10% off the basket",
        [item("A", "33.33"), item("B", "33.33"), item("C", "33.33")],
        [rule(scope=domain.BASKET)],
        ["29.99", "30.00", "30.00"],
        "89.99",
    ),
    (
        "buy 2 get 1 with different prices",
        [item("A", "19.99"), item("B", "7.49"), item("C", "12.50")],
        [rule(kind=domain.BUY_X_GET_Y, value="0", buy_quantity=2, get_quantity=1)],
        ["19.99", "0.00", "12.50"],
        "32.49",
    ),
    (
        "buy 2 get 1 after 15% off leaves odd unit amounts",
        [item("A", "9.99", qty=2), item("B", "4.99")],
        [
            rule(id=1, priority=5, value="15"),
            rule(id=2, kind=domain.BUY_X_GET_Y, value="0", buy_quantity=2, get_quantity=1),
        ],
        ["16.98", "0.00"],
        "16.98",
    ),
    (
        "basket threshold exactly at the limit",
        [item("A", "2500.00"), item("B", "1666.67"), item("C", "833.33")],
        [rule(kind=domain.BASKET_THRESHOLD, value="10", threshold=D("5000.00"))],
        ["2250.00", "1500.00", "750.00"],
        "4500.00",
    ),
    (
        "10% of a tiny basket is rounded once and the cent goes to the first line",
        [item("A", "0.05"), item("B", "0.05")],
        [rule(value="10")],
        ["0.04", "0.05"],
        "0.09",
    ),
    (
        "half a cent rounds half up",
        [item("A", "0.05")],
        [rule(scope=domain.VARIANTS, variant_ids={65})],
        ["0.04"],
        "0.04",
    ),
]


@pytest.mark.parametrize(
    ("name", "items", "rules", "expected", "total"),
    ROUNDING_TABLE,
    ids=[c[0] for c in ROUNDING_TABLE],
)
def test_rounding_table(name, items, rules, expected, total):
    quote = price(items, rules)
    assert totals(quote) == expected
    assert quote.total == D(total)
    assert sum(line.line_total for line in quote.lines) == quote.total


def test_a_currency_without_minor_units_rounds_to_whole_amounts():
    quote = price([item("A", "999", qty=1)], [rule(value="15")], currency="JPY")
    assert quote.total == D("849")
    assert str(quote.total) == "849"


def test_line_totals_add_up_to_the_basket_total_for_many_random_baskets():
    rng = random.Random(20250301)
    kinds = [
        domain.PERCENT_OFF,
        domain.AMOUNT_OFF,
        domain.FIXED_PRICE,
        domain.BUY_X_GET_Y,
        domain.BASKET_THRESHOLD,
    ]
    for _basket in range(300):
        items = [
            item(
                f"S{i}",
                str(D(rng.randint(1, 50_000)) / 100),
                qty=rng.randint(1, 7),
                variant=i + 1,
                product=i % 4 + 1,
                path=(i % 3 + 10, 1),
                vat=rng.choice(["0", "7", "10", "20", "21"]),
            )
            for i in range(rng.randint(1, 12))
        ]
        rules = []
        for pid in range(rng.randint(0, 6)):
            kind = rng.choice(kinds)
            scope = (
                domain.BASKET
                if kind == domain.BASKET_THRESHOLD
                else rng.choice([domain.BASKET, domain.PRODUCTS, domain.CATEGORIES])
            )
            if kind == domain.FIXED_PRICE and scope == domain.BASKET:
                scope = domain.PRODUCTS
            rules.append(
                rule(
                    id=pid + 1,
                    kind=kind,
                    scope=scope,
                    value=str(rng.randint(1, 60)),
                    buy_quantity=rng.randint(1, 3),
                    get_quantity=rng.randint(1, 2),
                    threshold=D(rng.randint(1, 2000)),
                    priority=rng.randint(-2, 2),
                    stackable=rng.random() < 0.7,
                    product_ids={rng.randint(1, 4)},
                    category_ids={rng.choice([1, 10, 11, 12])},
                )
            )
        quote = price(items, rules)
        assert sum(line.line_total for line in quote.lines) == quote.total
        assert quote.subtotal - quote.discount_total == quote.total
        assert sum(v.gross for v in quote.vat) == quote.total
        assert sum(line.vat_amount for line in quote.lines) == sum(v.amount for v in quote.vat)
        for line in quote.lines:
            assert D("0") <= line.line_total <= line.subtotal
            assert line.discount_total == sum((d.amount for d in line.discounts), D("0"))
            assert line.line_total.as_tuple().exponent == -2


def test_the_same_input_gives_the_same_quote():
    items = [item("A", "19.99", qty=2), item("B", "5.55", qty=3)]
    rules = [
        rule(id=1, value="12.5"),
        rule(id=2, kind=domain.BUY_X_GET_Y, value="0", buy_quantity=1, get_quantity=1),
    ]
    assert price(items, rules).as_dict() == price(items, list(reversed(rules))).as_dict()


def test_as_dict_gives_money_as_decimal_strings_with_the_currency():
    data = price([item("A", "33.33", qty=3)], [rule()]).as_dict()
    assert data["currency"] == "EUR"
    assert data["total"] == "89.99"
    assert data["lines"][0]["unit_price"] == "33.33"
    assert data["lines"][0]["discounts"][0]["amount"] == "10.00"
    assert data["lines"][0]["vat_rate"] == "20.00"
    assert data["vat"] == [{"rate": "20.00", "base": "74.99", "amount": "15.00", "gross": "89.99"}]
    assert data["priced_at"] == T0.isoformat()


# --- promotion settings -------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"kind": domain.PERCENT_OFF, "value": D("0")}, "value"),
        ({"kind": domain.PERCENT_OFF, "value": D("101")}, "value"),
        ({"kind": domain.AMOUNT_OFF, "value": D("0")}, "value"),
        ({"kind": domain.FIXED_PRICE, "scope": domain.BASKET, "value": D("5")}, "scope"),
        ({"kind": domain.BUY_X_GET_Y, "buy_quantity": 0, "get_quantity": 1}, "buy_quantity"),
        ({"kind": domain.BASKET_THRESHOLD, "value": D("10"), "threshold": D("0")}, "threshold"),
        ({"ends_at": T0 - timedelta(days=1)}, "ends_at"),
        ({"scope": domain.CATEGORIES, "scope_size": 0}, "categories"),
    ],
)
def test_promotion_problems_name_the_field_at_fault(settings, field):
    args = dict(
        kind=domain.PERCENT_OFF,
        scope=domain.BASKET,
        value=D("10"),
        buy_quantity=0,
        get_quantity=0,
        threshold=D("0"),
        starts_at=T0,
        ends_at=None,
    )
    assert field in domain.promotion_problems(**(args | settings))


def test_a_sound_promotion_has_no_problems():
    assert not domain.promotion_problems(
        kind=domain.BUY_X_GET_Y,
        scope=domain.CATEGORIES,
        value=D("0"),
        buy_quantity=2,
        get_quantity=1,
        threshold=D("0"),
        starts_at=T0,
        ends_at=T0 + timedelta(days=1),
        scope_size=3,
    )


# --- price periods ------------------------------------------------------------------


def period(start_day, end_day=None, amount="10.00", variant=1, price_id=None):
    return PricePeriod(
        price_list_id=1,
        variant_id=variant,
        amount=D(amount),
        valid_from=T0 + timedelta(days=start_day),
        valid_until=T0 + timedelta(days=end_day) if end_day is not None else None,
        price_id=price_id,
    )


def test_adjacent_periods_do_not_overlap():
    plan = domain.plan_prices([period(0, 10, price_id=1)], [period(10)], now=T0)
    assert plan.ok and len(plan.creates) == 1


def test_an_overlap_with_a_stored_price_is_an_error_on_the_row():
    plan = domain.plan_prices([period(0, 10, price_id=1)], [period(9, 20)], now=T0)
    assert not plan.ok
    assert domain.PRICE_OVERLAP in plan.codes
    assert "Overlaps" in plan.errors[0][0]


def test_rows_that_overlap_each_other_are_both_reported():
    plan = domain.plan_prices(
        [], [period(0, 10), period(5, 15), period(20), period(30, 40, variant=2)], now=T0
    )
    assert sorted(plan.errors) == [0, 1]


def test_a_new_price_after_an_open_ended_one_ends_it_when_scheduling():
    stored = [period(-10, price_id=1)]
    strict = domain.plan_prices(stored, [period(5)], now=T0)
    assert not strict.ok
    plan = domain.plan_prices(stored, [period(5)], now=T0, close_open_ended=True)
    assert plan.ok
    assert plan.closures == {1: T0 + timedelta(days=5)}


def test_scheduling_in_a_file_chains_open_ended_rows():
    plan = domain.plan_prices([], [period(0), period(5), period(9)], now=T0, close_open_ended=True)
    assert plan.ok
    assert [p.valid_until for p in plan.creates] == [
        T0 + timedelta(days=5),
        T0 + timedelta(days=9),
        None,
    ]


def test_scheduling_cannot_end_a_running_price_in_the_past():
    plan = domain.plan_prices(
        [period(-10, price_id=1)], [period(-2)], now=T0, close_open_ended=True
    )
    assert domain.PRICE_HISTORY in plan.codes


def test_a_price_in_effect_may_only_get_a_new_end_not_in_the_past():
    stored = [period(-10, price_id=1)]
    new_amount = domain.plan_prices(stored, [period(-10, amount="12.00", price_id=1)], now=T0)
    assert domain.PRICE_HISTORY in new_amount.codes
    end_in_past = domain.plan_prices(stored, [period(-10, -1, price_id=1)], now=T0)
    assert domain.PRICE_HISTORY in end_in_past.codes
    end_later = domain.plan_prices(stored, [period(-10, 3, price_id=1)], now=T0)
    assert end_later.ok and end_later.updates[0].valid_until == T0 + timedelta(days=3)


def test_a_scheduled_price_may_change_freely():
    plan = domain.plan_prices(
        [period(3, price_id=1)], [period(4, amount="9.00", price_id=1)], now=T0
    )
    assert plan.ok


def test_an_empty_or_negative_row_is_invalid():
    plan = domain.plan_prices([], [period(5, 5), period(0, amount="-1")], now=T0)
    assert sorted(plan.errors) == [0, 1]
    assert plan.codes == {domain.PRICE_INVALID}


def test_the_rule_index_gives_a_listing_exactly_the_rules_that_cover_a_line_in_their_order():
    rng = random.Random(14)
    rules = []
    for n in range(1, 41):
        scope = rng.choice(domain.SCOPES)
        members = {rng.randint(1, 12) for _ in range(rng.randint(0, 4))}
        rules.append(
            rule(
                id=n,
                scope=scope,
                priority=rng.randint(0, 5),
                variant_ids=members if scope == domain.VARIANTS else (),
                product_ids=members if scope == domain.PRODUCTS else (),
                category_ids=members if scope == domain.CATEGORIES else (),
            )
        )
    rules.sort(key=lambda r: (-r.priority, r.id))
    index = domain.rule_index(reversed(rules))

    for variant in range(1, 13):
        for product in range(1, 13):
            for category in range(1, 13):
                line = item(variant=variant, product=product, path=(category,))
                assert index.covering(line) == tuple(r for r in rules if r.covers(line))
