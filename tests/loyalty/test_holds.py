"""Points holds in the loyalty ledger: what they keep from other redemptions, how they end
(released, expired — once, in parallel, skipping rows a sync is converting), codes sent
once, and a customer merge that carries them over."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.db import connection, transaction
from django.utils import timezone

from customers.services import customer_merge
from loyalty import selectors
from loyalty.errors import InsufficientPoints, LoyaltyNotConfigured
from loyalty.models import HoldStatus, LoyaltyHold
from loyalty.services import (
    hold_code_deliver,
    hold_create,
    hold_release,
    holds_expire_due,
    points_adjust,
    points_redeem,
    verify,
)
from tests.factories.customers import CustomerFactory
from tests.factories.loyalty import LoyaltyRulesFactory


def _funded(points: int, **fields):
    customer = CustomerFactory(**fields)
    points_adjust(customer=customer, points=points, reason="opening balance", actor=None)
    return customer


def _hold(customer, points, total="1000.00", till="T1"):
    return hold_create(
        customer=customer, points=points, order_total=Decimal(total), terminal_code=till
    )


@pytest.mark.django_db
def test_held_points_are_not_spendable_anywhere_until_the_hold_ends(rules):
    customer = _funded(500)
    hold = _hold(customer, 300)

    assert selectors.balance_get(customer=customer) == 500  # a hold is not a ledger entry
    assert selectors.spendable_balance(customer=customer) == 200
    assert selectors.points_redeemable_max(customer=customer, order_total=Decimal(9999)) == 200
    with pytest.raises(InsufficientPoints):
        _hold(customer, 201)
    with pytest.raises(InsufficientPoints):
        points_redeem(customer=customer, points=201, reference="order:W", order_total=Decimal(999))

    hold_release(hold_id=hold.pk, terminal_code="T1")
    assert selectors.spendable_balance(customer=customer) == 500
    assert verify() == []


@pytest.mark.django_db
def test_a_hold_needs_rules_in_force(db):
    customer = CustomerFactory()
    with pytest.raises(LoyaltyNotConfigured):
        _hold(customer, 1)


@pytest.mark.django_db
def test_a_hold_past_its_time_no_longer_counts_even_before_the_job_runs(rules):
    customer = _funded(500)
    hold = _hold(customer, 300)
    LoyaltyHold.objects.filter(pk=hold.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert selectors.spendable_balance(customer=customer) == 500
    assert holds_expire_due() == 1
    hold.refresh_from_db()
    assert (hold.status, hold.closed_at is not None) == (HoldStatus.EXPIRED, True)


@pytest.mark.django_db
def test_the_code_of_a_hold_is_sent_once_however_often_the_task_runs(rules, settings):
    settings.LOYALTY_HOLD_CONFIRM_POINTS = 10
    customer = _funded(500, email="anna@example.com")
    hold = _hold(customer, 300)
    mail.outbox.clear()
    assert hold_code_deliver(hold_id=str(hold.pk)) is True
    assert hold_code_deliver(hold_id=str(hold.pk)) is False
    assert len(mail.outbox) == 1
    hold_release(hold_id=hold.pk, terminal_code="T1")
    assert hold_code_deliver(hold_id=str(hold.pk)) is False


@pytest.mark.django_db
def test_a_customer_merge_carries_the_holds_over_to_the_survivor(rules):
    survivor, duplicate = _funded(100), _funded(400)
    hold = _hold(duplicate, 300)

    customer_merge(survivor=survivor, duplicate=duplicate, merged_by=None)

    hold.refresh_from_db()
    assert hold.account.customer == survivor
    assert selectors.spendable_balance(customer=survivor) == 200
    assert verify() == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_expiry_job_skips_a_hold_being_converted_and_parallel_runs_expire_each_once():
    LoyaltyRulesFactory()
    customers = [_funded(100) for _ in range(20)]
    holds = [_hold(c, 50) for c in customers]
    LoyaltyHold.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    busy = holds[0]
    locked, done = threading.Event(), threading.Event()

    def converter():
        # Stands for a sale sync holding the hold's row lock while it converts it.
        try:
            with transaction.atomic():
                LoyaltyHold.objects.select_for_update().get(pk=busy.pk)
                locked.set()
                done.wait(timeout=30)
        finally:
            connection.close()

    holder = threading.Thread(target=converter)
    holder.start()
    assert locked.wait(timeout=30)

    counts: list[int] = []
    barrier = threading.Barrier(3)

    def run():
        try:
            barrier.wait(timeout=30)
            counts.append(holds_expire_due(batch=4))
        finally:
            connection.close()

    runners = [threading.Thread(target=run) for _ in range(3)]
    for runner in runners:
        runner.start()
    for runner in runners:
        runner.join(timeout=60)
    assert not any(r.is_alive() for r in runners), "an expiry run waited for the locked hold"

    assert sum(counts) == 19
    assert LoyaltyHold.objects.get(pk=busy.pk).status == HoldStatus.HELD
    done.set()
    holder.join(timeout=30)
    assert holds_expire_due() == 1
    assert LoyaltyHold.objects.filter(status=HoldStatus.EXPIRED).count() == 20
