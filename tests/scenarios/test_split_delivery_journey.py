"""Split delivery, through the public API: a customer orders a coat only store A holds and
boots only the warehouse holds, for delivery. The cart shows two shipments and the fee;
checkout reserves each line at its own location; store A and the warehouse each ship their
parcel (carrier and tracking number), the order is shipped when both are and delivered
when both arrived; the points are earned on the goods, not on the fee. Every ledger agrees
after each step."""

from decimal import Decimal

import pytest
from django.core import mail
from rest_framework.test import APIClient

from inventory.models import Location, StockLevel
from inventory.services import location_save, verify_ledger
from loyalty.selectors import balance_get
from loyalty.services import verify as loyalty_verify
from orders.models import Order, Tender
from reports.services import facts_verify
from tests.factories.customers import CustomerWithLoginFactory
from tests.factories.loyalty import LoyaltyRulesFactory
from tests.factories.orders import order_staff
from tests.factories.pricing import ShippingRateFactory

pytestmark = pytest.mark.django_db


def _ledgers_agree():
    assert verify_ledger() == []
    assert loyalty_verify() == []
    assert facts_verify() == []


def _level(variant, location):
    level = StockLevel.objects.get(variant=variant, location=location)
    return (level.on_hand, level.reserved)


def test_a_delivery_split_across_a_store_and_the_warehouse_ships_in_two_parcels(
    shop, django_capture_on_commit_callbacks
):
    LoyaltyRulesFactory()
    ShippingRateFactory()  # 4.95, VAT 19 %, free from 100.00
    store = Location.objects.get(pk=shop.store.pk)
    store.ships_online = True
    location_save(location=store)
    coat = shop.sku(price="60.00", store=2, warehouse=0)
    boots = shop.sku(price="30.00", store=0, warehouse=3)
    customer = CustomerWithLoginFactory()
    app = APIClient()
    app.force_authenticate(customer.user)

    token = app.post("/api/v1/carts/", {"channel": "app"}, format="json").json()["token"]
    app.post(f"/api/v1/carts/{token}/lines/", {"sku": coat.sku, "quantity": 1}, format="json")
    app.post(f"/api/v1/carts/{token}/lines/", {"sku": boots.sku, "quantity": 1}, format="json")
    address = {"street": "Invalidenstr. 1", "postal_code": "10115", "city": "Berlin"}
    cart = app.patch(
        f"/api/v1/carts/{token}/",
        {"fulfilment_type": "delivery", "delivery_address": address},
        format="json",
    ).json()
    # Shown before checkout: two shipments (no one location holds both), and the fee.
    assert cart["fulfilment"]["ready"] is True
    assert {s["from"]: s["lines"] for s in cart["fulfilment"]["shipments"]} == {
        shop.store.code: [{"sku": coat.sku, "quantity": 1}],
        shop.warehouse.code: [{"sku": boots.sku, "quantity": 1}],
    }
    quote = cart["quote"]
    assert quote["shipping"] == {
        "method": "standard",
        "name": "Standard delivery",
        "amount": "4.95",
        "vat_rate": "19.00",
        "vat_amount": "0.79",
    }
    assert (quote["subtotal"], quote["total"]) == ("90.00", "94.95")
    assert {v["rate"]: v["amount"] for v in quote["vat"]} == {"19.00": "0.79", "20.00": "15.00"}

    with django_capture_on_commit_callbacks(execute=True):
        placed = app.post(
            "/api/v1/checkout/",
            {
                "cart": token,
                "fulfilment": {"type": "delivery", "address": address},
                "payment": {"provider": "test", "token": "tok_ok"},
                "expected_total": "94.95",
            },
            format="json",
            HTTP_IDEMPOTENCY_KEY="split-1",
        )
    assert placed.status_code == 201, placed.content
    order = placed.json()
    number = order["number"]
    assert (order["total"], order["shipping_total"], order["amount_due"]) == (
        "94.95",
        "4.95",
        "94.95",
    )
    parcels = {s["location"]: s for s in order["shipments"]}
    assert {code: s["lines"] for code, s in parcels.items()} == {
        shop.store.code: [coat.sku],
        shop.warehouse.code: [boots.sku],
    }
    # Each line is reserved at its own location.
    assert _level(coat, shop.store) == (2, 1)
    assert _level(boots, shop.warehouse) == (3, 1)
    assert [m.subject for m in mail.outbox] == [f"Order {number} received"]
    _ledgers_agree()

    # Store A ships its parcel: its stock is sold, the order waits for the other one.
    store_staff = APIClient()
    store_staff.force_login(order_staff(shop.store, "ship_order"))
    warehouse_staff = APIClient()
    warehouse_staff.force_login(order_staff(shop.warehouse, "ship_order"))
    ambiguous = store_staff.post(f"/api/v1/staff/orders/{number}/ship/")
    assert (ambiguous.status_code, ambiguous.json()["error"]["code"]) == (422, "shipment_required")
    theirs = warehouse_staff.post(
        f"/api/v1/staff/orders/{number}/ship/",
        {"shipment": parcels[shop.store.code]["id"]},
        format="json",
    )
    assert (theirs.status_code, theirs.json()["error"]["code"]) == (404, "order_not_found")
    shipped_a = store_staff.post(
        f"/api/v1/staff/orders/{number}/ship/",
        {"shipment": parcels[shop.store.code]["id"], "carrier": "DHL", "tracking_number": "JJD1"},
        format="json",
    )
    assert shipped_a.status_code == 200, shipped_a.content
    assert shipped_a.json()["status"] == "placed"
    assert _level(coat, shop.store) == (1, 0)
    assert _level(boots, shop.warehouse) == (3, 1)
    assert Tender.objects.get(order__number=number).status == "authorized"
    # Part of it is on its way: the customer can no longer cancel.
    refused = app.post(f"/api/v1/orders/{number}/cancel/")
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "illegal_transition")
    assert refused.json()["error"]["details"]["reason"] == "partly_shipped"
    _ledgers_agree()

    # The warehouse ships the other (the only one left: no id needed): the order is shipped
    # and the whole amount, fee included, captured.
    with django_capture_on_commit_callbacks(execute=True):
        shipped = warehouse_staff.post(
            f"/api/v1/staff/orders/{number}/ship/",
            {"carrier": "UPS", "tracking_number": "1Z9"},
            format="json",
        )
    assert shipped.status_code == 200, shipped.content
    body = shipped.json()
    assert body["status"] == "shipped"
    assert {s["location"]: (s["carrier"], s["tracking_number"]) for s in body["shipments"]} == {
        shop.store.code: ("DHL", "JJD1"),
        shop.warehouse.code: ("UPS", "1Z9"),
    }
    assert all(s["shipped_at"] and not s["delivered_at"] for s in body["shipments"])
    assert _level(boots, shop.warehouse) == (2, 0)
    tender = Tender.objects.get(order__number=number)
    assert (tender.status, tender.amount) == ("captured", Decimal("94.95"))
    assert mail.outbox[-1].subject == f"Order {number} shipped"
    _ledgers_agree()

    # Each parcel arrives; the order is delivered with the second, and points are earned
    # on the 90.00 of goods (the fee earns none).
    first = store_staff.post(
        f"/api/v1/staff/orders/{number}/deliver/",
        {"shipment": parcels[shop.store.code]["id"]},
        format="json",
    )
    assert (first.status_code, first.json()["status"]) == (200, "shipped")
    assert balance_get(customer=customer) == 0
    again = store_staff.post(
        f"/api/v1/staff/orders/{number}/deliver/",
        {"shipment": parcels[shop.store.code]["id"]},
        format="json",
    )
    assert again.json()["error"]["details"]["reason"] == "already_delivered"
    # The only parcel still on its way: no id needed.
    second = warehouse_staff.post(f"/api/v1/staff/orders/{number}/deliver/")
    assert (second.status_code, second.json()["status"]) == (200, "delivered")
    assert all(s["delivered_at"] for s in second.json()["shipments"])
    assert balance_get(customer=customer) == 90
    assert Order.objects.get(number=number).status == "delivered"
    _ledgers_agree()
