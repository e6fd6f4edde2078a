"""The customers app's hooks: a merge moves the ledger; the timeline shows bonus movements."""

from decimal import Decimal

import pytest

from customers.services import customer_merge
from loyalty.models import LoyaltyAccount, LoyaltyEntry
from loyalty.selectors import balance_get, timeline_entries
from loyalty.services import (
    customer_merged,
    points_adjust,
    points_earn,
    points_expire_due,
    points_redeem,
    points_reverse,
    verify,
)
from tests.factories.customers import CustomerFactory
from tests.loyalty.helpers import days_ago, paid

pytestmark = pytest.mark.django_db


def _earn(customer, amount, reference, at=None, channel="pos"):
    return points_earn(
        customer=customer, reference=reference, channel=channel, lines=paid(amount), at=at
    )


def test_a_merge_moves_the_duplicates_ledger_and_balance_to_the_survivor(rules):
    survivor, duplicate = CustomerFactory(), CustomerFactory()
    _earn(survivor, "30", "s1")
    old_lot = _earn(duplicate, "50", "d1", at=days_ago(400))  # overdue, not yet expired
    _earn(duplicate, "20", "d2")
    points_redeem(customer=duplicate, points=10, reference="d-order", order_total=Decimal(100))

    moved = customer_merged(survivor.pk, duplicate.pk)

    assert moved == {"loyalty_entries": 4, "loyalty_points": 10}  # 2 earns, expiry, redeem
    assert not LoyaltyAccount.objects.filter(customer=duplicate).exists()
    assert balance_get(customer=survivor) == 40
    # Lots keep their expiry and the moved redemption can still be given back.
    old_lot.refresh_from_db()
    assert old_lot.account.customer == survivor
    points_reverse(reference="d-order")
    assert balance_get(customer=survivor) == 50
    assert points_expire_due() == 0
    assert verify() == []


def test_a_merge_into_a_survivor_without_account_hands_the_account_over(rules):
    survivor, duplicate = CustomerFactory(), CustomerFactory()
    _earn(duplicate, "20", "d1")
    assert customer_merged(survivor.pk, duplicate.pk) == {
        "loyalty_entries": 1,
        "loyalty_points": 20,
    }
    assert LoyaltyAccount.objects.get().customer == survivor
    assert customer_merged(survivor.pk, duplicate.pk) == {
        "loyalty_entries": 0,
        "loyalty_points": 0,
    }


def test_the_customers_merge_service_calls_the_loyalty_handler(rules):
    survivor, duplicate = CustomerFactory(), CustomerFactory()
    _earn(survivor, "5", "s1")
    _earn(duplicate, "7", "d1")
    merge = customer_merge(survivor=survivor, duplicate=duplicate, merged_by=None)
    assert merge.moved["loyalty.services.customer_merged"]["loyalty_points"] == 7
    assert balance_get(customer=survivor) == 12
    # Sales of the merged duplicate later still land on the survivor.
    duplicate.refresh_from_db()
    _earn(duplicate, "3", "d2")
    assert balance_get(customer=survivor) == 15
    assert LoyaltyEntry.objects.filter(account__customer=duplicate).count() == 0


def test_the_timeline_lists_bonus_movements_newest_first_with_limit_and_cursor(
    rules, customer, staff_user
):
    _earn(customer, "10", "pos-sale:1", at=days_ago(3), channel="pos")
    _earn(customer, "20", "order:W-1", at=days_ago(2), channel="web")
    points_adjust(
        customer=customer, points=5, reason="Goodwill", reason_code="goodwill", actor=staff_user
    )

    entries = timeline_entries(customer.pk, limit=10, before=None)

    assert [(e["kind"], e["channel"], e["reference"]) for e in entries] == [
        ("loyalty_adjust", None, ""),
        ("loyalty_earn", "web", "order:W-1"),
        ("loyalty_earn", "pos", "pos-sale:1"),
    ]
    assert entries[1]["title"] == "20 points earned"
    assert entries[1]["details"]["points"] == 20
    assert set(entries[0]) == {"at", "kind", "channel", "title", "reference", "details"}
    older = timeline_entries(customer.pk, limit=1, before=entries[1]["at"])
    assert [e["reference"] for e in older] == ["pos-sale:1"]
    assert timeline_entries(CustomerFactory().pk, limit=10, before=None) == []
