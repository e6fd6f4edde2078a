"""One lock order across apps, proven on PostgreSQL with real threads.

A checkout that redeems points and a cancel of another order of the same customer on the
same SKU both touch one stock level and one points account. Every path locks stock levels
first, then the points account, then coupon counters; run against each other many times,
PostgreSQL never reports a deadlock and the ledgers still verify.
"""

import threading
from decimal import Decimal

import pytest
from django.db import OperationalError, connection

from core.errors import DomainError
from inventory.models import StockLevel
from inventory.services import verify_ledger
from loyalty.selectors import balance_get
from loyalty.services import points_adjust, verify
from orders import services
from orders.models import Order
from tests.factories.customers import CustomerWithLoginFactory
from tests.factories.loyalty import LoyaltyRulesFactory
from tests.factories.orders import CARD, make_shop

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROUNDS = 30
POINTS = 100  # 10.00 EUR of a 100.00 order


def _checkout(customer, variant, location):
    cart = services.cart_get_current(customer=customer, channel="web")
    services.cart_line_add(cart=cart, sku=variant.sku, quantity=1)
    return cart


def _run_both(first, second) -> list[str]:
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def run(operation):
        try:
            barrier.wait()
            operation()
            outcomes.append("ok")
        except OperationalError as error:
            outcomes.append(f"db:{getattr(error.__cause__, 'sqlstate', '')}")
        except DomainError as error:
            outcomes.append(error.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(op,)) for op in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def test_checkout_with_points_and_cancel_of_another_order_never_deadlock():
    LoyaltyRulesFactory()
    shop = make_shop()
    customer = CustomerWithLoginFactory()
    points_adjust(customer=customer, points=POINTS * ROUNDS * 2, reason="welcome", actor=None)
    variant = shop.sku(price="100.00", store=ROUNDS * 3)
    pickup = {"type": "pickup", "location": shop.store.code}
    placed = services.checkout_place(
        cart=_checkout(customer, variant, shop.store),
        customer=customer,
        fulfilment=pickup,
        payment=CARD,
        redeem_points=POINTS,
    )
    failures = []
    for _ in range(ROUNDS):
        cart = _checkout(customer, variant, shop.store)
        previous = placed
        made: list[Order] = []

        def place(cart=cart, made=made):
            made.append(
                services.checkout_place(
                    cart=cart,
                    customer=customer,
                    fulfilment=pickup,
                    payment=CARD,
                    redeem_points=POINTS,
                )
            )

        def cancel(order=previous):
            services.order_cancel_by_customer(order=order, user=customer.user)

        outcomes = _run_both(place, cancel)
        failures += [o for o in outcomes if o != "ok"]
        placed = made[0] if made else placed

    assert failures == []  # no deadlock (40P01), no serialization failure, no refusal
    # One order is still open; every other one was cancelled and gave its points back.
    assert Order.objects.filter(status="placed").count() == 1
    assert Order.objects.filter(status="cancelled").count() == ROUNDS
    assert balance_get(customer=customer) == POINTS * ROUNDS * 2 - POINTS
    level = StockLevel.objects.get(variant=variant, location=shop.store)
    assert level.reserved == 1
    assert verify_ledger() == []
    assert verify() == []


def test_a_lost_race_is_retried_once_and_then_answers_409(monkeypatch):
    """`run_with_retry` turns a repeated deadlock into `concurrent_update` (409)."""
    import psycopg

    from core.db import ConcurrentUpdate, run_with_retry

    calls = []

    def deadlocked():
        calls.append(1)
        try:
            raise psycopg.errors.DeadlockDetected("deadlock detected")
        except psycopg.errors.DeadlockDetected as cause:
            raise OperationalError("deadlock detected") from cause

    with pytest.raises(ConcurrentUpdate) as answer:
        run_with_retry(deadlocked)
    assert len(calls) == 2
    assert (answer.value.http_status, answer.value.code) == (409, "concurrent_update")
    assert run_with_retry(lambda: Decimal("1")) == Decimal("1")
