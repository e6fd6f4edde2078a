"""Races on PostgreSQL with real threads: redemptions, expiry runs, duplicate earns.

Each thread has its own database connection; a barrier releases them together so they
really contend for the account row lock.
"""

import threading
import time
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.db import connection, transaction

from customers.services import customer_merge
from loyalty.errors import InsufficientPoints
from loyalty.models import EntryKind, LoyaltyAccount, LoyaltyEntry
from loyalty.selectors import balance_get
from loyalty.services import points_earn, points_expire_due, points_redeem, verify
from tests.factories.customers import CustomerFactory
from tests.factories.loyalty import LoyaltyRulesFactory
from tests.loyalty.helpers import days_ago, paid

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_together(count: int, target: Callable[[int], object]) -> list[object]:
    """Run target(i) in `count` threads released at once; results or raised exceptions."""
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count

    def worker(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = target(i)
        except Exception as exc:  # noqa: BLE001 - the test inspects every outcome
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    return results


def test_concurrent_redemptions_never_overdraw_the_balance():
    LoyaltyRulesFactory()
    customer = CustomerFactory()
    points_earn(customer=customer, reference="s1", channel="pos", lines=paid("600"))
    points_earn(customer=customer, reference="s2", channel="web", lines=paid("450"))
    balance, each, racers = 1050, 100, 24

    results = run_together(
        racers,
        lambda i: points_redeem(
            customer=customer, points=each, reference=f"order:{i}", order_total=Decimal(10000)
        ),
    )

    won = [r for r in results if isinstance(r, LoyaltyEntry)]
    lost = [r for r in results if isinstance(r, InsufficientPoints)]
    assert len(won) == balance // each == 10
    assert len(lost) == racers - len(won), [r for r in results if isinstance(r, Exception)]
    assert balance_get(customer=customer) == balance - len(won) * each == 50
    assert LoyaltyEntry.objects.filter(kind=EntryKind.REDEEM).count() == 10
    assert verify() == []


def test_redemptions_racing_the_expiry_job_expire_each_point_once_and_spend_only_valid_ones():
    LoyaltyRulesFactory()
    customer = CustomerFactory()
    points_earn(
        customer=customer, reference="old", channel="pos", lines=paid("500"), at=days_ago(400)
    )
    points_earn(
        customer=customer, reference="new", channel="pos", lines=paid("500"), at=days_ago(5)
    )

    def act(i: int):
        if i < 3:
            return points_expire_due()
        return points_redeem(
            customer=customer, points=60, reference=f"order:{i}", order_total=Decimal(10000)
        )

    results = run_together(23, act)

    unexpected = [
        r for r in results if isinstance(r, Exception) and not isinstance(r, InsufficientPoints)
    ]
    assert unexpected == []
    assert sum(-e.points for e in LoyaltyEntry.objects.filter(kind=EntryKind.EXPIRE)) == 500
    assert sum(isinstance(r, LoyaltyEntry) for r in results) == 500 // 60
    assert balance_get(customer=customer) == 500 - (500 // 60) * 60
    assert verify() == []


def test_concurrent_expiry_runs_expire_every_account_exactly_once():
    LoyaltyRulesFactory()
    customers = CustomerFactory.create_batch(12)
    for n, customer in enumerate(customers):
        points_earn(
            customer=customer, reference=f"s{n}", channel="web", lines=paid("10"), at=days_ago(400)
        )

    results = run_together(4, lambda i: points_expire_due())

    assert sorted(results) != [0, 0, 0, 0]
    assert sum(results) == 120
    assert LoyaltyEntry.objects.filter(kind=EntryKind.EXPIRE).count() == 12
    assert set(LoyaltyAccount.objects.values_list("balance", flat=True)) == {0}
    assert verify() == []


def test_a_sale_synced_twice_at_the_same_moment_earns_once():
    LoyaltyRulesFactory()
    customer = CustomerFactory()  # no account yet: the first creation races too

    results = run_together(
        20,
        lambda i: points_earn(
            customer=customer, reference="pos-sale:dup", channel="pos", lines=paid("77")
        ),
    )

    assert all(isinstance(r, LoyaltyEntry) for r in results), results
    assert len({r.pk for r in results}) == 1
    assert LoyaltyAccount.objects.filter(customer=customer).count() == 1
    assert balance_get(customer=customer) == 77
    assert verify() == []


def test_a_sale_of_a_duplicate_being_merged_lands_on_the_survivor():
    LoyaltyRulesFactory()
    survivor, duplicate = CustomerFactory(), CustomerFactory()
    points_earn(customer=survivor, reference="s1", channel="web", lines=paid("10"))
    points_earn(customer=duplicate, reference="d1", channel="pos", lines=paid("20"))
    merging = threading.Event()

    def act(i: int):
        if i == 0:
            with transaction.atomic():
                customer_merge(survivor=survivor, duplicate=duplicate, merged_by=None)
                merging.set()
                time.sleep(0.5)  # the sale below now waits for the account lock
            return "merged"
        merging.wait(timeout=10)
        # The till still holds the duplicate as it was before the merge.
        return points_earn(customer=duplicate, reference="d2", channel="pos", lines=paid("5"))

    merged, earned = run_together(2, act)

    assert merged == "merged"
    assert isinstance(earned, LoyaltyEntry), earned
    assert earned.account.customer == survivor
    assert balance_get(customer=survivor) == 35
    assert verify() == []
