"""The whole buy-online-pick-up-in-store journey across channels, through the public API.

Anonymous cart in the app → login on the web → merged cart → pickup checkout → staff marks
ready → the customer is notified → handed over → the stock ledger shows the sale at that store.
"""

import pytest
from django.core import mail
from rest_framework.test import APIClient

from inventory.models import StockLevel, StockMovement
from inventory.services import verify_ledger
from tests.factories.customers import CustomerWithLoginFactory
from tests.factories.orders import order_staff

pytestmark = pytest.mark.django_db


def test_app_cart_web_login_pickup_checkout_ready_collected(
    shop, django_capture_on_commit_callbacks
):
    jacket = shop.sku(price="89.90", store=3, warehouse=10)
    socks = shop.sku(price="4.99", store=10, warehouse=10)
    customer = CustomerWithLoginFactory()

    # In the app, not logged in: an anonymous cart.
    app = APIClient()
    token = app.post("/api/v1/carts/", {"channel": "app"}, format="json").json()["token"]
    app.post(f"/api/v1/carts/{token}/lines/", {"sku": jacket.sku, "quantity": 1}, format="json")
    app.post(f"/api/v1/carts/{token}/lines/", {"sku": socks.sku, "quantity": 3}, format="json")

    # On the website: log in, passing the app's cart token; the carts merge.
    web = APIClient()
    login = web.post(
        "/api/v1/auth/token/",
        {"login": customer.phone, "password": "secret-pass-123", "cart_token": token},
        format="json",
    ).json()
    web.credentials(HTTP_AUTHORIZATION=f"Token {login['token']}")
    assert login["cart_merge"]["merged"] is True
    cart = web.get("/api/v1/carts/current/").json()
    assert {(line["sku"], line["quantity"]) for line in cart["lines"]} == {
        (jacket.sku, 1),
        (socks.sku, 3),
    }
    cart = web.patch(
        f"/api/v1/carts/{cart['token']}/", {"pickup_location": shop.store.code}, format="json"
    ).json()
    assert cart["quote"]["total"] == "104.87"
    assert all(line["in_stock"] for line in cart["lines"])

    # Checkout for pickup in the Berlin store.
    with django_capture_on_commit_callbacks(execute=True):
        placed = web.post(
            "/api/v1/checkout/",
            {
                "cart": cart["token"],
                "channel": "web",
                "fulfilment": {"type": "pickup", "location": shop.store.code},
                "payment": {"provider": "test", "token": "tok_ok"},
                "expected_total": "104.87",
            },
            format="json",
            HTTP_IDEMPOTENCY_KEY="journey-1",
        )
    assert placed.status_code == 201, placed.content
    order = placed.json()
    assert order["channel"] == "web" and order["status"] == "placed"
    level = StockLevel.objects.get(variant=jacket, location=shop.store)
    assert (level.on_hand, level.reserved) == (3, 1)

    # Store staff prepare it; the customer is told it is ready, with the pickup code.
    staff = APIClient()
    staff.force_authenticate(order_staff(shop.store))
    queue = staff.get("/api/v1/staff/pickups/").json()
    assert [o["number"] for o in queue["to_prepare"]] == [order["number"]]
    with django_capture_on_commit_callbacks(execute=True):
        staff.post(f"/api/v1/staff/orders/{order['number']}/ready/")
    ready_mail = mail.outbox[-1]
    assert ready_mail.subject == f"Order {order['number']} is ready for pickup"
    assert ready_mail.to == [customer.email]
    assert order["pickup_code"] in ready_mail.body

    # The customer shows the code at the counter; staff hand the order over.
    handed = staff.post(
        f"/api/v1/staff/orders/{order['number']}/handover/",
        {"pickup_code": order["pickup_code"]},
        format="json",
    )
    assert handed.json()["status"] == "collected"

    # The stock ledger shows the sale at that store; the levels agree with it.
    level.refresh_from_db()
    assert (level.on_hand, level.reserved) == (2, 0)
    sales = StockMovement.objects.filter(kind="sale", reference=f"order:{order['number']}")
    assert {(m.level.location_id, m.level.variant_id) for m in sales} == {
        (shop.store.pk, jacket.pk),
        (shop.store.pk, socks.pk),
    }
    assert verify_ledger() == []

    # The customer sees the order, collected, in their history and timeline.
    mine = web.get(f"/api/v1/orders/{order['number']}/").json()
    assert [t["to_status"] for t in mine["transitions"]] == [
        "placed",
        "ready_for_pickup",
        "collected",
    ]
    timeline = web.get("/api/v1/me/timeline/").json()
    kinds = [entry["kind"] for entry in timeline["results"]]
    assert "order_collected" in kinds and "order_placed" in kinds
