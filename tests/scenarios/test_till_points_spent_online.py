"""A till sale to a loyalty-card customer earns points that the same customer spends in a web
checkout a minute later: one ledger, synced once, the same balance at the till, in the app
and at checkout."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from inventory.services import verify_ledger
from loyalty.models import EntryKind, LoyaltyEntry
from loyalty.services import verify
from orders import services
from tests.factories.customers import CustomerWithLoginFactory
from tests.factories.loyalty import LoyaltyRulesFactory
from tests.factories.pos import make_terminal, terminal_client

pytestmark = pytest.mark.django_db


def test_points_earned_at_the_till_are_spent_online_a_minute_later(shop):
    # 1 point per EUR paid; 1 point pays 0.10 EUR; up to 50 % of an order.
    LoyaltyRulesFactory()
    customer = CustomerWithLoginFactory(card_number="2000000000015")
    coat = shop.sku(price="250.00", store=5, warehouse=5)
    scarf = shop.sku(price="40.00", store=5, warehouse=5)
    _terminal, token = make_terminal(shop.store, code="BER-MITTE-T1")
    till = terminal_client(token)

    # At the till, offline: the customer shows the card; the sale syncs later.
    sale = {
        "id": str(uuid.uuid4()),
        "occurred_at": (timezone.now() - timedelta(minutes=2)).isoformat(),
        "cashier": "C7",
        "customer": {"card": "2000 0000 0001 5"},
        "hold": None,
        "lines": [{"sku": coat.sku, "quantity": 1, "unit_price": "250.00", "discount": "0.00"}],
        "tenders": [{"kind": "card", "amount": "250.00", "points": 0}],
    }
    synced = till.post("/api/v1/pos/sync/sales/", {"sales": [sale]}, format="json")
    assert synced.json()["results"][0]["status"] == "created"
    lookup = till.get("/api/v1/pos/customers/lookup/", {"card": "2000000000015"}).json()
    assert lookup["points_available"] == 250

    # A minute later, on the web: the app shows the points and checkout spends 150 of them.
    web = APIClient()
    web.force_authenticate(customer.user)
    me = web.get("/api/v1/me/loyalty/").json()
    assert me["balance"] == 250
    assert me["entries"]["results"][0]["channel"] == "pos"
    cart = services.cart_get_current(customer=customer, channel="web")
    services.cart_line_add(cart=cart, sku=scarf.sku, quantity=1)
    response = web.post(
        "/api/v1/checkout/",
        {
            "cart": str(cart.token),
            "fulfilment": {"type": "delivery", "address": {"line1": "Main St 1"}},
            "redeem_points": 150,
            "payment": {"provider": "test", "token": "tok_ok"},
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="spend-at-home",
    )
    assert response.status_code == 201, response.content
    assert response.json()["points_value"] == "15.00"

    # Everywhere the same 100 points now: the app, the till.
    assert web.get("/api/v1/me/loyalty/").json()["balance"] == 100
    lookup = till.get("/api/v1/pos/customers/lookup/", {"card": "2000000000015"}).json()
    assert lookup["points_available"] == 100
    kinds = list(LoyaltyEntry.objects.order_by("id").values_list("kind", "channel", "points"))
    assert kinds == [(EntryKind.EARN, "pos", 250), (EntryKind.REDEEM, "web", -150)]

    # A replay of the till's batch changes nothing.
    again = till.post("/api/v1/pos/sync/sales/", {"sales": [sale]}, format="json")
    assert again.json()["results"][0]["status"] == "duplicate"
    assert web.get("/api/v1/me/loyalty/").json()["balance"] == 100
    assert verify() == [] and verify_ledger() == []
