"""`core.api.output.represent`: one bound output serializer shows every object exactly as
a serializer made for it would (no state carried from one object to the next)."""

import pytest

from core.api.output import represent, represent_many
from orders.api.serializers import OrderOutput, StaffOrderOutput
from orders.selectors import order_get
from orders.services import PaymentInput, cart_get_current, cart_line_add, checkout_place
from tests.factories.customers import CustomerWithLoginFactory
from tests.factories.orders import make_shop

pytestmark = pytest.mark.django_db


def _order(shop, *, lines: int, fulfilment: dict):
    customer = CustomerWithLoginFactory()
    cart = cart_get_current(customer=customer, channel="app")
    for n in range(lines):
        cart_line_add(cart=cart, sku=shop.sku(store=9, warehouse=9).sku, quantity=n + 1)
    return checkout_place(
        cart=cart,
        customer=customer,
        fulfilment=fulfilment,
        payment=PaymentInput(provider="test", token="tok_ok"),
    )


def test_orders_are_shown_as_their_own_serializer_shows_them():
    shop = make_shop()
    pickup = _order(shop, lines=1, fulfilment={"type": "pickup", "location": shop.store.code})
    bigger = _order(shop, lines=3, fulfilment={"type": "pickup", "location": shop.store.code})
    orders = [order_get(number=o.number) for o in (bigger, pickup, bigger)]
    for order in orders:
        assert represent(OrderOutput, order) == OrderOutput(order).data
        assert represent(StaffOrderOutput, order) == StaffOrderOutput(order).data
    assert represent_many(OrderOutput, orders) == OrderOutput(orders, many=True).data
    assert len(represent(OrderOutput, orders[1])["lines"]) == 1
    assert len(represent(OrderOutput, orders[0])["lines"]) == 3
