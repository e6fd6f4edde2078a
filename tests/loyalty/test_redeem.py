"""Redeeming: balance and max-share limits, once per order, FIFO lots, checkout quotes."""

from decimal import Decimal

import pytest

from loyalty.errors import (
    InsufficientPoints,
    InvalidPoints,
    LoyaltyNotConfigured,
    RedemptionConflict,
    RedemptionLimitExceeded,
)
from loyalty.models import EntryKind, LoyaltyEntry
from loyalty.selectors import balance_get, points_redeem_value, points_redeemable_max
from loyalty.services import points_earn, points_redeem, verify
from tests.factories.customers import CustomerFactory
from tests.loyalty.helpers import days_ago, paid

pytestmark = pytest.mark.django_db


def _earn(customer, amount, reference, at=None):
    return points_earn(
        customer=customer, reference=reference, channel="pos", lines=paid(amount), at=at
    )


def test_redeeming_takes_points_from_the_oldest_lots_first(rules, customer):
    old = _earn(customer, "100", "s1", at=days_ago(50))
    new = _earn(customer, "80", "s2", at=days_ago(10))

    entry = points_redeem(
        customer=customer, points=130, reference="order:W-1", order_total=Decimal("100")
    )

    assert entry.points == -130
    assert entry.details["value"] == "13.00"
    old.refresh_from_db()
    new.refresh_from_db()
    assert (old.remaining, new.remaining) == (0, 50)
    assert sorted((a.lot_id, a.points) for a in entry.allocations.all()) == [
        (old.pk, -100),
        (new.pk, -30),
    ]
    assert balance_get(customer=customer) == 50
    assert verify() == []


def test_redeeming_more_than_the_balance_is_refused_and_changes_nothing(rules, customer):
    _earn(customer, "40", "s1")
    with pytest.raises(InsufficientPoints) as exc:
        points_redeem(customer=customer, points=41, reference="order:W-2", order_total=Decimal(100))
    assert (exc.value.code, exc.value.http_status) == ("insufficient_points", 422)
    assert exc.value.details == {"available": 40, "requested": 41}
    assert balance_get(customer=customer) == 40
    assert not LoyaltyEntry.objects.filter(kind=EntryKind.REDEEM).exists()


def test_points_pay_at_most_the_max_share_of_the_order(rules, customer):
    _earn(customer, "1000", "s1")
    # 50 % of 30.00 is 15.00 = 150 points of 0.10
    with pytest.raises(RedemptionLimitExceeded) as exc:
        points_redeem(customer=customer, points=151, reference="o", order_total=Decimal("30"))
    assert exc.value.details["max_points"] == 150
    assert points_redeem(customer=customer, points=150, reference="o", order_total=Decimal("30"))
    assert balance_get(customer=customer) == 850


def test_a_retried_redemption_returns_the_first_and_a_different_one_conflicts(rules, customer):
    _earn(customer, "500", "s1")
    first = points_redeem(customer=customer, points=100, reference="o", order_total=Decimal(300))
    again = points_redeem(customer=customer, points=100, reference="o", order_total=Decimal(300))
    assert again.pk == first.pk
    assert balance_get(customer=customer) == 400
    with pytest.raises(RedemptionConflict) as exc:
        points_redeem(customer=customer, points=50, reference="o", order_total=Decimal(300))
    assert exc.value.http_status == 409
    other = CustomerFactory()
    _earn(other, "500", "s2")
    with pytest.raises(RedemptionConflict):
        points_redeem(customer=other, points=100, reference="o", order_total=Decimal(300))


@pytest.mark.parametrize("points", [0, -5, 1.5, True, "10"])
def test_only_a_positive_whole_number_of_points_can_be_redeemed(rules, customer, points):
    _earn(customer, "100", "s1")
    with pytest.raises(InvalidPoints):
        points_redeem(customer=customer, points=points, reference="o", order_total=Decimal(100))


def test_points_past_their_expiry_cannot_be_spent_even_before_the_expiry_job_ran(rules, customer):
    _earn(customer, "100", "s1", at=days_ago(400))  # expired 35 days ago, job not run
    _earn(customer, "30", "s2", at=days_ago(10))
    assert balance_get(customer=customer) == 130
    assert points_redeemable_max(customer=customer, order_total=Decimal(1000)) == 30

    with pytest.raises(InsufficientPoints):
        points_redeem(customer=customer, points=31, reference="o1", order_total=Decimal(1000))
    points_redeem(customer=customer, points=30, reference="o2", order_total=Decimal(1000))

    assert balance_get(customer=customer) == 0
    assert LoyaltyEntry.objects.filter(kind=EntryKind.EXPIRE).get().points == -100
    assert verify() == []


def test_the_checkout_quote_helpers_give_the_value_and_the_most_points_spendable(rules, customer):
    assert points_redeem_value(points=250) == Decimal("25.00")
    assert points_redeemable_max(customer=customer, order_total=Decimal("100")) == 0
    _earn(customer, "300", "s1")
    assert points_redeemable_max(customer=customer, order_total=Decimal("100")) == 300
    assert points_redeemable_max(customer=customer, order_total=Decimal("40")) == 200


def test_without_rules_nothing_can_be_redeemed(customer):
    assert points_redeem_value(points=100) == Decimal("0.00")
    assert points_redeemable_max(customer=customer, order_total=Decimal(100)) == 0
    with pytest.raises(LoyaltyNotConfigured):
        points_redeem(customer=customer, points=1, reference="o", order_total=Decimal(100))
