"""Order status flows: staff actions per store, the customer's cancel, expiry, notifications."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from rest_framework.test import APIClient

from inventory.models import StockLevel, StockMovement
from inventory.services import verify_ledger
from orders import services
from orders.models import Notification, Order, OrderTransition
from orders.tasks import order_notify
from tests.factories.orders import CARD, order_staff

pytestmark = pytest.mark.django_db


def _place(customer, shop, *, variant=None, quantity=1, location=None, delivery=False):
    variant = variant or shop.sku(store=5, warehouse=5)
    cart = services.cart_get_current(customer=customer, channel="web")
    services.cart_line_add(cart=cart, sku=variant.sku, quantity=quantity)
    fulfilment = (
        {"type": "delivery", "address": {"line1": "Main St 1"}}
        if delivery
        else {"type": "pickup", "location": (location or shop.store).code}
    )
    return services.checkout_place(
        cart=cart, customer=customer, fulfilment=fulfilment, payment=CARD
    )


def _staff_client(location):
    staff = order_staff(location)
    client = APIClient()
    client.force_authenticate(staff)
    return client


def _act(client, order, action, **body):
    return client.post(f"/api/v1/staff/orders/{order.number}/{action}/", body, format="json")


def test_staff_prepare_and_hand_over_a_pickup_and_the_ledger_shows_the_sale(customer, shop):
    variant = shop.sku(store=4)
    order = _place(customer, shop, variant=variant, quantity=2)
    staff = _staff_client(shop.store)

    ready = _act(staff, order, "ready")
    assert ready.status_code == 200, ready.content
    assert ready.json()["status"] == "ready_for_pickup"
    assert "pickup_code" not in ready.json()  # the customer shows it; staff don't read it off
    assert ready.json()["pickup_days_left"] == 5

    wrong = _act(
        staff,
        order,
        "handover",
        pickup_code="000000" if order.pickup_code != "000000" else "111111",
    )
    assert wrong.status_code == 422
    assert wrong.json()["error"]["code"] == "wrong_pickup_code"
    assert Order.objects.get(pk=order.pk).status == "ready_for_pickup"

    done = _act(staff, order, "handover", pickup_code=order.pickup_code)
    assert done.json()["status"] == "collected"
    level = StockLevel.objects.get(variant=variant, location=shop.store)
    assert (level.on_hand, level.reserved) == (2, 0)
    sale = StockMovement.objects.get(level=level, kind="sale")
    assert sale.reference == order.reference
    assert verify_ledger() == []
    history = list(OrderTransition.objects.filter(order=order).values_list("to_status", flat=True))
    assert history == ["placed", "ready_for_pickup", "collected"]


def test_a_staff_member_of_store_a_cannot_act_on_a_store_b_order(customer, shop):
    order = _place(customer, shop, location=shop.store)
    other_staff = _staff_client(shop.other_store)
    response = _act(other_staff, order, "ready")
    missing = _act(other_staff, type(order)(number="ZZZZZZZZ"), "ready")
    # Another store's order answers exactly like an order that does not exist.
    assert response.status_code == missing.status_code == 404
    assert response.json()["error"]["code"] == missing.json()["error"]["code"] == "order_not_found"
    assert response.json()["error"]["message"] == missing.json()["error"]["message"]
    assert Order.objects.get(pk=order.pk).status == "placed"
    queue = other_staff.get("/api/v1/staff/pickups/").json()
    assert queue == {
        "next": None,
        "previous": None,
        "incoming": [],
        "to_prepare": [],
        "waiting": [],
    }
    own = _staff_client(shop.store).get("/api/v1/staff/pickups/").json()
    assert [o["number"] for o in own["to_prepare"]] == [order.number]


def test_customers_cannot_use_the_staff_api(customer, customer_client, shop):
    order = _place(customer, shop)
    assert _act(customer_client, order, "ready").status_code == 403
    assert _act(APIClient(), order, "ready").status_code in (401, 403)
    assert Order.objects.get(pk=order.pk).status == "placed"


@pytest.mark.parametrize(
    ("delivery", "path", "action"),
    [
        (False, ["ready", "handover"], "ready"),
        (False, ["ready", "handover"], "cancel"),
        (False, [], "handover"),
        (False, [], "ship"),
        (False, [], "deliver"),
        (True, [], "deliver"),
        (True, [], "ready"),
        (True, ["ship"], "cancel"),
        (True, ["ship", "deliver"], "ship"),
    ],
)
def test_every_illegal_staff_transition_is_a_409_and_changes_nothing(
    customer, shop, delivery, path, action
):
    order = _place(customer, shop, delivery=delivery)
    location = order.location
    staff = _staff_client(location)
    for step in path:
        assert _act(staff, order, step, pickup_code=order.pickup_code).status_code == 200
    before = Order.objects.get(pk=order.pk).status
    transitions = OrderTransition.objects.count()
    response = _act(staff, order, action, pickup_code=order.pickup_code)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "illegal_transition"
    assert Order.objects.get(pk=order.pk).status == before
    assert OrderTransition.objects.count() == transitions
    assert verify_ledger() == []


def test_the_customer_cancels_before_ready_but_not_after(customer, customer_client, shop):
    variant = shop.sku(store=3)
    first = _place(customer, shop, variant=variant)
    response = customer_client.post(f"/api/v1/orders/{first.number}/cancel/")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert StockLevel.objects.get(variant=variant, location=shop.store).reserved == 0

    second = _place(customer, shop, variant=variant)
    _act(_staff_client(shop.store), second, "ready")
    late = customer_client.post(f"/api/v1/orders/{second.number}/cancel/")
    assert late.status_code == 409
    assert late.json()["error"]["details"]["reason"] == "actor_not_allowed"
    assert Order.objects.get(pk=second.pk).status == "ready_for_pickup"


def test_a_customer_sees_only_their_own_orders(customer, customer_client, shop):
    from tests.factories.customers import CustomerWithLoginFactory

    mine = _place(customer, shop)
    stranger = CustomerWithLoginFactory()
    theirs = _place(stranger, shop)
    assert customer_client.get(f"/api/v1/orders/{mine.number}/").status_code == 200
    assert customer_client.get(f"/api/v1/orders/{theirs.number}/").status_code == 404
    assert customer_client.post(f"/api/v1/orders/{theirs.number}/cancel/").status_code == 404
    assert Order.objects.get(pk=theirs.pk).status == "placed"
    listed = customer_client.get("/api/v1/me/orders/").json()["results"]
    assert [o["number"] for o in listed] == [mine.number]


def test_uncollected_pickups_expire_and_release_their_stock(customer, shop):
    variant = shop.sku(store=2)
    order = _place(customer, shop, variant=variant, quantity=2)
    services.order_transition(order=order, target="ready_for_pickup", actor="staff")
    assert services.orders_expire_uncollected() == 0  # not due yet
    later = timezone.now() + timedelta(days=6)
    assert services.orders_expire_uncollected(at=later) == 1
    assert services.orders_expire_uncollected(at=later) == 0  # safe to run twice
    assert Order.objects.get(pk=order.pk).status == "expired"
    level = StockLevel.objects.get(variant=variant, location=shop.store)
    assert (level.on_hand, level.reserved, level.available) == (2, 0, 2)
    assert verify_ledger() == []


def test_every_status_change_notifies_the_customer_once(
    customer, shop, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        order = _place(customer, shop)
    with django_capture_on_commit_callbacks(execute=True):
        services.order_transition(order=order, target="ready_for_pickup", actor="staff")
    subjects = [m.subject for m in mail.outbox]
    assert subjects == [
        f"Order {order.number} received",
        f"Order {order.number} is ready for pickup",
    ]
    assert mail.outbox[1].to == [customer.email]
    assert order.pickup_code in mail.outbox[1].body
    # A retried task sends nothing twice.
    assert order_notify.delay(order.pk, "ready_for_pickup").get() == 0
    assert len(mail.outbox) == 2
    assert Notification.objects.filter(order=order, sent_at__isnull=False).count() == 2
