"""Fixtures of the back office tests: two stores with a day's work each, made by the services.

Store A (the shop's "Berlin Mitte") and store B ("Hamburg") each get pickups, a till sale
that leaves a pickup short, a customer's return request, an incoming transfer, low stock
and tills; B's figures differ from A's so that a leak of B's numbers into A's page shows.
"""

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from inventory import services as inventory_services
from orders import services as order_services
from orders.domain import Actor, Status
from returns import services as return_services
from tests.factories.customers import CustomerWithLoginFactory
from tests.factories.inventory import StockLevelFactory
from tests.factories.orders import CARD, make_shop
from tests.factories.pos import make_terminal, terminal_client
from tests.factories.returns import collected_order
from tests.staff.conftest import member  # noqa: F401  (the role helper)


@pytest.fixture
def shop(db):
    return make_shop()


def place_pickup(variant, location, *, channel: str = "web", quantity: int = 1):
    customer = CustomerWithLoginFactory()
    cart = order_services.cart_get_current(customer=customer, channel=channel)
    order_services.cart_line_add(cart=cart, sku=variant.sku, quantity=quantity)
    return order_services.checkout_place(
        cart=cart,
        customer=customer,
        fulfilment={"type": "pickup", "location": location.code},
        payment=CARD,
    )


def till_sale(token: str, variant, quantity: int = 1) -> None:
    sale = {
        "id": str(uuid.uuid4()),
        "occurred_at": (timezone.now() - timedelta(seconds=1)).isoformat(),
        "lines": [
            {"sku": variant.sku, "quantity": quantity, "unit_price": "10.00", "discount": "0"}
        ],
        "tenders": [{"kind": "cash", "amount": str(Decimal("10.00") * quantity)}],
    }
    response = terminal_client(token).post(
        "/api/v1/pos/sync/sales/", {"sales": [sale]}, format="json"
    )
    assert response.json()["results"][0]["status"] == "created"


@dataclass
class StoreDay:
    store: object
    pickups: list = field(default_factory=list)
    silent_terminal: object = None


@dataclass
class World:
    shop: object
    a: StoreDay
    b: StoreDay


def store_day(shop, store, *, pickups: int, ready: int, returns: int, transfers: int, silent: int):
    """A day at `store`: `pickups` web pickups (the first `ready` of them ready), one app
    pickup left short by a till sale, `returns` requested returns, `transfers` incoming
    transfers, one low level, `silent` tills that never synced."""
    day = StoreDay(store=store)
    stocked = shop.sku(price="10.00", store=20, other=20)
    for index in range(pickups):
        order = place_pickup(stocked, store)
        if index < ready:
            order_services.order_transition(
                order=order, target=Status.READY_FOR_PICKUP, actor=Actor.STAFF
            )
        day.pickups.append(order)
    # Two units on the shelf, both reserved by pickups; the till sells one: the later pickup
    # is short and the level goes negative (on hand 1, reserved 2).
    scarce = shop.sku(price="10.00", store=0, warehouse=0)
    StockLevelFactory(variant=scarce, location=store, on_hand=2)
    day.pickups.append(place_pickup(scarce, store))
    day.pickups.append(place_pickup(scarce, store, channel="app"))
    _terminal, token = make_terminal(store)
    till_sale(token, scarce)
    for _index in range(returns):
        customer = CustomerWithLoginFactory()
        bought = shop.sku(price="10.00", store=0, warehouse=0)
        StockLevelFactory(variant=bought, location=store, on_hand=5)
        order = collected_order(shop, customer, [(bought, 1)], location=store)
        return_services.return_request(
            order=order,
            customer=customer,
            location=store,
            reason="wrong_size",
            lines=[{"sku": bought.sku, "quantity": 1}],
        )
    for _index in range(transfers):
        moved = shop.sku(store=0, warehouse=5)
        inventory_services.stock_transfer(
            lines=[(moved.pk, 1)], source=shop.warehouse, destination=store, reference="T"
        )
    low = shop.sku(store=0, warehouse=0)
    StockLevelFactory(variant=low, location=store, on_hand=1)  # threshold 1: low
    for _index in range(silent):
        day.silent_terminal, _token = make_terminal(store)
    return day


@pytest.fixture
def world(shop) -> World:
    a = store_day(shop, shop.store, pickups=2, ready=1, returns=1, transfers=1, silent=1)
    b = store_day(shop, shop.other_store, pickups=4, ready=3, returns=2, transfers=3, silent=2)
    return World(shop=shop, a=a, b=b)
