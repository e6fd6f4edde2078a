"""Carts on the server: anonymous tokens, the customer's one cart, lines, quotes, merge."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from orders import services
from orders.models import Cart
from tests.factories.customers import CustomerWithLoginFactory

pytestmark = pytest.mark.django_db


def _new_cart(client, channel="app"):
    response = client.post("/api/v1/carts/", {"channel": channel}, format="json")
    assert response.status_code == 201, response.content
    return response.json()["token"]


def test_an_anonymous_cart_carries_a_fresh_quote_and_availability(api_client, shop):
    variant = shop.sku(price="12.50", store=3, warehouse=4)
    token = _new_cart(api_client)
    response = api_client.post(
        f"/api/v1/carts/{token}/lines/", {"sku": variant.sku, "quantity": 2}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["quote"]["total"] == "25.00"
    assert body["lines"] == [
        {
            "sku": variant.sku,
            "name": variant.name,
            "quantity": 2,
            "available": 4,  # delivery: what the shipping locations hold
            "in_stock": True,
            "problem": None,
            "line_total": "25.00",
        }
    ]
    picked = api_client.patch(
        f"/api/v1/carts/{token}/", {"pickup_location": shop.store.code}, format="json"
    ).json()
    assert picked["fulfilment_type"] == "pickup"
    assert picked["lines"][0]["available"] == 3


def test_adding_the_same_sku_twice_adds_quantities_and_lines_can_be_changed_and_removed(
    api_client, shop
):
    variant = shop.sku()
    token = _new_cart(api_client)
    url = f"/api/v1/carts/{token}/lines/"
    api_client.post(url, {"sku": variant.sku, "quantity": 1}, format="json")
    body = api_client.post(url, {"sku": variant.sku, "quantity": 2}, format="json").json()
    assert body["lines"][0]["quantity"] == 3
    body = api_client.patch(f"{url}{variant.sku}/", {"quantity": 5}, format="json").json()
    assert body["lines"][0]["quantity"] == 5
    body = api_client.delete(f"{url}{variant.sku}/").json()
    assert body["lines"] == []
    assert body["quote"] is None


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"sku": "NOPE", "quantity": 1}, 422, "unknown_sku"),
        ({"sku": "X", "quantity": 0}, 400, "validation_error"),
        ({"sku": "X", "quantity": -3}, 400, "validation_error"),
        ({"sku": "X", "quantity": 10**9}, 400, "validation_error"),
        ({"sku": "X", "quantity": "many"}, 400, "validation_error"),
        ({"quantity": 1}, 400, "validation_error"),
    ],
)
def test_bad_cart_lines_are_refused_in_the_error_shape(api_client, shop, payload, status, code):
    token = _new_cart(api_client)
    response = api_client.post(f"/api/v1/carts/{token}/lines/", payload, format="json")
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert not Cart.objects.get(token=token).lines.exists()


def test_an_unknown_or_malformed_cart_token_is_a_404(api_client):
    assert api_client.get("/api/v1/carts/not-a-uuid/").json()["error"]["code"] == "cart_not_found"
    response = api_client.get("/api/v1/carts/2f1f0c3e-8d5b-4f4e-9a55-0b1a3f1b2c3d/")
    assert response.status_code == 404


def test_the_logged_in_customer_has_one_cart_on_every_device(shop):
    customer = CustomerWithLoginFactory()
    phone, laptop = APIClient(), APIClient()
    phone.force_authenticate(customer.user)
    laptop.force_authenticate(customer.user)
    variant = shop.sku()
    token = phone.post("/api/v1/carts/", {"channel": "app"}, format="json").json()["token"]
    phone.post(f"/api/v1/carts/{token}/lines/", {"sku": variant.sku, "quantity": 1}, format="json")
    on_laptop = laptop.get("/api/v1/carts/current/").json()
    assert on_laptop["token"] == token
    assert on_laptop["lines"][0]["sku"] == variant.sku


def test_another_customer_cannot_see_or_change_my_cart(shop):
    mine, theirs = CustomerWithLoginFactory(), CustomerWithLoginFactory()
    me, them = APIClient(), APIClient()
    me.force_authenticate(mine.user)
    them.force_authenticate(theirs.user)
    token = me.post("/api/v1/carts/", {}, format="json").json()["token"]
    variant = shop.sku()
    assert them.get(f"/api/v1/carts/{token}/").status_code == 404
    response = them.post(
        f"/api/v1/carts/{token}/lines/", {"sku": variant.sku, "quantity": 1}, format="json"
    )
    assert response.status_code == 404
    assert APIClient().get(f"/api/v1/carts/{token}/").status_code == 404
    assert not Cart.objects.get(token=token).lines.exists()


def test_login_merges_the_anonymous_cart_capping_quantities_by_availability(api_client, shop):
    customer = CustomerWithLoginFactory()
    scarce = shop.sku(store=0, warehouse=3)
    plenty = shop.sku(store=0, warehouse=50)
    own = services.cart_get_current(customer=customer, channel="web")
    services.cart_line_add(cart=own, sku=scarce.sku, quantity=2)

    token = _new_cart(api_client, channel="app")
    api_client.post(
        f"/api/v1/carts/{token}/lines/", {"sku": scarce.sku, "quantity": 2}, format="json"
    )
    api_client.post(
        f"/api/v1/carts/{token}/lines/", {"sku": plenty.sku, "quantity": 4}, format="json"
    )

    response = api_client.post(
        "/api/v1/auth/token/",
        {"login": customer.email, "password": "secret-pass-123", "cart_token": token},
        format="json",
    )
    assert response.status_code == 200, response.content
    merge = response.json()["cart_merge"]
    assert merge["merged"] is True
    assert merge["cart"] == str(own.token)
    by_sku = {line["sku"]: line for line in merge["lines"]}
    assert by_sku[scarce.sku] | {} == {
        "sku": scarce.sku,
        "before": 2,
        "added": 2,
        "quantity": 3,
        "capped": True,
        "reason": "limited_by_availability",
    }
    assert by_sku[plenty.sku]["quantity"] == 4 and by_sku[plenty.sku]["capped"] is False
    quantities = {line.variant.sku: line.quantity for line in own.lines.select_related("variant")}
    assert quantities == {scarce.sku: 3, plenty.sku: 4}
    assert Cart.objects.get(token=token).state == Cart.State.MERGED


def test_the_cart_shows_the_split_when_no_single_location_can_ship_it_all(api_client, shop):
    from tests.factories.inventory import StockLevelFactory, WarehouseFactory

    north = WarehouseFactory(code="WH-NORTH")
    only_in_berlin = shop.sku(store=0, warehouse=2)
    only_in_north = shop.sku(store=0, warehouse=0)
    StockLevelFactory(variant=only_in_north, location=north, on_hand=2)
    token = _new_cart(api_client)
    url = f"/api/v1/carts/{token}/lines/"
    body = api_client.post(url, {"sku": only_in_berlin.sku, "quantity": 1}, format="json").json()
    assert body["fulfilment"] == {
        "ready": True,
        "reason": None,
        "ships_from": "WH-BER",
        "shipments": [{"from": "WH-BER", "lines": [{"sku": only_in_berlin.sku, "quantity": 1}]}],
    }
    body = api_client.post(url, {"sku": only_in_north.sku, "quantity": 1}, format="json").json()
    # No location holds both: two shipments, one from each.
    shipments = {s["from"]: s["lines"] for s in body["fulfilment"]["shipments"]}
    assert body["fulfilment"]["ready"] is True
    assert shipments == {
        "WH-BER": [{"sku": only_in_berlin.sku, "quantity": 1}],
        "WH-NORTH": [{"sku": only_in_north.sku, "quantity": 1}],
    }
    body = api_client.patch(
        f"/api/v1/carts/{token}/lines/{only_in_north.sku}/", {"quantity": 3}, format="json"
    ).json()
    # Three units of a line nobody holds three of: not deliverable (a line is never split).
    assert body["fulfilment"] == {
        "ready": False,
        "reason": "insufficient_stock",
        "unavailable": [only_in_north.sku],
    }


def test_reading_the_current_cart_never_creates_one(shop):
    customer = CustomerWithLoginFactory()
    client = APIClient()
    client.force_authenticate(customer.user)
    response = client.get("/api/v1/carts/current/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "cart_not_found"
    assert not Cart.objects.filter(customer=customer).exists()


def test_reading_a_cart_never_writes_the_quoted_total(shop):
    customer = CustomerWithLoginFactory()
    client = APIClient()
    client.force_authenticate(customer.user)
    variant = shop.sku(price="10.00")
    token = client.post("/api/v1/carts/", {}, format="json").json()["token"]
    client.post(f"/api/v1/carts/{token}/lines/", {"sku": variant.sku, "quantity": 2}, format="json")
    assert Cart.objects.get(token=token).quoted_total == Decimal("20.00")
    Cart.objects.filter(token=token).update(quoted_total=Decimal("1.00"))
    with CaptureQueriesContext(connection) as queries:
        assert client.get(f"/api/v1/carts/{token}/").status_code == 200
    writes = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
    ]
    assert writes == []
    assert Cart.objects.get(token=token).quoted_total == Decimal("1.00")
