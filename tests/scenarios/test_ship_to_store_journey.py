"""Ship-to-store, through the public API: a pickup in store A of a coat that only the
warehouse holds. The cart says it can come and from when; checkout with `allow_transfer`
sends it on a transfer naming the order (in transit); store A receives the transfer (the
order is ready, the customer told, the hold clock started); the customer collects it.
Every ledger agrees after each step."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from rest_framework.test import APIClient

from inventory.models import StockLevel, StockMovement, Transfer, TransferLeadTime
from inventory.services import transfer_lead_time_save, verify_ledger
from loyalty.selectors import balance_get
from loyalty.services import verify as loyalty_verify
from orders.models import Order
from reports.services import facts_verify
from staff.services import staff_member_create
from tests.factories.customers import CustomerWithLoginFactory
from tests.factories.loyalty import LoyaltyRulesFactory

pytestmark = pytest.mark.django_db


def _ledgers_agree():
    assert verify_ledger() == []
    assert loyalty_verify() == []
    assert facts_verify() == []


def _level(variant, location):
    level = StockLevel.objects.get(variant=variant, location=location)
    return (level.on_hand, level.reserved)


def test_a_coat_only_in_the_warehouse_travels_to_store_a_and_is_collected_there(
    shop, django_capture_on_commit_callbacks
):
    LoyaltyRulesFactory()
    coat = shop.sku(price="120.00", store=0, warehouse=3)
    scarf = shop.sku(price="20.00", store=4, warehouse=0)
    # Head office opened the route warehouse → store A: two days.
    transfer_lead_time_save(
        lead_time=TransferLeadTime(source=shop.warehouse, destination=shop.store, days=2)
    )
    customer = CustomerWithLoginFactory()
    app = APIClient()
    app.force_authenticate(customer.user)

    # The cart for pickup in store A: the scarf is there, the coat can come by transfer.
    token = app.post("/api/v1/carts/", {"channel": "app"}, format="json").json()["token"]
    app.post(f"/api/v1/carts/{token}/lines/", {"sku": coat.sku, "quantity": 1}, format="json")
    app.post(f"/api/v1/carts/{token}/lines/", {"sku": scarf.sku, "quantity": 1}, format="json")
    cart = app.patch(
        f"/api/v1/carts/{token}/", {"pickup_location": shop.store.code}, format="json"
    ).json()
    ready_from = (timezone.localtime(timezone.now()) + timedelta(days=2)).date().isoformat()
    assert cart["fulfilment"] == {
        "ready": False,
        "reason": "insufficient_stock",
        "ship_to_store": {
            "possible": True,
            "ready_from": ready_from,
            "lines": [{"sku": coat.sku, "quantity": 1, "from": shop.warehouse.code}],
            "unavailable": [],
        },
    }
    # Showing the cart wrote nothing: no reservation, no transfer.
    assert not Transfer.objects.exists()

    # Checkout with allow_transfer: the coat leaves the warehouse for store A at once.
    with django_capture_on_commit_callbacks(execute=True):
        placed = app.post(
            "/api/v1/checkout/",
            {
                "cart": token,
                "fulfilment": {
                    "type": "pickup",
                    "location": shop.store.code,
                    "allow_transfer": True,
                },
                "payment": {"provider": "test", "token": "tok_ok"},
                "expected_total": "140.00",
            },
            format="json",
            HTTP_IDEMPOTENCY_KEY="ship-to-store-1",
        )
    assert placed.status_code == 201, placed.content
    order = placed.json()
    number = order["number"]
    assert order["status"] == "in_transit"
    assert [t["to_status"] for t in order["transitions"]] == ["placed", "in_transit"]
    assert order["ready_from"] is not None
    transfer = Transfer.objects.get(reference=f"order:{number}")
    assert (transfer.source, transfer.destination, transfer.status) == (
        shop.warehouse,
        shop.store,
        "in_transit",
    )
    assert _level(coat, shop.warehouse) == (2, 0)  # reserved for the order, then sent
    assert _level(scarf, shop.store) == (4, 1)  # what the store has is reserved there
    sent = StockMovement.objects.filter(level__variant=coat, level__location=shop.warehouse)
    assert [(m.kind, m.on_hand_delta, m.reserved_delta) for m in sent.order_by("pk")][-2:] == [
        ("reservation", 0, 1),
        ("transfer_out", -1, -1),
    ]
    assert [m.subject for m in mail.outbox] == [f"Order {number} received"]
    _ledgers_agree()

    # The customer cannot collect yet, and staff cannot mark it ready by hand.
    associate = staff_member_create(
        email="associate@staff.example.com",
        password="Quiet-Harbour-4821",
        role="store_associate",
        locations=[shop.store],
    )
    staff = APIClient()
    staff.force_login(associate)
    early = staff.post(f"/api/v1/staff/orders/{number}/ready/")
    assert (early.status_code, early.json()["error"]["code"]) == (409, "illegal_transition")

    # Store A receives the transfer: the order is ready, the customer told, the clock runs.
    with django_capture_on_commit_callbacks(execute=True):
        received = staff.post(
            f"/api/v1/inventory/transfers/{transfer.number}/receive/",
            HTTP_IDEMPOTENCY_KEY="receive-1",
        )
    assert received.status_code == 200, received.content
    ready = Order.objects.get(number=number)
    assert ready.status == "ready_for_pickup"
    assert ready.pickup_expires_at is not None
    assert _level(coat, shop.store) == (1, 1)  # arrived, and reserved for the order
    assert mail.outbox[-1].subject == f"Order {number} is ready for pickup"
    shown = app.get(f"/api/v1/orders/{number}/").json()
    assert [t["to_status"] for t in shown["transitions"]] == [
        "placed",
        "in_transit",
        "ready_for_pickup",
    ]
    assert shown["pickup_days_left"] == 5
    _ledgers_agree()

    # Collected at store A: the sale is there, and the points are earned.
    handed = staff.post(
        f"/api/v1/staff/orders/{number}/handover/",
        {"pickup_code": order["pickup_code"]},
        format="json",
    )
    assert handed.status_code == 200, handed.content
    assert handed.json()["status"] == "collected"
    assert _level(coat, shop.store) == (0, 0)
    assert _level(scarf, shop.store) == (3, 0)
    assert balance_get(customer=customer) == 140
    _ledgers_agree()
