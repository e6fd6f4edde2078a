"""Buy anywhere, return anywhere: the refund, the stock and the bonuses come out right.

1. An online pickup order collected in store A comes back in store B through a store
   tablet: stock back in B, the card refunded through the payment provider, points taken
   back, the return on the customer's timeline and in their mailbox.
2. A till sale in store A is returned through the app and handed in at store B.
"""

import uuid
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone
from rest_framework.test import APIClient

from inventory.models import StockLevel, StockMovement
from inventory.services import verify_ledger
from loyalty.selectors import balance_get, rolling_spend
from loyalty.services import verify
from orders.models import Order, TestProviderCharge
from tests.factories.customers import CustomerWithLoginFactory
from tests.factories.loyalty import LoyaltyRulesFactory
from tests.factories.pos import make_terminal, terminal_client
from tests.factories.returns import collected_order, returns_staff

pytestmark = pytest.mark.django_db


def as_user(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_an_online_order_collected_in_store_a_is_returned_in_store_b(
    shop, django_capture_on_commit_callbacks
):
    LoyaltyRulesFactory()  # 1 point per euro
    customer = CustomerWithLoginFactory()
    boots = shop.sku(price="129.90", store=2)
    laces = shop.sku(price="4.50", store=10)
    order = collected_order(shop, customer, [(boots, 1), (laces, 2)])
    assert order.total == Decimal("138.90")
    assert balance_get(customer=customer) == 138
    spend_before = rolling_spend(account_id=customer.loyalty_account.pk)
    mail.outbox.clear()

    tablet = as_user(returns_staff(shop.other_store))
    with django_capture_on_commit_callbacks(execute=True):
        answer = tablet.post(
            "/api/v1/staff/returns/",
            {
                "order": order.number,
                "location": shop.other_store.code,
                "reason": "wrong_size",
                "lines": [{"sku": boots.sku, "quantity": 1, "condition": "resaleable"}],
            },
            format="json",
            HTTP_IDEMPOTENCY_KEY="boots-back",
        )
    assert answer.status_code == 201, answer.content
    ret = answer.json()

    # Stock: back on hand in B (where the customer brought it), A untouched.
    assert StockLevel.objects.get(variant=boots, location=shop.other_store).on_hand == 1
    assert StockLevel.objects.get(variant=boots, location=shop.store).on_hand == 1
    movement = StockMovement.objects.get(reference=f"return:{ret['number']}")
    assert (movement.kind, movement.quantity, movement.level.location_id) == (
        "return",
        1,
        shop.other_store.pk,
    )
    # Money: the card refunded through the provider, to the cent.
    assert ret["refund"]["amount"] == "129.90"
    charge = TestProviderCharge.objects.get()
    assert (charge.captured, charge.refunded) == (Decimal("138.90"), Decimal("129.90"))
    # Points: what the boots earned goes; tier spend falls by the refund.
    assert ret["points_reversed"] == 129
    assert balance_get(customer=customer) == 138 - 129
    assert rolling_spend(account_id=customer.loyalty_account.pk) == spend_before - Decimal("129.90")
    assert Order.objects.get(pk=order.pk).status == "partially_returned"
    # The customer sees it and was told.
    owner = as_user(customer.user)
    timeline = owner.get("/api/v1/me/timeline/").json()
    entries = timeline["results"] if isinstance(timeline, dict) else timeline
    returned = [e for e in entries if e["kind"] == "return_completed"]
    assert returned and returned[0]["details"]["refund"] == "129.90"
    assert returned[0]["details"]["store"] == shop.other_store.name
    assert [m.subject for m in mail.outbox] == [f"Refund for order {order.number}"]
    assert verify_ledger() == [] and verify() == []


def test_a_till_sale_is_returned_through_the_app_at_another_store(
    shop, django_capture_on_commit_callbacks
):
    LoyaltyRulesFactory()
    customer = CustomerWithLoginFactory()
    kettle = shop.sku(price="39.99", store=4)
    terminal, token = make_terminal(shop.store)
    sale_id = str(uuid.uuid4())
    synced = terminal_client(token).post(
        "/api/v1/pos/sync/sales/",
        {
            "sales": [
                {
                    "id": sale_id,
                    "occurred_at": timezone.now().isoformat(),
                    "cashier": "C7",
                    "customer": {"phone": str(customer.phone)},
                    "lines": [{"sku": kettle.sku, "quantity": 1, "unit_price": "39.99"}],
                    "tenders": [{"kind": "card", "amount": "39.99"}],
                }
            ]
        },
        format="json",
    )
    assert synced.json()["results"][0]["status"] == "created", synced.content
    assert balance_get(customer=customer) == 39

    # In the app: the receipt's UUID names the sale; the goods go to the other store.
    app = as_user(customer.user)
    with django_capture_on_commit_callbacks(execute=True):
        asked = app.post(
            "/api/v1/me/returns/",
            {
                "order": sale_id,
                "location": shop.other_store.code,
                "reason": "defective",
                "lines": [{"sku": kettle.sku, "quantity": 1}],
            },
            format="json",
            HTTP_IDEMPOTENCY_KEY="kettle",
        )
    assert asked.status_code == 201, asked.content
    number = asked.json()["number"]
    assert asked.json()["order_channel"] == "pos"

    desk = as_user(returns_staff(shop.other_store))
    with django_capture_on_commit_callbacks(execute=True):
        done = desk.post(
            f"/api/v1/staff/returns/{number}/complete/",
            {"lines": [{"sku": kettle.sku, "quantity": 1, "condition": "damaged"}]},
            format="json",
            HTTP_IDEMPOTENCY_KEY="kettle-in",
        )
    assert done.status_code == 200, done.content
    data = done.json()
    # The till took the card; the card is refunded at the desk's terminal, right away.
    assert [(t["kind"], t["amount"], t["status"]) for t in data["refund"]["tenders"]] == [
        ("card", "39.99", "refunded")
    ]
    assert data["points_reversed"] == 39 and balance_get(customer=customer) == 0
    # Damaged: it came back into B and was written off there.
    kinds = set(
        StockMovement.objects.filter(reference=f"return:{number}").values_list("kind", flat=True)
    )
    assert kinds == {"return", "write_off"}
    assert StockLevel.objects.get(variant=kettle, location=shop.other_store).on_hand == 0
    mine = app.get("/api/v1/me/returns/").json()["results"]
    assert [(r["number"], r["status"]) for r in mine] == [(number, "completed")]
    assert verify_ledger() == [] and verify() == []
