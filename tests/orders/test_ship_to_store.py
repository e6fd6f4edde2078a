"""Ship-to-store: what the cart offers, what checkout reserves and sends, what receiving the
transfer does to the order, and what happens when the goods are short, lost or no longer
wanted. Ledgers are verified after each."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client
from rest_framework.test import APIClient

from backoffice.selectors import short_pickups_count
from inventory.errors import InsufficientStock
from inventory.models import StockLevel, Transfer, TransferLeadTime
from inventory.services import transfer_lead_time_save, transfer_receive, verify_ledger
from loyalty.services import verify as loyalty_verify
from orders import selectors, services
from orders.models import Order
from reports.services import facts_verify
from staff.services import staff_member_create
from tests.factories.orders import CARD

pytestmark = pytest.mark.django_db


def _route(source, destination, days):
    return transfer_lead_time_save(
        lead_time=TransferLeadTime(source=source, destination=destination, days=days)
    )


def _cart(customer, shop, *lines):
    cart = services.cart_get_current(customer=customer, channel="web")
    for variant, quantity in lines:
        services.cart_line_add(cart=cart, sku=variant.sku, quantity=quantity)
    return services.cart_update(cart=cart, pickup_location=shop.store.code)


def _checkout(customer, shop, cart, *, allow_transfer=True):
    return services.checkout_place(
        cart=cart,
        customer=customer,
        fulfilment={
            "type": "pickup",
            "location": shop.store.code,
            "allow_transfer": allow_transfer,
        },
        payment=CARD,
    )


def _level(variant, location):
    level = StockLevel.objects.filter(variant=variant, location=location).first()
    return (level.on_hand, level.reserved) if level else (0, 0)


def _ledgers_agree():
    assert verify_ledger() == []
    assert loyalty_verify() == []
    assert facts_verify() == []


def _staff(role, store, name="s"):
    user = staff_member_create(
        email=f"{role}-{name}@staff.example.com",
        password="Quiet-Harbour-4821",
        role=role,
        locations=[store] if store else [],
    )
    return type(user).objects.get(pk=user.pk)


def test_without_allow_transfer_a_short_pickup_is_refused_as_before(customer, shop):
    coat = shop.sku(store=0, warehouse=2)
    _route(shop.warehouse, shop.store, 2)
    cart = _cart(customer, shop, (coat, 1))

    with pytest.raises(InsufficientStock):
        _checkout(customer, shop, cart, allow_transfer=False)

    assert not Order.objects.exists()
    assert not Transfer.objects.exists()
    assert _level(coat, shop.warehouse) == (2, 0)


def test_without_a_route_the_cart_says_so_and_checkout_lists_the_line(customer, shop):
    coat = shop.sku(store=0, warehouse=2)
    cart = _cart(customer, shop, (coat, 1))

    block = selectors.cart_view(cart=cart).fulfilment["ship_to_store"]
    assert block == {"possible": False, "ready_from": None, "lines": [], "unavailable": [coat.sku]}
    with pytest.raises(InsufficientStock) as refused:
        _checkout(customer, shop, cart)
    assert refused.value.details["lines"] == [{"sku": coat.sku, "requested": 1, "missing": 1}]
    assert not Order.objects.exists()
    _ledgers_agree()


def test_a_cart_the_store_holds_is_simply_reserved_there(customer, shop):
    shirt = shop.sku(store=2)
    _route(shop.warehouse, shop.store, 2)

    order = _checkout(customer, shop, _cart(customer, shop, (shirt, 1)))

    assert (order.status, order.ready_from) == ("placed", None)
    assert not Transfer.objects.exists()
    assert _level(shirt, shop.store) == (2, 1)


def test_the_store_keeps_what_it_has_and_only_the_rest_travels(customer, shop):
    boots = shop.sku(store=1, warehouse=5)
    _route(shop.warehouse, shop.store, 3)
    cart = _cart(customer, shop, (boots, 3))
    assert selectors.cart_view(cart=cart).fulfilment["ship_to_store"]["lines"] == [
        {"sku": boots.sku, "quantity": 2, "from": shop.warehouse.code}
    ]

    order = _checkout(customer, shop, cart)

    assert order.status == "in_transit"
    # Ready from the checkout's moment plus the route's lead time.
    assert abs(order.ready_from - order.placed_at - timedelta(days=3)) < timedelta(seconds=5)
    assert _level(boots, shop.store) == (1, 1)
    assert _level(boots, shop.warehouse) == (3, 0)
    transfer = Transfer.objects.get(reference=order.reference)
    assert [(line.variant_id, line.quantity) for line in transfer.lines.all()] == [(boots.pk, 2)]

    transfer_receive(transfer=transfer)
    services.order_transfer_arrived(number=order.number)

    order.refresh_from_db()
    assert order.status == "ready_for_pickup"
    assert _level(boots, shop.store) == (3, 3)
    _ledgers_agree()


def test_an_order_with_two_sources_is_ready_only_when_both_transfers_arrived(
    customer, shop, django_capture_on_commit_callbacks
):
    coat = shop.sku(store=0, warehouse=1)
    hat = shop.sku(store=0, warehouse=0, other=1)
    _route(shop.warehouse, shop.store, 2)
    _route(shop.other_store, shop.store, 1)
    cart = _cart(customer, shop, (coat, 1), (hat, 1))
    block = selectors.cart_view(cart=cart).fulfilment["ship_to_store"]
    assert block["lines"] == [
        {"sku": coat.sku, "quantity": 1, "from": shop.warehouse.code},
        {"sku": hat.sku, "quantity": 1, "from": shop.other_store.code},
    ]

    order = _checkout(customer, shop, cart)
    first, second = Transfer.objects.filter(reference=order.reference).order_by("source__code")

    with django_capture_on_commit_callbacks(execute=True):
        transfer_receive(transfer=first)
    assert Order.objects.get(pk=order.pk).status == "in_transit"
    with django_capture_on_commit_callbacks(execute=True):
        transfer_receive(transfer=second)
    assert Order.objects.get(pk=order.pk).status == "ready_for_pickup"
    assert (_level(coat, shop.store), _level(hat, shop.store)) == ((1, 1), (1, 1))
    _ledgers_agree()


def test_cancelling_in_transit_leaves_the_goods_as_the_receiving_stores_stock(
    customer, customer_client, shop, django_capture_on_commit_callbacks
):
    coat = shop.sku(store=0, warehouse=2)
    scarf = shop.sku(store=3)
    _route(shop.warehouse, shop.store, 2)
    order = _checkout(customer, shop, _cart(customer, shop, (coat, 1), (scarf, 1)))
    assert order.status == "in_transit"

    cancelled = customer_client.post(f"/api/v1/orders/{order.number}/cancel/")
    assert cancelled.status_code == 200, cancelled.content
    assert cancelled.json()["status"] == "cancelled"
    assert _level(scarf, shop.store) == (3, 0)  # the store's reservation is released
    assert Order.objects.get(pk=order.pk).tenders.get().status == "voided"

    transfer = Transfer.objects.get(reference=order.reference)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        transfer_receive(transfer=transfer)

    assert Order.objects.get(pk=order.pk).status == "cancelled"
    assert _level(coat, shop.store) == (1, 0)  # on the store's shelf, free to sell
    assert _level(coat, shop.warehouse) == (1, 0)
    assert mail.outbox == []
    _ledgers_agree()


def test_a_transfer_received_short_flags_the_order_for_the_store_to_cancel(customer, shop):
    coat = shop.sku(store=0, warehouse=2)
    _route(shop.warehouse, shop.store, 2)
    order = _checkout(customer, shop, _cart(customer, shop, (coat, 2)))
    transfer = Transfer.objects.get(reference=order.reference)

    transfer_receive(transfer=transfer, received={coat.pk: 1}, note="one box missing")
    services.order_transfer_arrived(number=order.number)
    services.order_transfer_arrived(number=order.number)  # a retried task: no change

    order.refresh_from_db()
    assert (order.status, order.needs_attention) == ("in_transit", True)
    assert "1 unit(s) short" in order.attention_note
    assert _level(coat, shop.store) == (1, 0)  # what arrived is on the shelf, not promised
    assert short_pickups_count(location_ids=[shop.store.pk]) == 1

    manager = APIClient()
    manager.force_login(_staff("store_manager", shop.store))
    response = manager.post(f"/api/v1/staff/orders/{order.number}/cancel/", {}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "cancelled"
    _ledgers_agree()


def test_a_lost_transfer_is_flagged_by_the_deadline_task(customer, shop):
    coat = shop.sku(store=0, warehouse=1)
    _route(shop.warehouse, shop.store, 1)
    order = _checkout(customer, shop, _cart(customer, shop, (coat, 1)))
    on_time = order.ready_from + timedelta(hours=1)
    late = order.ready_from + (settings.ORDER_ESCALATE_AFTER_HOURS + 1) * timedelta(hours=1)

    assert services.orders_enforce_prepare_deadlines(at=on_time).transfers_overdue == 0
    run = services.orders_enforce_prepare_deadlines(at=late)
    assert (run.transfers_overdue, run.cancelled) == (1, 0)
    assert services.orders_enforce_prepare_deadlines(at=late).transfers_overdue == 0

    order.refresh_from_db()
    assert (order.status, order.needs_attention) == ("in_transit", True)
    assert "overdue" in order.attention_note
    _ledgers_agree()


def test_a_till_sale_of_the_arrived_units_before_they_are_reserved_flags_the_order(customer, shop):
    coat = shop.sku(store=0, warehouse=1)
    _route(shop.warehouse, shop.store, 1)
    order = _checkout(customer, shop, _cart(customer, shop, (coat, 1)))
    transfer_receive(transfer=Transfer.objects.get(reference=order.reference))
    from inventory.services import stock_record_pos_sale

    stock_record_pos_sale(
        location=shop.store, lines=[(coat.pk, 1)], reference="pos:till-sold-the-coat"
    )

    services.order_transfer_arrived(number=order.number)

    order.refresh_from_db()
    assert (order.status, order.needs_attention) == ("in_transit", True)
    assert "till sale" in order.attention_note
    _ledgers_agree()


def test_head_office_opens_a_route_in_the_admin_and_a_store_manager_cannot(shop):
    head_office = Client()
    head_office.force_login(_staff("head_office", None, name="hq"))
    url = "/admin/inventory/transferleadtime/add/"

    same = head_office.post(url, {"source": shop.store.pk, "destination": shop.store.pk, "days": 1})
    assert same.status_code == 200  # the form again, with the problem
    assert "from one location to another" in same.content.decode()
    to_warehouse = head_office.post(
        url, {"source": shop.store.pk, "destination": shop.warehouse.pk, "days": 1}
    )
    assert "pickup store" in to_warehouse.content.decode()
    added = head_office.post(
        url, {"source": shop.warehouse.pk, "destination": shop.store.pk, "days": 2}
    )
    assert added.status_code == 302
    assert TransferLeadTime.objects.get().days == 2

    manager = Client()
    manager.force_login(_staff("store_manager", shop.store))
    assert manager.get(url).status_code == 403


def _short(customer, shop, *, ordered=2, arrived=1):
    coat = shop.sku(store=0, warehouse=ordered)
    if not TransferLeadTime.objects.filter(source=shop.warehouse, destination=shop.store):
        _route(shop.warehouse, shop.store, 2)
    order = _checkout(customer, shop, _cart(customer, shop, (coat, ordered)))
    transfer = Transfer.objects.get(reference=order.reference)
    transfer_receive(transfer=transfer, received={coat.pk: arrived}, note="short")
    services.order_transfer_arrived(number=order.number)
    order.refresh_from_db()
    assert order.needs_attention
    return order, coat


def _found(variant, store, units=1):
    from inventory.services import stock_receive

    stock_receive(location=store, lines=[(variant.pk, units)], reference="found:back-room")


def test_staff_make_a_short_order_ready_once_the_missing_units_are_found_at_the_store(
    customer, shop, django_capture_on_commit_callbacks
):
    order, coat = _short(customer, shop)
    associate = APIClient()
    associate.force_login(_staff("store_associate", shop.store))
    url = f"/api/v1/staff/orders/{order.number}/goods-at-store/"

    refused = associate.post(url)  # one of the two units is still missing
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "insufficient_stock"
    assert Order.objects.get(pk=order.pk).needs_attention
    assert _level(coat, shop.store) == (1, 0)

    _found(coat, shop.store)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = associate.post(url)

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["needs_attention"], body["attention_note"]) == (
        "ready_for_pickup",
        False,
        "",
    )
    assert body["pickup_expires_at"] is not None
    assert body["transitions"][-1]["actor_kind"] == "system"
    assert _level(coat, shop.store) == (2, 2)
    assert any(order.number in m.subject for m in mail.outbox)
    again = associate.post(url)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "illegal_transition")
    _ledgers_agree()


def test_a_lost_transfers_order_is_made_ready_from_the_stores_shelf_and_the_parcel_adds_to_stock(
    customer, shop, django_capture_on_commit_callbacks
):
    coat = shop.sku(store=0, warehouse=1)
    _route(shop.warehouse, shop.store, 1)
    order = _checkout(customer, shop, _cart(customer, shop, (coat, 1)))
    services.orders_enforce_prepare_deadlines(
        at=order.ready_from + (settings.ORDER_ESCALATE_AFTER_HOURS + 1) * timedelta(hours=1)
    )
    _found(coat, shop.store)  # the store restocked the coat meanwhile

    services.order_goods_at_store(order=order, user=_staff("store_associate", shop.store))

    order.refresh_from_db()
    assert (order.status, order.needs_attention) == ("ready_for_pickup", False)
    assert _level(coat, shop.store) == (1, 1)
    # The lost parcel turns up: it is the store's stock, the order is left as it is.
    with django_capture_on_commit_callbacks(execute=True):
        transfer_receive(transfer=Transfer.objects.get(reference=order.reference))
    assert Order.objects.get(pk=order.pk).status == "ready_for_pickup"
    assert _level(coat, shop.store) == (2, 1)
    _ledgers_agree()


def test_another_stores_staff_cannot_make_the_order_ready_and_it_answers_like_a_missing_one(
    customer, shop
):
    order, coat = _short(customer, shop)
    _found(coat, shop.store)
    other = APIClient()
    other.force_login(_staff("store_manager", shop.other_store))

    response = other.post(f"/api/v1/staff/orders/{order.number}/goods-at-store/")

    assert (response.status_code, response.json()["error"]["code"]) == (404, "order_not_found")
    assert Order.objects.get(pk=order.pk).status == "in_transit"


def test_the_order_list_action_makes_a_found_order_ready_and_reports_a_short_one(customer, shop):
    found, coat = _short(customer, shop)
    still_short, _hat = _short(customer, shop)
    _found(coat, shop.store)
    browser = Client()
    browser.force_login(_staff("store_associate", shop.store))

    response = browser.post(
        "/admin/orders/order/",
        {"action": "goods_at_store", "_selected_action": [found.pk, still_short.pk]},
        follow=True,
    )

    assert response.status_code == 200
    page = response.content.decode()
    assert "1 order(s) ready for pickup." in page
    assert still_short.number in page  # its error message
    assert Order.objects.get(pk=found.pk).status == "ready_for_pickup"
    assert Order.objects.get(pk=still_short.pk).status == "in_transit"
