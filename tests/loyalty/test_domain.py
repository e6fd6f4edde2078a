"""Pure loyalty rules, without a database: points, tiers, limits, FIFO lots."""

from decimal import Decimal

import pytest

from loyalty import domain
from loyalty.domain import EarnLine, NotEnoughPoints, TierRule

TIERS = [
    TierRule("Base", Decimal("0"), Decimal("1")),
    TierRule("Silver", Decimal("500"), Decimal("1.25")),
    TierRule("Gold", Decimal("1500"), Decimal("1.5")),
]


def test_fifo_takes_the_first_lots_first_and_splits_the_last_one():
    assert domain.allocate_fifo([(1, 100), (2, 50), (3, 70)], 120) == [(1, 100), (2, 20)]


def test_fifo_skips_empty_lots_and_takes_nothing_for_zero():
    assert domain.allocate_fifo([(1, 0), (2, 30)], 30) == [(2, 30)]
    assert domain.allocate_fifo([(1, 10)], 0) == []


def test_fifo_refuses_to_take_more_than_the_lots_hold():
    with pytest.raises(NotEnoughPoints):
        domain.allocate_fifo([(1, 10), (2, 5)], 16)


def test_giving_back_returns_the_last_taken_points_first():
    assert domain.restore_lifo([(1, 100), (2, 20)], 50) == [(2, 20), (1, 30)]
    with pytest.raises(NotEnoughPoints):
        domain.restore_lifo([(1, 10)], 11)


def test_earned_points_are_rounded_down_and_scaled_by_the_multiplier():
    assert (
        domain.earned_points(
            eligible=Decimal("99.99"), earn_rate=Decimal("1"), multiplier=Decimal("1")
        )
        == 99
    )
    assert (
        domain.earned_points(
            eligible=Decimal("100.00"), earn_rate=Decimal("0.5"), multiplier=Decimal("1.25")
        )
        == 62
    )
    assert (
        domain.earned_points(eligible=Decimal("0"), earn_rate=Decimal("5"), multiplier=Decimal(2))
        == 0
    )


def test_excluded_variants_and_categories_below_an_excluded_one_earn_nothing():
    ancestors = {10: [10], 11: [11, 10], 12: [12]}  # 11 is a sub-category of 10
    lines = [
        EarnLine(variant_id=1, category_id=12, amount_paid=Decimal("10.00")),
        EarnLine(variant_id=2, category_id=11, amount_paid=Decimal("20.00")),  # under 10
        EarnLine(variant_id=3, category_id=12, amount_paid=Decimal("40.00")),  # excluded variant
        EarnLine(variant_id=None, category_id=None, amount_paid=Decimal("5.50")),
    ]
    amount = domain.eligible_amount(
        lines, excluded_variant_ids={3}, excluded_category_ids={10}, category_ancestors=ancestors
    )
    assert amount == Decimal("15.50")


def test_the_highest_tier_reached_applies_and_the_next_one_is_the_lowest_not_reached():
    assert domain.tier_for_spend(TIERS, Decimal("499.99")).name == "Base"
    assert domain.tier_for_spend(TIERS, Decimal("500")).name == "Silver"
    assert domain.tier_for_spend(TIERS, Decimal("9999")).name == "Gold"
    assert domain.tier_for_spend([], Decimal("9999")) is None
    assert domain.next_tier(TIERS, Decimal("700")).name == "Gold"
    assert domain.next_tier(TIERS, Decimal("1500")) is None


def test_the_redeemable_limit_is_the_max_share_of_the_order_in_whole_points():
    limit = domain.redeemable_limit(
        order_total=Decimal("99.99"),
        max_redeem_percent=Decimal("30"),
        redemption_value=Decimal("0.10"),
    )
    assert limit == 300  # 30 % of 99.99 is 30.00 (rounded), 300 points of 0.10
    assert (
        domain.redeemable_limit(
            order_total=Decimal("10"),
            max_redeem_percent=Decimal("33"),
            redemption_value=Decimal("0.07"),
        )
        == 47  # 3.30 / 0.07 = 47.1
    )
    assert (
        domain.redeemable_limit(
            order_total=Decimal("0"), max_redeem_percent=Decimal("50"), redemption_value=Decimal(1)
        )
        == 0
    )


def test_redeem_value_and_proration_are_money_rounded():
    assert domain.redeem_value(333, redemption_value=Decimal("0.015")) == Decimal("5.00")
    assert domain.prorate(Decimal("100.00"), 1, 3) == Decimal("33.33")
    assert domain.prorate(Decimal("100.00"), 1, 0) == Decimal("0.00")


def test_rules_problems_reports_every_problem_at_once():
    problems = domain.rules_problems(
        earn_rate=Decimal("-1"),
        redemption_value=Decimal("0"),
        max_redeem_percent=Decimal("101"),
        points_lifetime_days=0,
        tiers=[TierRule("Gold", Decimal(1), Decimal(2)), TierRule("gold", Decimal(2), Decimal(2))],
    )
    assert problems == {
        "earn_rate": "must_not_be_negative",
        "redemption_value": "must_be_positive",
        "max_redeem_percent": "must_be_a_percentage",
        "points_lifetime_days": "must_be_at_least_1",
        "tiers": "duplicate_tier_name",
    }
    assert domain.tier_problems(TIERS) == {}
