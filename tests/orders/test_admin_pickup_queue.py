"""The admin pickup queue: staff see their own stores' pickups and move them with one click."""

import pytest
from django.test import Client

from orders import services
from orders.models import Order
from tests.factories.orders import CARD, order_staff

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
    user = order_staff(location, "work_pickup_queue")
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


def test_a_pay_in_store_pickup_is_handed_over_with_the_desk_payment_chosen_in_the_form(shop):
    from orders.models import Tender
    from tests.factories.customers import CustomerWithLoginFactory

    customer = CustomerWithLoginFactory()
    cart = services.cart_get_current(customer=customer, channel="web")
    services.cart_line_add(cart=cart, sku=shop.sku(store=5).sku, quantity=1)
    order = services.checkout_place(
        cart=cart,
        customer=customer,
        fulfilment={"type": "pickup", "location": shop.store.code},
        payment=services.PAY_IN_STORE,
    )
    browser = _staff_browser(shop.store)
    browser.post(QUEUE, {"number": order.number, "action": "ready"})
    page = browser.get(QUEUE).content.decode()
    assert 'name="desk_kind"' in page and order.pickup_code not in page

    handover = {"number": order.number, "action": "handover", "pickup_code": order.pickup_code}
    browser.post(QUEUE, handover)  # no desk payment chosen: refused
    assert Order.objects.get(pk=order.pk).status == "ready_for_pickup"
    browser.post(QUEUE, {**handover, "desk_kind": "card", "desk_reference": "T-991"})
    assert Order.objects.get(pk=order.pk).status == "collected"
    tender = Tender.objects.get(order=order, provider="desk")
    assert (tender.kind, tender.provider_reference) == ("card", "T-991")
