"""Rules versions (changes apply to new sales only) and tiers by rolling 12-month spend."""

from decimal import Decimal

import pytest

from loyalty.errors import InvalidRules
from loyalty.models import LoyaltyRules
from loyalty.selectors import account_summary, rolling_spend, rules_in_force
from loyalty.services import points_earn, points_reverse, rules_publish
from tests.factories.loyalty import LoyaltyRulesFactory, TierFactory
from tests.loyalty.helpers import days_ago, paid

pytestmark = pytest.mark.django_db


def _publish(**overrides):
    values = {
        "earn_rate": Decimal("2"),
        "redemption_value": Decimal("0.10"),
        "max_redeem_percent": Decimal("50"),
        "points_lifetime_days": 180,
    }
    return rules_publish(**values | overrides)


def test_a_rule_change_does_not_affect_a_sale_made_before_it(customer):
    old = LoyaltyRulesFactory(earn_rate=Decimal("1"), effective_from=days_ago(100))
    new = _publish(earn_rate=Decimal("3"))

    earlier_sale = points_earn(
        customer=customer, reference="order:old", channel="pos", lines=paid("10"), at=days_ago(5)
    )
    later_sale = points_earn(
        customer=customer, reference="order:new", channel="web", lines=paid("10")
    )

    assert (earlier_sale.rules, earlier_sale.points) == (old, 10)
    assert (later_sale.rules, later_sale.points) == (new, 30)
    assert (later_sale.expires_at - later_sale.occurred_at).days == 180
    # The old version itself is untouched.
    old.refresh_from_db()
    assert old.earn_rate == Decimal("1")


def test_a_version_scheduled_for_later_applies_only_from_its_start(rules, customer):
    _publish(earn_rate=Decimal("5"), effective_from=days_ago(-10))
    entry = points_earn(customer=customer, reference="order:1", channel="web", lines=paid("10"))
    assert entry.points == 10
    assert rules_in_force() == rules


def test_a_new_version_cannot_start_in_the_past_but_the_first_one_may():
    first = _publish(effective_from=days_ago(30))
    assert first.effective_from < days_ago(29)
    with pytest.raises(InvalidRules) as exc:
        _publish(effective_from=days_ago(1))
    assert exc.value.details["fields"] == {"effective_from": "must_not_be_in_the_past"}
    assert LoyaltyRules.objects.count() == 1


def test_invalid_rules_are_refused_with_every_problem(rules):
    with pytest.raises(InvalidRules) as exc:
        _publish(
            earn_rate=Decimal("-1"),
            max_redeem_percent=Decimal("120"),
            tiers=[
                {"name": "Gold", "min_spend": "100", "multiplier": "2"},
                {"name": "Silver", "min_spend": "100", "multiplier": "1.5"},
            ],
        )
    assert exc.value.http_status == 400
    assert set(exc.value.details["fields"]) == {"earn_rate", "max_redeem_percent", "tiers"}
    assert LoyaltyRules.objects.count() == 1


def test_tiers_belong_to_their_version_so_a_new_version_leaves_old_tiers_alone(rules):
    TierFactory(rules=rules, name="Gold", min_spend=Decimal("1000"), multiplier=Decimal("2"))
    new = _publish(tiers=[{"name": "Gold", "min_spend": "2000", "multiplier": "1.5"}])
    assert [(t.name, t.min_spend) for t in rules.tiers.all()] == [("Gold", Decimal("1000.00"))]
    assert [(t.name, t.min_spend) for t in new.tiers.all()] == [("Gold", Decimal("2000.00"))]


def test_the_tier_multiplier_applies_once_the_rolling_spend_reaches_the_tier(rules, customer):
    TierFactory(rules=rules, name="Silver", min_spend=Decimal("500"), multiplier=Decimal("1.5"))

    first = points_earn(
        customer=customer, reference="o1", channel="web", lines=paid("400"), at=days_ago(30)
    )
    second = points_earn(
        customer=customer, reference="o2", channel="pos", lines=paid("100"), at=days_ago(20)
    )
    third = points_earn(
        customer=customer, reference="o3", channel="app", lines=paid("100"), at=days_ago(10)
    )

    assert (first.points, second.points) == (400, 100)  # spend before each: 0, then 400
    assert third.points == 150  # spend before it: 500 → Silver ×1.5
    assert third.details["tier"] == "Silver"
    summary = account_summary(customer=customer)
    assert summary["tier"].name == "Silver"
    assert summary["rolling_spend"] == Decimal("600.00")


def test_the_tier_is_lost_when_old_spend_leaves_the_twelve_month_window(rules, customer):
    TierFactory(rules=rules, name="Silver", min_spend=Decimal("500"), multiplier=Decimal("2"))
    points_earn(
        customer=customer, reference="o1", channel="web", lines=paid("600"), at=days_ago(400)
    )
    points_earn(
        customer=customer, reference="o2", channel="web", lines=paid("10"), at=days_ago(370)
    )
    # 30 days after the big sale the customer is Silver…
    in_window = points_earn(
        customer=customer, reference="o3", channel="web", lines=paid("10"), at=days_ago(369)
    )
    assert in_window.points == 20
    # …but a year and more later that sale no longer counts.
    later = points_earn(customer=customer, reference="o4", channel="web", lines=paid("10"))
    assert later.points == 10
    assert account_summary(customer=customer)["tier"] is None


def test_a_refund_lowers_the_spend_of_the_month_of_the_sale(rules, customer):
    TierFactory(rules=rules, name="Silver", min_spend=Decimal("500"), multiplier=Decimal("2"))
    points_earn(
        customer=customer, reference="o1", channel="web", lines=paid("600"), at=days_ago(60)
    )
    assert rolling_spend(account_id=customer.loyalty_account.pk) == Decimal("600.00")

    points_reverse(reference="o1", kind="earn", points=200, cause="return:R-1")

    assert rolling_spend(account_id=customer.loyalty_account.pk) == Decimal("400.00")
    after = points_earn(customer=customer, reference="o2", channel="web", lines=paid("10"))
    assert after.points == 10  # below Silver again
    summary = account_summary(customer=customer)
    assert summary["next_tier"].name == "Silver"
    assert summary["spend_to_next_tier"] == Decimal("90.00")
