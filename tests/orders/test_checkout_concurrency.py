"""Concurrent checkouts on PostgreSQL: the last units are sold exactly once.

Real threads, each with its own database connection, race to check out carts holding the
same scarce SKUs at the same store. Exactly the available number of checkouts succeed;
the others fail with insufficient_stock and leave nothing behind; the ledger verifies.
"""

import threading

import pytest
from django.db import connection

from core.errors import DomainError
from inventory.models import StockLevel
from inventory.services import verify_ledger
from orders import services
from orders.models import Order
from tests.factories.customers import CustomerWithLoginFactory
from tests.factories.orders import CARD, make_shop

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SHOPPERS = 24


def _race(carts_and_customers, location_code):
    barrier = threading.Barrier(len(carts_and_customers))
    outcomes: list[str] = []
    lock = threading.Lock()

    def shopper(cart, customer):
        try:
            barrier.wait()
            services.checkout_place(
                cart=cart,
                customer=customer,
                fulfilment={"type": "pickup", "location": location_code},
                payment=CARD,
            )
            result = "ok"
        except DomainError as error:
            result = error.code
        finally:
            connection.close()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=shopper, args=pair) for pair in carts_and_customers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def test_concurrent_checkouts_of_the_last_units_sell_exactly_what_is_there():
    shop = make_shop()
    hot = shop.sku(store=7)  # 7 units, 24 shoppers wanting 1 each
    warm = shop.sku(store=30)
    pairs = []
    for _ in range(SHOPPERS):
        customer = CustomerWithLoginFactory()
        cart = services.cart_get_current(customer=customer, channel="web")
        services.cart_line_add(cart=cart, sku=warm.sku, quantity=1)
        services.cart_line_add(cart=cart, sku=hot.sku, quantity=1)
        pairs.append((cart, customer))

    outcomes = _race(pairs, shop.store.code)

    assert len(outcomes) == SHOPPERS
    assert outcomes.count("ok") == 7
    assert outcomes.count("insufficient_stock") == SHOPPERS - 7
    assert Order.objects.count() == 7
    hot_level = StockLevel.objects.get(variant=hot, location=shop.store)
    warm_level = StockLevel.objects.get(variant=warm, location=shop.store)
    assert (hot_level.on_hand, hot_level.reserved) == (7, 7)
    assert warm_level.reserved == 7  # failed checkouts reserved nothing of the other line
    assert verify_ledger() == []


def test_the_same_cart_checked_out_twice_at_once_gives_one_order():
    shop = make_shop()
    variant = shop.sku(store=10)
    customer = CustomerWithLoginFactory()
    cart = services.cart_get_current(customer=customer, channel="web")
    services.cart_line_add(cart=cart, sku=variant.sku, quantity=2)

    outcomes = _race([(cart, customer)] * 6, shop.store.code)

    assert outcomes.count("ok") == 1
    assert set(outcomes) - {"ok"} == {"cart_not_open"}
    assert StockLevel.objects.get(variant=variant, location=shop.store).reserved == 2
    assert verify_ledger() == []
