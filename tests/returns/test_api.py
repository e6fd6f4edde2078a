"""The returns API: the staff contract, store scoping, idempotency, customer requests."""

from decimal import Decimal

import pytest
from django.core import mail
from rest_framework.test import APIClient

from inventory.models import StockLevel
from inventory.services import verify_ledger
from loyalty import selectors as loyalty_selectors
from loyalty import services as loyalty_services
from orders.models import Order
from returns.models import RefundTender, Return
from tests.factories.customers import CustomerWithLoginFactory
from tests.factories.returns import collected_order, returns_staff

pytestmark = pytest.mark.django_db


def staff_client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def body(order, location, sku, quantity=1, condition="resaleable") -> dict:
    return {
        "order": order.number,
        "location": location.code,
        "reason": "wrong_size",
        "lines": [{"sku": sku, "quantity": quantity, "condition": condition}],
    }


def test_staff_take_a_return_at_their_store_and_get_the_contracted_answer(
    shop, rules, customer, django_capture_on_commit_callbacks
):
    coat = shop.sku(price="120.00", store=3)
    order = collected_order(shop, customer, [(coat, 2)])
    client = staff_client(returns_staff(shop.other_store))
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(
            "/api/v1/staff/returns/",
            body(order, shop.other_store, coat.sku),
            format="json",
            HTTP_IDEMPOTENCY_KEY="ret-1",
        )
    assert answer.status_code == 201, answer.content
    data = answer.json()
    assert data["number"].startswith("R-")
    assert data["order"] == order.number and data["location"] == shop.other_store.code
    assert data["lines"] == [
        {
            "sku": coat.sku,
            "name": data["lines"][0]["name"],
            "quantity": 1,
            "condition": "resaleable",
            "value": "120.00",
            "points_reversed": 120,
        }
    ]
    assert data["refund"]["amount"] == "120.00" and data["refund"]["currency"] == "EUR"
    assert [(t["kind"], t["amount"]) for t in data["refund"]["tenders"]] == [("card", "120.00")]
    assert data["points_reversed"] == 120 and data["points_returned"] == 0
    assert StockLevel.objects.get(variant=coat, location=shop.other_store).on_hand == 1
    assert loyalty_selectors.balance_get(customer=customer) == 120
    assert Order.objects.get(pk=order.pk).status == "partially_returned"
    assert RefundTender.objects.get().status == "refunded"  # the provider confirmed it
    assert verify_ledger() == [] and loyalty_services.verify() == []


def test_the_same_idempotency_key_replays_the_return_instead_of_returning_twice(
    shop, rules, customer
):
    coat = shop.sku(price="50.00", store=3)
    order = collected_order(shop, customer, [(coat, 2)])
    client = staff_client(returns_staff(shop.store))
    first = client.post(
        "/api/v1/staff/returns/",
        body(order, shop.store, coat.sku),
        format="json",
        HTTP_IDEMPOTENCY_KEY="same",
    )
    again = client.post(
        "/api/v1/staff/returns/",
        body(order, shop.store, coat.sku),
        format="json",
        HTTP_IDEMPOTENCY_KEY="same",
    )
    assert first.status_code == again.status_code == 201
    assert again.json()["number"] == first.json()["number"]
    assert again["Idempotent-Replayed"] == "true"
    assert Return.objects.count() == 1


