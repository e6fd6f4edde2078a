"""After commit nothing fails the request: a notification that cannot be sent is logged and
left for the worker's retries, and the committed checkout or transition still answers 2xx."""

import pytest
from django.core.mail import BadHeaderError
from django.test import override_settings
from rest_framework.test import APIClient

from orders import services
from orders.models import Notification, Order
from tests.factories.orders import order_staff

pytestmark = pytest.mark.django_db


class BrokenChannel:
    """An email gateway that refuses every message (as SMTP does a header injection)."""

    channel = "email"

    def recipient(self, message) -> str:
        return message.email or "someone@example.com"

    def send(self, message) -> None:
        raise BadHeaderError("Header values can't contain newlines")


@override_settings(ORDER_NOTIFIERS=[f"{__name__}.BrokenChannel"])
def test_a_failing_notification_never_fails_a_committed_checkout_or_transition(
    customer, customer_client, shop, django_capture_on_commit_callbacks, caplog
):
    variant = shop.sku(store=5)
    cart = services.cart_get_current(customer=customer, channel="web")
    services.cart_line_add(cart=cart, sku=variant.sku, quantity=1)
    body = {
        "cart": str(cart.token),
        "fulfilment": {"type": "pickup", "location": shop.store.code},
        "payment": {"provider": "test", "token": "tok_ok"},
    }
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        placed = customer_client.post(
            "/api/v1/checkout/", body, format="json", HTTP_IDEMPOTENCY_KEY="n-1"
        )
    assert placed.status_code == 201, placed.content
    assert len(callbacks) == 1  # the notification was queued on commit, and it failed
    number = placed.json()["number"]
    staff = APIClient()
    staff.force_authenticate(order_staff(shop.store))
    with django_capture_on_commit_callbacks(execute=True):
        ready = staff.post(f"/api/v1/staff/orders/{number}/ready/", {}, format="json")
    assert ready.status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        cancelled = staff.post(f"/api/v1/staff/orders/{number}/cancel/", {}, format="json")
    assert cancelled.status_code == 200
    assert Order.objects.get(number=number).status == "cancelled"
    # Nothing is marked sent, so the worker's retry sends it once the gateway works again.
    assert not Notification.objects.filter(sent_at__isnull=False).exists()
    assert "could not be queued or failed" in caplog.text
