"""The admin pickup queue: staff see their own stores' pickups and move them with one click."""

import pytest
from django.test import Client

from orders import services
from orders.models import Order
from tests.factories.inventory import LocationStaffFactory
from tests.factories.orders import CARD

pytestmark = pytest.mark.django_db

QUEUE = "/admin/orders/order/pickups/"


def _place(customer, shop, location):
    cart = services.cart_get_current(customer=customer, channel="web")
    services.cart_line_add(cart=cart, sku=shop.sku(store=5, other=5).sku, quantity=1)
    return services.checkout_place(
        cart=cart,
        customer=customer,
        fulfilment={"type": "pickup", "location": location.code},
        payment=CARD,
    )


def _staff_browser(location) -> Client:
    user = LocationStaffFactory(location=location).user
    browser = Client()
    browser.force_login(user)
    return browser


def test_staff_see_only_their_store_and_mark_ready_then_hand_over_with_the_code(customer, shop):
    mine = _place(customer, shop, shop.store)
    from tests.factories.customers import CustomerWithLoginFactory

    theirs = _place(CustomerWithLoginFactory(), shop, shop.other_store)
    browser = _staff_browser(shop.store)

    page = browser.get(QUEUE)
    assert page.status_code == 200
    assert mine.number in page.content.decode()
    assert theirs.number not in page.content.decode()

    browser.post(QUEUE, {"number": mine.number, "action": "ready"})
    assert Order.objects.get(pk=mine.pk).status == "ready_for_pickup"

    # Another store's order cannot be moved from this queue, even by a crafted POST.
    browser.post(QUEUE, {"number": theirs.number, "action": "ready"})
    assert Order.objects.get(pk=theirs.pk).status == "placed"

    wrong = "000000" if mine.pickup_code != "000000" else "111111"
    browser.post(QUEUE, {"number": mine.number, "action": "handover", "pickup_code": wrong})
    assert Order.objects.get(pk=mine.pk).status == "ready_for_pickup"
    browser.post(
        QUEUE, {"number": mine.number, "action": "handover", "pickup_code": mine.pickup_code}
    )
    assert Order.objects.get(pk=mine.pk).status == "collected"
