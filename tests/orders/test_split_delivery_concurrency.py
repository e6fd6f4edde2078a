"""Concurrent split deliveries on PostgreSQL: shoppers race for the last units at two
locations at once (a coat only the store holds, boots only the warehouse holds). Every
checkout locks the levels of both locations in one statement, in primary-key order, so
nothing deadlocks; the last units are sold exactly once; a refused checkout leaves
nothing reserved anywhere; the ledger verifies."""

import threading

import pytest
from django.db import connection

from core.errors import DomainError
from inventory.models import Location, StockLevel
from inventory.services import location_save, verify_ledger
from orders import services
from orders.models import Order, Shipment
from tests.factories.customers import CustomerWithLoginFactory
from tests.factories.orders import CARD, make_shop

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SHOPPERS = 12


def test_racing_split_deliveries_sell_the_last_units_of_two_locations_exactly_once():
    shop = make_shop()
    store = Location.objects.get(pk=shop.store.pk)
    store.ships_online = True
    location_save(location=store)
    coat = shop.sku(store=3, warehouse=0)  # 3 coats, only in the store
    boots = shop.sku(store=0, warehouse=5)  # 5 boots, only in the warehouse
    pairs = []
    for i in range(SHOPPERS):
        customer = CustomerWithLoginFactory()
        cart = services.cart_get_current(customer=customer, channel="web")
        # Half add the coat first, half the boots: the lock order must not depend on it.
        for sku in (coat.sku, boots.sku) if i % 2 else (boots.sku, coat.sku):
            services.cart_line_add(cart=cart, sku=sku, quantity=1)
        pairs.append((cart, customer))

    barrier = threading.Barrier(SHOPPERS)
    outcomes: list[str] = []
    lock = threading.Lock()

    def shopper(cart, customer):
        try:
            barrier.wait()
            services.checkout_place(
                cart=cart,
                customer=customer,
                fulfilment={"type": "delivery", "address": {"postal_code": "10115"}},
                payment=CARD,
            )
            result = "ok"
        except DomainError as error:
            result = error.code
        finally:
            connection.close()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=shopper, args=pair) for pair in pairs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(outcomes) == SHOPPERS
    assert outcomes.count("ok") == 3  # the coats run out first
    assert set(outcomes) == {"ok", "insufficient_stock"}
    assert Order.objects.count() == 3
    assert Shipment.objects.count() == 6  # two parcels per order
    coat_level = StockLevel.objects.get(variant=coat, location=shop.store)
    boots_level = StockLevel.objects.get(variant=boots, location=shop.warehouse)
    assert (coat_level.on_hand, coat_level.reserved) == (3, 3)
    assert (boots_level.on_hand, boots_level.reserved) == (5, 3)  # refused ones kept none
    assert verify_ledger() == []
