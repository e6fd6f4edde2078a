"""Staff move a pickup to another store that holds the stock, by the API or in the admin:
reserved there, released here, the customer told — the POS reconciliation's service."""

import pytest
from django.core import mail
from django.test import Client
from rest_framework.test import APIClient

from inventory.models import Reservation, StockLevel
from inventory.services import verify_ledger
from loyalty.services import verify as loyalty_verify
from orders import services
from orders.models import Order, OrderTransition
from reports.services import facts_verify
from staff.services import staff_member_create
from tests.factories.orders import CARD

pytestmark = pytest.mark.django_db


def _place(customer, shop, variant, quantity=1):
    cart = services.cart_get_current(customer=customer, channel="web")
    services.cart_line_add(cart=cart, sku=variant.sku, quantity=quantity)
    return services.checkout_place(
        cart=cart,
        customer=customer,
        fulfilment={"type": "pickup", "location": shop.store.code},
        payment=CARD,
    )


def _member(role, *stores, name="m"):
    user = staff_member_create(
        email=f"{role}-{name}@staff.example.com",
        password="Quiet-Harbour-4821",
        role=role,
        locations=stores,
    )
    return type(user).objects.get(pk=user.pk)


def _api(user):
    client = APIClient()
    client.force_login(user)
    return client


def _reroute(client, order, location):
    return client.post(
        f"/api/v1/staff/orders/{order.number}/reroute/", {"location": location}, format="json"
    )


def _levels(variant, *locations):
    return [
        (lvl.on_hand, lvl.reserved)
        for lvl in (StockLevel.objects.get(variant=variant, location=loc) for loc in locations)
    ]


def test_a_store_manager_moves_a_pickup_to_a_store_that_holds_the_stock(
    customer, shop, django_capture_on_commit_callbacks
):
    coat = shop.sku(store=2, other=3)
    order = _place(customer, shop, coat, quantity=2)
    manager = _api(_member("store_manager", shop.store))

    with django_capture_on_commit_callbacks(execute=True):
        response = _reroute(manager, order, shop.other_store.code)

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["location"]) == ("placed", shop.other_store.code)
    order.refresh_from_db()
    assert (order.location_id, order.store_id) == (shop.other_store.pk, shop.other_store.pk)
    assert _levels(coat, shop.store, shop.other_store) == [(2, 0), (3, 2)]
    assert (
        Reservation.objects.get(reference=order.reference, status="open").level.location_id
        == shop.other_store.pk
    )
    moved = OrderTransition.objects.filter(order=order).last()
    assert moved.note == f"re-routed from {shop.store.code} to {shop.other_store.code}"
    assert moved.actor_user.email == "store_manager-m@staff.example.com"
    assert [m.subject for m in mail.outbox if order.number in m.subject][-1] == (
        f"Order {order.number} moves to another store"
    )
    assert verify_ledger() == []
    assert loyalty_verify() == []
    assert facts_verify() == []


def test_a_store_without_the_units_is_refused_and_nothing_moves(customer, shop):
    coat = shop.sku(store=2, other=1)
    order = _place(customer, shop, coat, quantity=2)
    manager = _api(_member("store_manager", shop.store))

    response = _reroute(manager, order, shop.other_store.code)

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "insufficient_stock"
    assert error["details"]["lines"][0]["available"] == 1
    assert Order.objects.get(pk=order.pk).location_id == shop.store.pk
    assert _levels(coat, shop.store, shop.other_store) == [(2, 2), (1, 0)]


def test_only_a_member_with_the_permission_at_the_orders_store_may_re_route(customer, shop):
    coat = shop.sku(store=1, other=1)
    order = _place(customer, shop, coat)

    associate = _api(_member("store_associate", shop.store))
    assert _reroute(associate, order, shop.other_store.code).status_code == 403
    other_manager = _api(_member("store_manager", shop.other_store, name="y"))
    hidden = _reroute(other_manager, order, shop.other_store.code)
    assert (hidden.status_code, hidden.json()["error"]["code"]) == (404, "order_not_found")
    assert _reroute(APIClient(), order, shop.other_store.code).status_code in (401, 403)
    assert Order.objects.get(pk=order.pk).location_id == shop.store.pk


def test_bad_input_is_a_4xx_in_the_error_shape(customer, shop):
    order = _place(customer, shop, shop.sku(store=1, other=1))
    manager = _api(_member("store_manager", shop.store))

    missing = manager.post(f"/api/v1/staff/orders/{order.number}/reroute/", {}, format="json")
    assert (missing.status_code, missing.json()["error"]["code"]) == (400, "validation_error")
    same = _reroute(manager, order, shop.store.code)
    assert (same.status_code, same.json()["error"]["code"]) == (422, "invalid_pickup_location")
    warehouse = _reroute(manager, order, shop.warehouse.code)
    assert (warehouse.status_code, warehouse.json()["error"]["code"]) == (
        422,
        "invalid_pickup_location",
    )
    unknown = _reroute(manager, order, "NOWHERE")
    assert unknown.status_code == 404
    services.order_transition(order=order, target="cancelled", actor="staff")
    closed = _reroute(manager, order, shop.other_store.code)
    assert (closed.status_code, closed.json()["error"]["code"]) == (409, "illegal_transition")


def test_the_order_admin_re_routes_one_order_through_its_action(customer, shop):
    coat = shop.sku(store=1, other=1)
    order = _place(customer, shop, coat)
    browser = Client()
    browser.force_login(_member("store_manager", shop.store))

    chosen = browser.post(
        "/admin/orders/order/",
        {"action": "reroute_order", "_selected_action": [order.pk]},
    )
    assert chosen.status_code == 302
    page = browser.get(chosen.url)
    assert page.status_code == 200
    assert shop.other_store.code in page.content.decode()

    moved = browser.post(chosen.url, {"location": shop.other_store.code})
    assert moved.status_code == 302
    assert Order.objects.get(pk=order.pk).location_id == shop.other_store.pk
    assert _levels(coat, shop.store, shop.other_store) == [(1, 0), (1, 1)]

    # Now another store's order: the page is not found for this manager.
    assert browser.get(chosen.url).status_code == 404
    associate = Client()
    associate.force_login(_member("store_associate", shop.store))
    assert associate.get(chosen.url).status_code == 403
