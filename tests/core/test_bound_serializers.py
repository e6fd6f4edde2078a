"""`core.api.bound`: one bound serializer per class shows every object, and checks every
body, exactly as a serializer made for it would (no state carried from one call to the
next)."""

import pytest
from rest_framework.exceptions import ValidationError

from core.api.bound import represent, represent_many, validated
from orders.api.serializers import CheckoutInput, OrderOutput, StaffOrderOutput
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


BODIES = [
    {
        "cart": "6f1c2a5e-8d43-4b1e-9a57-0c9f6f7d2b11",
        "fulfilment": {"type": "pickup", "location": "BER-01"},
        "payment": {"provider": "test", "token": "tok_ok"},
        "redeem_points": 150,
    },
    {"cart": "6f1c2a5e-8d43-4b1e-9a57-0c9f6f7d2b11", "fulfilment": {"type": "delivery"}},
    {"cart": "not a uuid", "fulfilment": {"type": "pickup"}, "payment": {"method": "x"}},
    {"fulfilment": "pickup", "redeem_points": -1, "expected_total": "1e400"},
    {
        "cart": "6f1c2a5e-8d43-4b1e-9a57-0c9f6f7d2b11",
        "fulfilment": {"type": "pickup", "location": "A"},
    },
    [],
    None,
    "text",
]


def _as_made(body):
    serializer = CheckoutInput(data=body)
    if serializer.is_valid():
        return "valid", serializer.validated_data
    return "invalid", serializer.errors


def _as_bound(body):
    try:
        return "valid", validated(CheckoutInput, body)
    except ValidationError as exc:
        return "invalid", exc.detail


def test_bodies_are_checked_as_a_serializer_made_for_each_would_check_them():
    for body in [*BODIES, *reversed(BODIES)]:  # each after a valid and an invalid one
        assert _as_bound(body) == _as_made(body), body
    assert _as_bound(BODIES[0])[1]["redeem_points"] == 150
    assert _as_bound(BODIES[4])[1]["redeem_points"] == 0  # a default, not the last body's