def test_a_write_without_an_idempotency_key_is_refused(shop, rules, customer):
    coat = shop.sku(price="50.00", store=3)
    order = collected_order(shop, customer, [(coat, 1)])
    answer = staff_client(returns_staff(shop.store)).post(
        "/api/v1/staff/returns/", body(order, shop.store, coat.sku), format="json"
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "idempotency_key_required"
    assert not Return.objects.exists()


def test_staff_cannot_receive_a_return_at_a_store_they_do_not_work_at(shop, rules, customer):
    coat = shop.sku(price="50.00", store=3)
    order = collected_order(shop, customer, [(coat, 1)])
    answer = staff_client(returns_staff(shop.store)).post(
        "/api/v1/staff/returns/",
        body(order, shop.other_store, coat.sku),
        format="json",
        HTTP_IDEMPOTENCY_KEY="k",
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_location"
    assert not Return.objects.exists()


def test_staff_without_the_return_permission_are_refused(shop, rules, customer):
    from tests.factories.orders import order_staff

    coat = shop.sku(price="50.00", store=3)
    order = collected_order(shop, customer, [(coat, 1)])
    answer = staff_client(order_staff(shop.store)).post(
        "/api/v1/staff/returns/",
        body(order, shop.store, coat.sku),
        format="json",
        HTTP_IDEMPOTENCY_KEY="k",
    )
    assert answer.status_code == 403
    assert not Return.objects.exists()


def test_the_staff_list_shows_only_returns_at_their_stores(shop, rules, customer):
    coat = shop.sku(price="50.00", store=3)
    order = collected_order(shop, customer, [(coat, 2)])
    here, there = returns_staff(shop.store), returns_staff(shop.other_store)
    staff_client(here).post(
        "/api/v1/staff/returns/",
        body(order, shop.store, coat.sku),
        format="json",
        HTTP_IDEMPOTENCY_KEY="a",
    )
    staff_client(there).post(
        "/api/v1/staff/returns/",
        body(order, shop.other_store, coat.sku),
        format="json",
        HTTP_IDEMPOTENCY_KEY="b",
    )
    mine = staff_client(here).get("/api/v1/staff/returns/").json()["results"]
    assert [r["location"] for r in mine] == [shop.store.code]
    other = staff_client(here).get(f"/api/v1/staff/returns/?location={shop.other_store.code}")
    assert other.status_code == 403
    number = Return.objects.get(location=shop.other_store).number
    assert staff_client(here).get(f"/api/v1/staff/returns/{number}/").status_code == 404


def test_over_return_answers_409_with_every_line_and_changes_nothing(shop, rules, customer):
    coat = shop.sku(price="50.00", store=3)
    order = collected_order(shop, customer, [(coat, 1)])
    answer = staff_client(returns_staff(shop.store)).post(
        "/api/v1/staff/returns/",
        body(order, shop.store, coat.sku, quantity=2),
        format="json",
        HTTP_IDEMPOTENCY_KEY="k",
    )
    assert answer.status_code == 409
    error = answer.json()["error"]
    assert error["code"] == "return_exceeds_purchase"
    assert error["details"]["lines"] == [
        {"sku": coat.sku, "bought": 1, "returnable": 1, "requested": 2}
    ]
    assert not Return.objects.exists()
    assert StockLevel.objects.get(variant=coat, location=shop.store).on_hand == 2


@pytest.mark.parametrize(
    "payload, code",
    [
        ({"order": "X\x00", "location": "BER-MITTE", "reason": "other", "lines": []}, "invalid"),
        (
            {
                "order": "A",
                "location": "BER-MITTE",
                "reason": "nope",
                "lines": [{"sku": "S", "quantity": 1}],
            },
            "invalid",
        ),
        (
            {
                "order": "A",
                "location": "BER-MITTE",
                "reason": "other",
                "lines": [{"sku": "S", "quantity": 10**20}],
            },
            "invalid",
        ),
        (
            {
                "order": "A",
                "location": "BER-MITTE",
                "reason": "other",
                "lines": [{"sku": "S", "quantity": "١"}],
            },
            "invalid",
        ),
    ],
)
def test_bad_input_is_a_400_in_the_error_shape(shop, payload, code):
    answer = staff_client(returns_staff(shop.store)).post(
        "/api/v1/staff/returns/", payload, format="json", HTTP_IDEMPOTENCY_KEY="bad"
    )
    assert answer.status_code == 400
    assert "error" in answer.json()
    assert not Return.objects.exists()


def test_an_unknown_order_is_404(shop):
    answer = staff_client(returns_staff(shop.store)).post(
        "/api/v1/staff/returns/",
        {
            "order": "NOPE1234",
            "location": shop.store.code,
            "reason": "other",
            "lines": [{"sku": "X", "quantity": 1}],
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="k",
    )
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "order_not_found"


def customer_client(customer) -> APIClient:
    client = APIClient()
    client.force_authenticate(customer.user)
    return client


def test_a_customer_asks_to_return_and_staff_complete_with_what_arrived(
    shop, rules, customer, django_capture_on_commit_callbacks
):
    coat = shop.sku(price="80.00", store=3)
    order = collected_order(shop, customer, [(coat, 2)])
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        asked = customer_client(customer).post(
            "/api/v1/me/returns/",
            {
                "order": order.number,
                "location": shop.other_store.code,
                "reason": "wrong_size",
                "lines": [{"sku": coat.sku, "quantity": 2}],
            },
            format="json",
            HTTP_IDEMPOTENCY_KEY="ask",
        )
    assert asked.status_code == 201, asked.content
    request = asked.json()
    assert request["status"] == "requested" and request["refund"]["tenders"] == []
    assert mail.outbox[-1].subject == f"Return for order {order.number} received"
    # Nothing moved yet, but the units are claimed.
    assert StockLevel.objects.get(variant=coat, location=shop.store).on_hand == 1
    assert (
        customer_client(customer).get("/api/v1/me/returns/").json()["results"][0]["number"]
        == request["number"]
    )

    staff = staff_client(returns_staff(shop.other_store))
    with django_capture_on_commit_callbacks(execute=True):
        done = staff.post(
            f"/api/v1/staff/returns/{request['number']}/complete/",
            {"lines": [{"sku": coat.sku, "quantity": 1, "condition": "damaged"}]},
            format="json",
            HTTP_IDEMPOTENCY_KEY="done",
        )
    assert done.status_code == 200, done.content
    data = done.json()
    assert data["status"] == "completed"
    assert data["lines"][0]["quantity"] == 1 and data["lines"][0]["condition"] == "damaged"
    assert data["refund"]["amount"] == "80.00"
    assert mail.outbox[-1].subject == f"Refund for order {order.number}"
    level = StockLevel.objects.get(variant=coat, location=shop.other_store)
    assert level.on_hand == 0  # returned and written off
    assert Order.objects.get(pk=order.pk).status == "partially_returned"
    assert verify_ledger() == [] and loyalty_services.verify() == []


def test_a_customer_cannot_ask_to_return_someone_elses_order(shop, rules, customer):
    coat = shop.sku(price="80.00", store=3)
    order = collected_order(shop, customer, [(coat, 1)])
    other = CustomerWithLoginFactory()
    answer = customer_client(other).post(
        "/api/v1/me/returns/",
        {
            "order": order.number,
            "location": shop.store.code,
            "reason": "other",
            "lines": [{"sku": coat.sku, "quantity": 1}],
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="steal",
    )
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "order_not_found"
    assert not Return.objects.exists()


def test_a_customer_cancels_their_request_and_the_units_are_free_again(shop, rules, customer):
    coat = shop.sku(price="80.00", store=3)
    order = collected_order(shop, customer, [(coat, 1)])
    client = customer_client(customer)
    asked = client.post(
        "/api/v1/me/returns/",
        {
            "order": order.number,
            "courier_pickup": True,
            "reason": "other",
            "lines": [{"sku": coat.sku, "quantity": 1}],
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="a",
    ).json()
    assert asked["courier_pickup"] is True and asked["location"] == shop.store.code
    cancelled = client.post(
        f"/api/v1/me/returns/{asked['number']}/cancel/", HTTP_IDEMPOTENCY_KEY="c"
    )
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = client.post(
        "/api/v1/me/returns/",
        {
            "order": order.number,
            "location": shop.store.code,
            "reason": "other",
            "lines": [{"sku": coat.sku, "quantity": 1}],
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="b",
    )
    assert again.status_code == 201
    assert Decimal(again.json()["value"]) == Decimal("80.00")
