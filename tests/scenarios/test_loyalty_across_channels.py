"""Bonuses earned at the till are spent on the website; ledger and balance agree everywhere.

The in-store sale is an order with channel `pos` completed through the orders services
(the POS sync endpoints come later). The web checkout redeems points as a payment, not a
price change: the quote and VAT are untouched, the amount due drops by the points' value.
"""

import pytest
from rest_framework.test import APIClient

from loyalty import selectors as loyalty_selectors
from loyalty.services import verify
from orders import services
from orders.models import Order
from tests.factories.customers import CustomerWithLoginFactory
from tests.factories.loyalty import LoyaltyRulesFactory
from tests.factories.orders import CARD

pytestmark = pytest.mark.django_db


def _cart(customer, variant, quantity, channel):
    cart = services.cart_get_current(customer=customer, channel=channel)
    services.cart_line_add(cart=cart, sku=variant.sku, quantity=quantity)
    return cart


def test_points_earned_in_store_are_spent_on_the_web(shop):
    # 1 point per EUR paid; 1 point pays 0.10 EUR; up to 50 % of an order.
    LoyaltyRulesFactory()
    customer = CustomerWithLoginFactory()
    coat = shop.sku(price="250.00", store=5, warehouse=5)
    scarf = shop.sku(price="40.00", store=5, warehouse=5)

    # In the store: a sale identified by the customer's phone, completed at the counter.
    in_store = services.checkout_place(
        cart=_cart(customer, coat, 1, "pos"),
        customer=customer,
        fulfilment={"type": "pickup", "location": shop.store.code},
        payment=CARD,
        channel="pos",
    )
    services.order_transition(order=in_store, target="ready_for_pickup", actor="staff")
    services.order_transition(
        order=in_store, target="collected", actor="staff", pickup_code=in_store.pickup_code
    )
    assert loyalty_selectors.balance_get(customer=customer) == 250

    # In the app the balance is already there.
    client = APIClient()
    client.force_authenticate(customer.user)
    assert client.get("/api/v1/me/loyalty/").json()["balance"] == 250

    # On the web: spend 150 points (15.00 EUR) on a 40.00 scarf.
    cart = _cart(customer, scarf, 1, "web")
    response = client.post(
        "/api/v1/checkout/",
        {
            "cart": str(cart.token),
            "fulfilment": {"type": "delivery", "address": {"line1": "Main St 1"}},
            "redeem_points": 150,
            "payment": {"provider": "test", "token": "tok_ok"},
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="spend-1",
    )
    assert response.status_code == 201, response.content
    order = response.json()
    assert order["total"] == "40.00"  # the price is not changed by points
    assert order["points_value"] == "15.00" and order["amount_due"] == "25.00"
    assert {t["kind"]: t["amount"] for t in order["tenders"]} == {
        "card": "25.00",
        "points": "15.00",
    }
    assert loyalty_selectors.balance_get(customer=customer) == 100
    assert client.get("/api/v1/me/loyalty/").json()["balance"] == 100

    # Delivered: points are earned on what was paid with money only (25.00 → 25 points).
    web_order = Order.objects.get(number=order["number"])
    services.order_transition(order=web_order, target="shipped", actor="staff")
    services.order_transition(order=web_order, target="delivered", actor="staff")
    assert loyalty_selectors.balance_get(customer=customer) == 125
    assert verify() == []


def test_cancelling_an_order_gives_the_redeemed_points_back(shop):
    LoyaltyRulesFactory()
    customer = CustomerWithLoginFactory()
    from loyalty.services import points_adjust

    points_adjust(customer=customer, points=200, reason="welcome bonus", actor=None)
    variant = shop.sku(price="100.00")
    order = services.checkout_place(
        cart=_cart(customer, variant, 1, "web"),
        customer=customer,
        fulfilment={"type": "pickup", "location": shop.store.code},
        payment=CARD,
        redeem_points=200,
    )
    assert loyalty_selectors.balance_get(customer=customer) == 0
    services.order_transition(order=order, target="cancelled", actor="customer")
    assert loyalty_selectors.balance_get(customer=customer) == 200
    assert verify() == []


def test_redeeming_more_points_than_the_balance_places_no_order(shop):
    LoyaltyRulesFactory()
    customer = CustomerWithLoginFactory()
    client = APIClient()
    client.force_authenticate(customer.user)
    cart = _cart(customer, shop.sku(price="100.00"), 1, "web")
    response = client.post(
        "/api/v1/checkout/",
        {
            "cart": str(cart.token),
            "fulfilment": {"type": "pickup", "location": shop.store.code},
            "redeem_points": 50,
            "payment": {"provider": "test", "token": "tok_ok"},
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="too-many",
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "insufficient_points"
    assert Order.objects.count() == 0


def test_the_cart_offers_points_as_a_payment_without_changing_the_quote(shop):
    LoyaltyRulesFactory()  # 1 point pays 0.10, at most 50 % of an order
    customer = CustomerWithLoginFactory()
    from loyalty.services import points_adjust

    points_adjust(customer=customer, points=400, reason="welcome bonus", actor=None)
    cart = _cart(customer, shop.sku(price="60.00"), 1, "web")
    client = APIClient()
    client.force_authenticate(customer.user)
    body = client.get(f"/api/v1/carts/{cart.token}/").json()
    assert body["quote"]["total"] == "60.00"
    assert body["points"] == {"balance": 400, "redeemable_max": 300, "redeemable_value": "30.00"}
