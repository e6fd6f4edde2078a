"""Expiry (FIFO against earns, idempotent), staff adjustments and the ledger check."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from loyalty.errors import InsufficientPoints, InvalidPoints, ReasonRequired
from loyalty.models import EntryKind, LoyaltyAccount, LoyaltyEntry
from loyalty.selectors import balance_get, points_expiring
from loyalty.services import (
    points_adjust,
    points_earn,
    points_expire_due,
    points_redeem,
    verify,
)
from loyalty.tasks import expire_points
from tests.factories.customers import CustomerFactory
from tests.factories.loyalty import LoyaltyRulesFactory
from tests.loyalty.helpers import days_ago, paid

pytestmark = pytest.mark.django_db


def _earn(customer, amount, reference, at):
    return points_earn(
        customer=customer, reference=reference, channel="pos", lines=paid(amount), at=at
    )


def test_expiry_is_fifo_against_earns_after_partial_redemptions(rules, customer):
    january = _earn(customer, "100", "s1", at=days_ago(360))  # expires in 5 days
    march = _earn(customer, "50", "s2", at=days_ago(300))  # expires in 65 days
    may = _earn(customer, "70", "s3", at=days_ago(240))  # expires in 125 days
    points_redeem(customer=customer, points=120, reference="o1", order_total=Decimal(1000))
    # FIFO: the redemption used all of January and 20 of March.

    assert points_expire_due(at=timezone.now() + timedelta(days=10)) == 0  # January is spent
    assert points_expire_due(at=timezone.now() + timedelta(days=70)) == 30  # rest of March
    assert balance_get(customer=customer) == 70
    points_redeem(customer=customer, points=20, reference="o2", order_total=Decimal(1000))
    assert points_expire_due(at=timezone.now() + timedelta(days=130)) == 50  # rest of May

    for lot in (january, march, may):
        lot.refresh_from_db()
        assert lot.remaining == 0
    assert balance_get(customer=customer) == 0
    expired = LoyaltyEntry.objects.filter(kind=EntryKind.EXPIRE).order_by("id")
    assert [e.points for e in expired] == [-30, -50]
    assert verify() == []


def test_running_the_expiry_twice_expires_each_point_once(rules):
    first, second = CustomerFactory(), CustomerFactory()
    _earn(first, "40", "a", at=days_ago(400))
    _earn(second, "60", "b", at=days_ago(380))
    _earn(second, "15", "c", at=days_ago(10))

    assert points_expire_due() == 100
    assert points_expire_due() == 0
    assert (balance_get(customer=first), balance_get(customer=second)) == (0, 15)
    assert LoyaltyEntry.objects.filter(kind=EntryKind.EXPIRE).count() == 2
    assert verify() == []


def test_the_beat_task_runs_the_expiry(rules, customer):
    _earn(customer, "25", "a", at=days_ago(500))
    assert expire_points.delay().get() == 25
    assert expire_points.delay().get() == 0


def test_points_expiring_soon_are_listed_by_date(rules, customer):
    _earn(customer, "10", "a", at=days_ago(350))
    _earn(customer, "20", "b", at=days_ago(100))
    soon = points_expiring(customer=customer, within=timedelta(days=30))
    assert [row["points"] for row in soon] == [10]


def test_rules_without_a_lifetime_give_points_that_never_expire(customer):
    LoyaltyRulesFactory(points_lifetime_days=None)
    entry = _earn(customer, "10", "a", at=days_ago(1000))
    assert entry.expires_at is None
    assert points_expire_due() == 0


def test_a_staff_adjustment_needs_a_reason_and_records_who_made_it(rules, customer, staff_user):
    with pytest.raises(ReasonRequired) as exc:
        points_adjust(customer=customer, points=50, reason="  ", actor=staff_user)
    assert exc.value.http_status == 400
    with pytest.raises(InvalidPoints):
        points_adjust(
            customer=customer, points=0, reason="why", reason_code="goodwill", actor=staff_user
        )

    added = points_adjust(
        customer=customer, points=50, reason="Lost card", reason_code="goodwill", actor=staff_user
    )
    assert (added.kind, added.channel, added.created_by) == ("adjust", "admin", staff_user)
    assert added.remaining == 50 and added.expires_at is not None

    with pytest.raises(InsufficientPoints):
        points_adjust(
            customer=customer, points=-51, reason="typo", reason_code="correction", actor=staff_user
        )
    removed = points_adjust(
        customer=customer, points=-20, reason="Typo fix", reason_code="correction", actor=staff_user
    )
    assert removed.points == -20
    assert balance_get(customer=customer) == 30
    assert verify() == []


def test_verify_reports_a_stored_balance_that_disagrees_with_the_ledger(rules, customer):
    _earn(customer, "10", "a", at=days_ago(1))
    assert verify(customer=customer) == []
    LoyaltyAccount.objects.filter(customer=customer).update(balance=11)  # simulate corruption
    account = LoyaltyAccount.objects.get(customer=customer)
    assert verify(customer=customer) == [f"account {account.pk}: stored balance 11 != ledger 10"]
    LoyaltyEntry.objects.filter(kind=EntryKind.EARN).update(remaining=9)
    assert f"account {account.pk}: unspent lots 9 != ledger 10" in verify()
