"""POS in the admin: a store manager registers a till of their store and sees its token
once, revokes it at once; reports and short pickups show only their stores; a short
pickup is re-routed in one click — each only with the permission and at the store."""

import re
import uuid
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.utils import timezone

from orders import services as order_services
from orders.models import Order
from pos.models import PriceDiscrepancy, Terminal
from pos.services import sales_sync, terminal_register
from tests.factories.customers import CustomerWithLoginFactory
from tests.factories.orders import CARD
from tests.factories.pos import terminal_client

pytestmark = pytest.mark.django_db

TERMINALS = "/admin/pos/terminal/"


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _sale(variant, quantity, price):
    return {
        "id": str(uuid.uuid4()),
        "occurred_at": timezone.now().isoformat(),
        "lines": [{"sku": variant.sku, "quantity": quantity, "unit_price": price}],
        "tenders": [{"kind": "cash", "amount": str(Decimal(price) * quantity)}],
    }


def test_a_manager_registers_a_till_of_their_store_and_sees_the_token_once(member, shop):
    manager = member("store_manager", shop.store)
    response = manager.post(
        TERMINALS + "add/",
        {"code": "BER-9", "name": "Till 9", "location": shop.store.pk},
        follow=True,
    )
    assert response.status_code == 200
    (shown,) = [m for m in _messages(response) if "<code>" in m]
    token = re.search(r"<code>([^<]+)</code>", shown).group(1)
    assert terminal_client(token).get("/api/v1/pos/sync/stock/").status_code == 200
    assert token not in manager.get(TERMINALS).content.decode()  # never again
    other = manager.post(
        TERMINALS + "add/", {"code": "HAM-9", "location": shop.other_store.pk}, follow=True
    )
    assert not Terminal.objects.filter(code="HAM-9").exists()
    assert other.status_code == 200  # the form refuses a store that is not theirs


def test_revoking_a_till_refuses_it_at_once_and_an_associate_cannot(member, shop):
    terminal, token = terminal_register(code="BER-1", location=shop.store)
    associate = member("store_associate", shop.store)
    refused = associate.post(
        TERMINALS, {"action": "revoke", "_selected_action": [terminal.pk]}, follow=True
    )
    assert refused.status_code in (200, 403)
    assert terminal_client(token).get("/api/v1/pos/sync/stock/").status_code == 200
    manager = member("store_manager", shop.store)
    manager.post(TERMINALS, {"action": "revoke", "_selected_action": [terminal.pk]})
    assert terminal_client(token).get("/api/v1/pos/sync/stock/").status_code == 401


def test_a_manager_sees_the_tills_and_price_report_of_their_store_only(member, shop):
    variant = shop.sku(price="10.00", store=5, other=5)
    ours, _t = terminal_register(code="BER-1", location=shop.store)
    theirs, _t = terminal_register(code="HAM-1", location=shop.other_store)
    sales_sync(terminal=ours, sales=[_sale(variant, 1, "9.00")])
    sales_sync(terminal=theirs, sales=[_sale(variant, 1, "8.00")])
    assert PriceDiscrepancy.objects.count() == 2
    manager = member("store_manager", shop.store)
    tills = manager.get(TERMINALS).content.decode()
    assert "BER-1" in tills and "HAM-1" not in tills
    report = manager.get("/admin/pos/pricediscrepancy/").content.decode()
    assert "9.00" in report and "8.00" not in report
    associate = member("store_associate", shop.store)
    assert associate.get("/admin/pos/pricediscrepancy/").status_code == 403


def test_a_short_pickup_is_re_routed_in_one_click_by_a_manager_only(member, shop):
    variant = shop.sku(price="10.00", store=1, other=3)
    customer = CustomerWithLoginFactory()
    cart = order_services.cart_get_current(customer=customer, channel="web")
    order_services.cart_line_add(cart=cart, sku=variant.sku, quantity=1)
    order = order_services.checkout_place(
        cart=cart,
        customer=customer,
        fulfilment={"type": "pickup", "location": shop.store.code},
        payment=CARD,
    )
    till, _token = terminal_register(code="BER-1", location=shop.store)
    sales_sync(terminal=till, sales=[_sale(variant, 1, "10.00")])
    associate = member("store_associate", shop.store)
    listed = associate.get("/admin/pos/shortpickup/").content.decode()
    assert order.number in listed
    url = f"/admin/pos/shortpickup/{order.number}/reroute/"
    assert associate.post(url, {"location": shop.other_store.code}).status_code == 403
    manager = member("store_manager", shop.store)
    page = manager.get(url).content.decode()
    assert shop.other_store.code in page
    manager.post(url, {"location": shop.other_store.code})
    moved = Order.objects.get(pk=order.pk)
    assert (moved.location, moved.needs_attention) == (shop.other_store, False)
    assert manager.get("/admin/pos/shortpickup/").context["cl"].result_count == 0


def test_another_stores_manager_cannot_re_route_it(member, shop):
    variant = shop.sku(price="10.00", store=1, other=3)
    customer = CustomerWithLoginFactory()
    cart = order_services.cart_get_current(customer=customer, channel="web")
    order_services.cart_line_add(cart=cart, sku=variant.sku, quantity=1)
    order = order_services.checkout_place(
        cart=cart,
        customer=customer,
        fulfilment={"type": "pickup", "location": shop.store.code},
        payment=CARD,
    )
    till, _token = terminal_register(code="BER-1", location=shop.store)
    sales_sync(terminal=till, sales=[_sale(variant, 1, "10.00")])
    stranger = member("store_manager", shop.other_store)
    url = f"/admin/pos/shortpickup/{order.number}/reroute/"
    assert stranger.post(url, {"location": shop.other_store.code}).status_code == 404
    assert Order.objects.get(pk=order.pk).location == shop.store
