"""Merging two customer profiles moves orders, carts and the loyalty ledger to the survivor."""

import pytest

from customers.services import customer_merge
from loyalty import selectors as loyalty_selectors
from loyalty.services import points_adjust, verify
from orders import services
from orders.models import Cart, Order
from tests.factories.customers import CustomerFactory, CustomerWithLoginFactory, UserFactory
from tests.factories.loyalty import LoyaltyRulesFactory
from tests.factories.orders import CARD

pytestmark = pytest.mark.django_db


def _order(customer, shop):
    cart = services.cart_get_current(customer=customer, channel="web")
    services.cart_line_add(cart=cart, sku=shop.sku().sku, quantity=1)
    return services.checkout_place(
        cart=cart,
        customer=customer,
        fulfilment={"type": "pickup", "location": shop.store.code},
        payment=CARD,
    )


def test_the_merge_moves_orders_open_cart_lines_and_points_atomically(shop):
    LoyaltyRulesFactory()
    survivor = CustomerWithLoginFactory()
    duplicate = CustomerFactory(card_number="2000123456789")  # known only at the till
    survivor_order, duplicate_order = _order(survivor, shop), _order(duplicate, shop)
    points_adjust(customer=survivor, points=30, reason="goodwill", actor=None)
    points_adjust(customer=duplicate, points=70, reason="goodwill", actor=None)
    scarf, hat = shop.sku(), shop.sku()
    services.cart_line_add(
        cart=services.cart_get_current(customer=survivor, channel="web"), sku=scarf.sku, quantity=1
    )
    services.cart_line_add(
        cart=services.cart_get_current(customer=duplicate, channel="app"), sku=hat.sku, quantity=2
    )

    record = customer_merge(
        survivor=survivor, duplicate=duplicate, merged_by=UserFactory(is_staff=True)
    )

    assert set(Order.objects.filter(customer=survivor).values_list("pk", flat=True)) == {
        survivor_order.pk,
        duplicate_order.pk,
    }
    assert not Order.objects.filter(customer=duplicate).exists()
    open_carts = Cart.objects.filter(customer=survivor, state="open")
    assert open_carts.count() == 1
    lines = {line.variant_id: line.quantity for line in open_carts.get().lines.all()}
    assert lines == {scarf.pk: 1, hat.pk: 2}
    assert loyalty_selectors.balance_get(customer=survivor) == 100
    assert verify() == []
    survivor.refresh_from_db()
    assert survivor.card_number == "2000123456789"
    assert record.moved["orders.services.customer_merged"] == {"orders": 1, "carts": 2}
    assert record.moved["loyalty.services.customer_merged"]["loyalty_points"] == 70
