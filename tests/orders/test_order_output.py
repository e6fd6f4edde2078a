"""`orders.api.output.order_data` shows an order exactly as `OrderOutput` does: the checkout
and the customer's order views answer with it, the serializer stays the schema."""

from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from inventory.models import Location, TransferLeadTime
from inventory.services import location_save, transfer_lead_time_save
from orders import selectors, services
from orders.api.output import order_data
from orders.api.serializers import OrderOutput
from orders.domain import Actor, Status
from orders.models import Cart, Order
from tests.factories.customers import CustomerWithLoginFactory
from tests.factories.orders import CARD
from tests.factories.pricing import PromotionFactory, ShippingRateFactory

pytestmark = pytest.mark.django_db

ADDRESS = {"street": "Main St 1", "postal_code": "10115", "city": "Berlin"}


def _cart(customer, *lines, channel="web"):
    cart = services.cart_get_current(customer=customer, channel=channel)
    for variant, quantity in lines:
        services.cart_line_add(cart=cart, sku=variant.sku, quantity=quantity)
    return cart


def _orders(shop) -> list[Order]:
    """Orders of every shape the API shows: a pickup with attribution and a promotion's
    discounts, one made ready (a pickup deadline), one cancelled, a split delivery with a
    shipping fee and parcels, and a ship-to-store pickup with its ready-from time."""
    customer = CustomerWithLoginFactory()
    shirt = shop.sku(price="19.99", store=20, warehouse=20)
    socks = shop.sku(price="4.45", store=20, warehouse=20)
    PromotionFactory(kind="percent_off", scope="variants", value=Decimal("15"), variants=[socks])
    store = {"type": "pickup", "location": shop.store.code}

    cart = _cart(customer, (shirt, 2), (socks, 3), channel="app")
    Cart.objects.filter(pk=cart.pk).update(
        utm_source="newsletter", utm_medium="email", utm_campaign="winter «sale»", device="iOS"
    )
    cart.refresh_from_db()
    placed = services.checkout_place(cart=cart, customer=customer, fulfilment=store, payment=CARD)

    ready = services.checkout_place(
        cart=_cart(customer, (shirt, 1)), customer=customer, fulfilment=store, payment=CARD
    )
    services.order_transition(order=ready, target=Status.READY_FOR_PICKUP, actor=Actor.STAFF)
    cancelled = services.checkout_place(
        cart=_cart(customer, (socks, 1)), customer=customer, fulfilment=store, payment=CARD
    )
    services.order_transition(order=cancelled, target=Status.CANCELLED, actor=Actor.CUSTOMER)

    ShippingRateFactory()
    ships = Location.objects.get(pk=shop.store.pk)
    ships.ships_online = True
    location_save(location=ships)
    coat = shop.sku(price="30.00", store=1, warehouse=0)
    boots = shop.sku(price="20.00", store=0, warehouse=1)
    split = services.checkout_place(
        cart=_cart(customer, (coat, 1), (boots, 1)),
        customer=customer,
        fulfilment={"type": "delivery", "address": ADDRESS},
        payment=CARD,
    )

    transfer_lead_time_save(
        lead_time=TransferLeadTime(source=shop.warehouse, destination=shop.store, days=2)
    )
    hat = shop.sku(price="12.50", store=0, warehouse=3)
    travelling = services.checkout_place(
        cart=_cart(customer, (hat, 2)),
        customer=customer,
        fulfilment=store | {"allow_transfer": True},
        payment=CARD,
    )
    return [placed, ready, cancelled, split, travelling]


def test_every_kind_of_order_is_shown_as_its_serializer_shows_it(shop):
    orders = _orders(shop)
    shown = [selectors.order_get(number=order.number) for order in orders]
    for order in orders + shown:  # as checkout returns it, and as it is read back
        assert order_data(order) == OrderOutput(order).data, order.number
    placed, ready, cancelled, split, travelling = (order_data(o) for o in shown)
    # The shapes the test means to cover are there.
    assert placed["attribution"]["utm_campaign"] == "winter «sale»"
    assert any(line["discounts"] for line in placed["lines"])
    assert ready["pickup_expires_at"] and ready["pickup_days_left"] is not None
    assert len(cancelled["transitions"]) == 2
    assert len(split["shipments"]) == 2 and split["shipping_total"] != "0.00"
    assert travelling["ready_from"] is not None


def test_the_checkout_and_order_views_answer_with_it(shop, customer, customer_client):
    variant = shop.sku(price="9.90", store=3)
    cart = _cart(customer, (variant, 2))
    response = customer_client.post(
        "/api/v1/checkout/",
        {
            "cart": str(cart.token),
            "fulfilment": {"type": "pickup", "location": shop.store.code},
            "payment": {"provider": "test", "token": "tok_ok"},
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="output-1",
    )
    assert response.status_code == 201, response.content
    order = selectors.order_get(number=response.json()["number"])
    expected = OrderOutput(order).data
    assert response.json() == _json(expected)
    detail = customer_client.get(f"/api/v1/orders/{order.number}/")
    assert detail.json() == _json(OrderOutput(selectors.order_get(number=order.number)).data)
    assert timezone.now() >= order.placed_at
    assert APIClient().get(f"/api/v1/orders/{order.number}/").status_code == 401


def _json(data):
    import json

    from rest_framework.renderers import JSONRenderer

    return json.loads(JSONRenderer().render(data))
