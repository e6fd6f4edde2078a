"""Store staff act only within their permission and their store; pickup codes cannot be guessed."""

import pytest
from django.core.cache import cache
from django.test import override_settings
from rest_framework.test import APIClient

from orders import services
from orders.models import Order, PickupCodeAttempt
from tests.factories.inventory import LocationStaffFactory
from tests.factories.orders import CARD, order_staff

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_throttles():
    cache.clear()
    yield
    cache.clear()


def _ready_order(customer, shop):
    cart = services.cart_get_current(customer=customer, channel="web")
    services.cart_line_add(cart=cart, sku=shop.sku(store=5).sku, quantity=1)
    order = services.checkout_place(
        cart=cart,
        customer=customer,
        fulfilment={"type": "pickup", "location": shop.store.code},
        payment=CARD,
    )
    return services.order_transition(order=order, target="ready_for_pickup", actor="staff")


def _client(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def _wrong(code: str) -> str:
    return "000000" if code != "000000" else "111111"


def test_staff_without_the_permission_cannot_see_the_queue_or_hand_over(customer, shop):
    order = _ready_order(customer, shop)
    bare = _client(LocationStaffFactory(location=shop.store).user)  # the store, no permission
    assert bare.get("/api/v1/staff/pickups/").status_code == 403
    response = bare.post(
        f"/api/v1/staff/orders/{order.number}/handover/",
        {"pickup_code": order.pickup_code},
        format="json",
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert Order.objects.get(pk=order.pk).status == "ready_for_pickup"


def test_the_pickup_queue_permission_does_not_allow_cancelling(customer, shop):
    order = _ready_order(customer, shop)
    associate = _client(order_staff(shop.store, "work_pickup_queue"))
    response = associate.post(f"/api/v1/staff/orders/{order.number}/cancel/", {}, format="json")
    assert response.status_code == 403
    assert Order.objects.get(pk=order.pk).status == "ready_for_pickup"
    manager = _client(order_staff(shop.store, "work_pickup_queue", "cancel_order"))
    ok = manager.post(f"/api/v1/staff/orders/{order.number}/cancel/", {}, format="json")
    assert ok.status_code == 200


@override_settings(PICKUP_CODE_MAX_ATTEMPTS=3, PICKUP_CODE_LOCK_MINUTES=30)
def test_wrong_pickup_codes_are_recorded_and_lock_the_handover(customer, shop):
    order = _ready_order(customer, shop)
    staff = _client(order_staff(shop.store))
    url = f"/api/v1/staff/orders/{order.number}/handover/"
    for _ in range(3):
        wrong = staff.post(url, {"pickup_code": _wrong(order.pickup_code)}, format="json")
        assert wrong.status_code == 422
        assert wrong.json()["error"]["code"] == "wrong_pickup_code"
    attempts = PickupCodeAttempt.objects.filter(order=order)
    assert attempts.count() == 3 and not attempts.filter(succeeded=True).exists()
    # Locked: even the right code is refused now, with a Retry-After in the error shape.
    locked = staff.post(url, {"pickup_code": order.pickup_code}, format="json")
    assert locked.status_code == 429
    assert locked.json()["error"]["code"] == "pickup_code_locked"
    assert 0 < int(locked["Retry-After"]) <= 30 * 60
    assert Order.objects.get(pk=order.pk).status == "ready_for_pickup"


@override_settings(PICKUP_HANDOVER_RATE="2/minute", PICKUP_CODE_MAX_ATTEMPTS=100)
def test_a_member_of_staff_cannot_try_pickup_codes_in_bulk(customer, shop):
    orders = [_ready_order(customer, shop) for _ in range(3)]
    staff = _client(order_staff(shop.store))
    statuses = [
        staff.post(
            f"/api/v1/staff/orders/{order.number}/handover/",
            {"pickup_code": _wrong(order.pickup_code)},
            format="json",
        )
        for order in orders
    ]
    assert [r.status_code for r in statuses] == [422, 422, 429]
    assert statuses[2].json()["error"]["code"] == "throttled"
    assert "Retry-After" in statuses[2]
