"""An assisted order: an associate in store B sells a customer a coat that store B does not
have, for pickup in store C, through the public API.

The associate finds the customer by loyalty card, adds the coat from another store's stock,
asks for the customer's confirmation code to use their coupon and points, and checks out
for pickup in C. The order is in the customer's app at once, of channel store_assisted,
recording the associate and store B; store C prepares and hands it over; the points it
earns carry the channel. Afterwards the stock ledger, the points ledger and the report
rows agree with what happened, and the reports show the new channel.
"""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from rest_framework.test import APIClient

from inventory.models import StockLevel, StockMovement
from inventory.services import verify_ledger
from loyalty.models import LoyaltyEntry
from loyalty.services import points_adjust
from loyalty.services import verify as loyalty_verify
from orders.models import AssistedSale
from reports.services import facts_verify
from tests.factories.customers import CustomerWithLoginFactory
from tests.factories.loyalty import LoyaltyRulesFactory
from tests.factories.orders import role_staff
from tests.factories.pricing import CouponFactory

pytestmark = pytest.mark.django_db


def _session(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def test_an_associate_in_store_b_sells_a_coat_for_pickup_in_store_c(
    shop, django_capture_on_commit_callbacks
):
    store_b, store_c = shop.other_store, shop.store
    LoyaltyRulesFactory()  # 1 point per unit of money; a point pays 0.10, up to half
    coat = shop.sku(price="150.00", store=2, warehouse=6, other=0)  # none in store B
    coupon = CouponFactory()  # 10 % off the basket
    customer = CustomerWithLoginFactory(card_number="LC20261201")
    points_adjust(customer=customer, points=300, reason="welcome", actor=None)
    app = APIClient()
    app.force_authenticate(customer.user)

    # In store B, on the tablet: the customer is found by their card; the coat is not here.
    associate = role_staff("store_associate", store_b)
    tablet = _session(associate)
    started = tablet.post(
        "/api/v1/staff/carts/", {"customer": {"card": "LC-2026-1201"}}, format="json"
    )
    assert started.status_code == 201, started.content
    token = started.json()["token"]
    cart = tablet.post(
        f"/api/v1/staff/carts/{token}/lines/", {"sku": coat.sku, "quantity": 1}, format="json"
    ).json()
    assert [p["location"] for p in cart["stock"][coat.sku]] == [
        shop.warehouse.code,
        store_c.code,
    ]
    cart = tablet.patch(
        f"/api/v1/staff/carts/{token}/", {"pickup_location": store_c.code}, format="json"
    ).json()
    assert cart["fulfilment"]["ready"] is True
    assert cart["points"]["balance"] == 300

    # The customer's coupon needs their code: it goes to them, they read it out.
    refused = tablet.patch(f"/api/v1/staff/carts/{token}/", {"coupon": coupon.code}, format="json")
    assert refused.json()["error"]["code"] == "customer_confirmation_required"
    with django_capture_on_commit_callbacks(execute=True):
        tablet.post(f"/api/v1/staff/carts/{token}/confirmation/")
    [message] = [m for m in mail.outbox if m.to == [customer.email]]
    code = re.search(r"code is (\d{6})", message.body).group(1)
    confirmed = tablet.post(
        f"/api/v1/staff/carts/{token}/confirmation/confirm/", {"code": code}, format="json"
    )
    assert confirmed.json()["assisted"]["confirmation"] == "confirmed"
    cart = tablet.patch(f"/api/v1/staff/carts/{token}/", {"coupon": coupon.code}, format="json")
    assert cart.json()["quote"]["total"] == "135.00"

    # Checkout for pickup in store C: 200 points (20.00) and the rest paid at C's desk.
    with django_capture_on_commit_callbacks(execute=True):
        placed = tablet.post(
            "/api/v1/staff/checkout/",
            {
                "cart": token,
                "fulfilment": {"type": "pickup", "location": store_c.code},
                "payment": {"method": "pay_in_store"},
                "redeem_points": 200,
                "expected_total": "135.00",
            },
            format="json",
            HTTP_IDEMPOTENCY_KEY="assisted-b-for-c",
        )
    assert placed.status_code == 201, placed.content
    order = placed.json()
    assert (order["channel"], order["location"], order["amount_due"]) == (
        "store_assisted",
        store_c.code,
        "115.00",
    )
    assert order["sold_by"] == {"staff": associate.email, "store": store_b.code}
    level = StockLevel.objects.get(variant=coat, location=store_c)
    assert (level.on_hand, level.reserved) == (2, 1)

    # At once in the customer's app, with the pickup code only they have.
    mine = app.get("/api/v1/me/orders/").json()["results"]
    assert [(o["number"], o["channel"]) for o in mine] == [(order["number"], "store_assisted")]
    pickup_code = mine[0]["pickup_code"]
    assert pickup_code and "pickup_code" not in order
    timeline = app.get("/api/v1/me/timeline/").json()["results"]
    assert [e["channel"] for e in timeline if e["kind"] == "order_placed"] == ["store_assisted"]

    # Store C prepares it and hands it over; the customer pays the rest at the desk.
    desk = _session(role_staff("store_associate", store_c))
    assert [o["number"] for o in desk.get("/api/v1/staff/pickups/").json()["to_prepare"]] == [
        order["number"]
    ]
    with django_capture_on_commit_callbacks(execute=True):
        desk.post(f"/api/v1/staff/orders/{order['number']}/ready/")
    handed = desk.post(
        f"/api/v1/staff/orders/{order['number']}/handover/",
        {"pickup_code": pickup_code, "desk_payment": {"kind": "card"}},
        format="json",
    )
    assert handed.status_code == 200, handed.content
    assert handed.json()["status"] == "collected"

    # Stock: sold at C. Points: spent and earned under the assisted channel.
    level.refresh_from_db()
    assert (level.on_hand, level.reserved) == (1, 0)
    sale = StockMovement.objects.get(kind="sale", reference=f"order:{order['number']}")
    assert sale.level.location_id == store_c.pk
    entries = LoyaltyEntry.objects.filter(reference=f"order:{order['number']}")
    assert {(e.kind, e.channel) for e in entries} == {
        ("redeem", "store_assisted"),
        ("earn", "store_assisted"),
    }
    assert app.get("/api/v1/me/loyalty/").json()["balance"] == 300 - 200 + 115
    record = AssistedSale.objects.get(order__number=order["number"])
    assert (record.staff, record.store, record.customer) == (associate, store_b, customer)

    # The ledgers and the report rows agree with everything that happened.
    assert verify_ledger() == []
    assert loyalty_verify() == []
    assert facts_verify() == []

    # The reports take the new channel like the others.
    head = _session(role_staff("head_office"))
    today = timezone.localdate()
    period = {"from": str(today - timedelta(days=1)), "to": str(today + timedelta(days=1))}
    sales = head.get("/api/v1/reports/sales/", {**period, "group_by": "channel"})
    funnel = head.get("/api/v1/reports/funnel/", {**period, "group_by": "channel"})
    assert sales.status_code == 200, sales.content
    [sales_row] = sales.json()["rows"]
    assert (sales_row["channel"], sales_row["orders"]) == ("store_assisted", 1)
    assert funnel.status_code == 200, funnel.content
    [funnel_row] = funnel.json()["rows"]
    assert funnel_row["channel"] == "store_assisted"
    assert (funnel_row["carts"], funnel_row["checkouts"], funnel_row["completed"]) == (1, 1, 1)
