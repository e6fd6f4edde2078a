"""Reversals: cancellations give redeemed points back, returns take earned points back."""

from decimal import Decimal

import pytest

from core.errors import ValidationFailed
from loyalty.errors import AmbiguousReversal
from loyalty.models import EntryKind, LoyaltyEntry
from loyalty.selectors import balance_get
from loyalty.services import (
    points_earn,
    points_expire_due,
    points_redeem,
    points_reverse,
    verify,
)
from tests.loyalty.helpers import days_ago, paid

pytestmark = pytest.mark.django_db


def _earn(customer, amount, reference, at=None):
    return points_earn(
        customer=customer, reference=reference, channel="web", lines=paid(amount), at=at
    )


def test_cancelling_an_order_gives_its_points_back_once(rules, customer):
    _earn(customer, "200", "s1")
    points_redeem(customer=customer, points=150, reference="order:W-1", order_total=Decimal(400))

    [entry] = points_reverse(reference="order:W-1", reason="cancelled")

    assert (entry.kind, entry.points, entry.reverses.kind) == ("reverse", 150, "redeem")
    assert entry.reference == "order:W-1"
    assert balance_get(customer=customer) == 200
    assert points_reverse(reference="order:W-1") == []  # already fully reversed
    assert balance_get(customer=customer) == 200
    assert verify() == []


def test_a_return_takes_back_part_of_an_earn_but_never_more_than_was_earned(rules, customer):
    _earn(customer, "100", "order:W-2")

    [first] = points_reverse(reference="order:W-2", kind="earn", points=30, cause="return:R-1")
    assert (first.points, first.reversed_points, first.amount_paid) == (-30, 30, Decimal("-30.00"))
    assert first.reference == "return:R-1"
    # A retry of the same return changes nothing.
    assert points_reverse(reference="order:W-2", kind="earn", points=30, cause="return:R-1") == [
        first
    ]
    # A second return asks for more than is left: only what is left is taken back.
    [second] = points_reverse(reference="order:W-2", kind="earn", points=500, cause="return:R-2")
    assert second.points == -70
    assert balance_get(customer=customer) == 0
    assert points_reverse(reference="order:W-2", kind="earn") == []
    assert verify() == []


def test_taking_back_points_already_spent_records_a_shortfall_instead_of_going_negative(
    rules, customer
):
    _earn(customer, "100", "order:W-3")
    points_redeem(customer=customer, points=50, reference="order:W-4", order_total=Decimal(500))

    [entry] = points_reverse(reference="order:W-3", kind="earn")

    assert entry.points == -50
    assert entry.reversed_points == 100
    assert entry.details == {"shortfall": 50}
    assert balance_get(customer=customer) == 0
    assert points_reverse(reference="order:W-3", kind="earn") == []
    assert verify() == []


def test_an_earns_reversal_takes_from_that_earn_before_older_lots(rules, customer):
    older = _earn(customer, "50", "s-old", at=days_ago(100))
    newer = _earn(customer, "40", "s-new", at=days_ago(5))

    points_reverse(reference="s-new", kind="earn")

    older.refresh_from_db()
    newer.refresh_from_db()
    assert (older.remaining, newer.remaining) == (50, 0)


def test_given_back_points_keep_the_expiry_of_the_lots_they_came_from(rules, customer):
    old = _earn(customer, "100", "s1", at=days_ago(300))  # expires in 65 days
    young = _earn(customer, "100", "s2", at=days_ago(10))  # expires in 355 days
    points_redeem(customer=customer, points=150, reference="order:W-5", order_total=Decimal(400))

    points_reverse(reference="order:W-5", kind="redeem", points=60, cause="return:R-3")

    old.refresh_from_db()
    young.refresh_from_db()
    # FIFO took 100 from the old lot and 50 from the young one; the last taken come back first.
    assert (old.remaining, young.remaining) == (10, 100)
    assert points_expire_due(at=days_ago(-70)) == 10
    assert balance_get(customer=customer) == 100
    # The rest of the redemption can still be given back, and no more.
    [rest] = points_reverse(reference="order:W-5", kind="redeem")
    assert rest.points == 90
    assert points_reverse(reference="order:W-5", kind="redeem") == []
    assert balance_get(customer=customer) == 190
    assert verify() == []


def test_reversing_an_unknown_reference_does_nothing(rules):
    assert points_reverse(reference="order:none") == []
    assert LoyaltyEntry.objects.count() == 0


def test_a_partial_reversal_must_say_which_entry_when_the_sale_had_both(rules, customer):
    _earn(customer, "300", "s1")
    points_redeem(customer=customer, points=100, reference="order:W-6", order_total=Decimal(500))
    _earn(customer, "200", "order:W-6")
    with pytest.raises(AmbiguousReversal):
        points_reverse(reference="order:W-6", points=10)
    # Without points, both are reversed: the redemption first, so nothing falls short.
    entries = points_reverse(reference="order:W-6")
    assert [(e.reverses.kind, e.points) for e in entries] == [("redeem", 100), ("earn", -200)]
    assert not LoyaltyEntry.objects.filter(kind=EntryKind.REVERSE, details__has_key="shortfall")
    assert balance_get(customer=customer) == 300


def test_returning_a_sale_whose_points_expired_does_not_take_other_points(rules, customer):
    _earn(customer, "100", "order:old", at=days_ago(400))
    _earn(customer, "60", "order:new", at=days_ago(5))
    points_expire_due()

    [partial] = points_reverse(reference="order:old", kind="earn", points=30, cause="return:1")
    [rest] = points_reverse(reference="order:old", kind="earn", cause="return:2")

    assert (partial.points, partial.details) == (0, {"expired": 30})
    assert (rest.points, rest.details) == (0, {"expired": 70})
    assert rest.amount_paid == Decimal("-70.00")
    assert balance_get(customer=customer) == 60
    assert verify() == []


def test_a_negative_refund_amount_is_refused(rules, customer):
    _earn(customer, "10", "order:W-7")
    with pytest.raises(ValidationFailed):
        points_reverse(reference="order:W-7", kind="earn", amount_paid=Decimal("-1"))
