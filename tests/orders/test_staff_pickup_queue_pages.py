"""The staff pickup queue API: a page at a time, oldest first, a constant number of queries."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from orders import services
from orders.domain import Actor, Status
from tests.factories.orders import CARD, order_staff

pytestmark = pytest.mark.django_db

QUEUE = "/api/v1/staff/pickups/"


def _pickups(customer, shop, count: int, *, lines: int = 2) -> list:
    variants = [shop.sku(store=500) for _ in range(lines)]
    orders = []
    for _ in range(count):
        cart = services.cart_get_current(customer=customer, channel="web")
        for variant in variants:
            services.cart_line_add(cart=cart, sku=variant.sku, quantity=1)
        orders.append(
            services.checkout_place(
                cart=cart,
                customer=customer,
                fulfilment={"type": "pickup", "location": shop.store.code},
                payment=CARD,
            )
        )
    return orders


def _ready(order, user) -> None:
    services.order_transition(
        order=order, target=Status.READY_FOR_PICKUP, actor=Actor.STAFF, user=user
    )


@pytest.fixture
def desk(shop):
    staff = order_staff(shop.store)
    client = APIClient()
    client.force_authenticate(staff)
    client.user = staff
    return client


def _numbers(page: dict) -> list[str]:
    return [o["number"] for o in page["to_prepare"] + page["waiting"]]


def _queries(client, params) -> tuple[int, dict]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(QUEUE, params)
    assert response.status_code == 200, response.content
    return len(queries), response.json()


def test_a_page_of_fifty_queued_orders_costs_the_same_queries_as_a_page_of_five(
    customer, shop, desk
):
    first = _pickups(customer, shop, 5)
    _ready(first[0], desk.user)
    _queries(desk, {"page_size": 100})  # warm caches (content types, permissions)
    few, small = _queries(desk, {"page_size": 100})

    more = _pickups(customer, shop, 45)
    for order in more[::3]:
        _ready(order, desk.user)
    many, large = _queries(desk, {"page_size": 100})

    assert len(_numbers(small)) == 5
    assert len(_numbers(large)) == 50
    assert all(len(o["lines"]) == 2 and o["transitions"] for o in large["to_prepare"])
    assert many == few


def test_the_queue_is_paged_oldest_first_and_lists_every_order_once(customer, shop, desk):
    orders = _pickups(customer, shop, 7, lines=1)
    for order in orders[1::2]:
        _ready(order, desk.user)

    pages, url = [], QUEUE + "?page_size=3"
    while url:
        page = desk.get(url).json()
        pages.append(page)
        url = page["next"]

    assert [len(_numbers(p)) for p in pages] == [3, 3, 1]
    assert pages[0]["previous"] is None
    seen = [o for p in pages for o in p["to_prepare"] + p["waiting"]]
    by_age = sorted(seen, key=lambda o: o["placed_at"])
    assert [o["number"] for o in by_age] == [o.number for o in orders]
    assert {o["number"] for p in pages for o in p["waiting"]} == {o.number for o in orders[1::2]}
    assert all(o["status"] == "placed" for p in pages for o in p["to_prepare"])
    assert all("pickup_code" not in o for o in seen)


def test_the_queue_lists_only_the_orders_to_prepare_or_only_those_waiting(customer, shop, desk):
    placed, ready = _pickups(customer, shop, 2, lines=1)
    _ready(ready, desk.user)

    to_prepare = desk.get(QUEUE, {"status": "placed"}).json()
    waiting = desk.get(QUEUE, {"status": "ready_for_pickup"}).json()

    assert (_numbers(to_prepare), to_prepare["waiting"]) == ([placed.number], [])
    assert (_numbers(waiting), waiting["to_prepare"]) == ([ready.number], [])


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"status": "collected"}, "validation_error"),
        ({"cursor": "not-a-cursor"}, "invalid_cursor"),
        ({"page_size": "abc"}, None),  # DRF falls back to the default page size
    ],
)
def test_bad_queue_parameters_are_a_400_in_the_error_shape(customer, shop, desk, params, code):
    _pickups(customer, shop, 1, lines=1)
    response = desk.get(QUEUE, params)
    if code is None:
        assert response.status_code == 200
        assert len(_numbers(response.json())) == 1
        return
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


def test_the_schema_documents_the_queue_pages(api_client):
    schema = api_client.get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"][QUEUE]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"cursor", "page_size", "status", "location"} <= names
    body = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    output = schema["components"]["schemas"][body.rsplit("/", 1)[1]]
    assert {"next", "previous", "to_prepare", "waiting"} <= set(output["properties"])


def test_the_queue_of_one_store_or_of_every_store_of_the_user(customer, shop, desk):
    (order,) = _pickups(customer, shop, 1, lines=1)
    for params in ({}, {"location": ""}, {"location": shop.store.code}):
        assert _numbers(desk.get(QUEUE, params).json()) == [order.number], params
    assert desk.get(QUEUE, {"location": shop.other_store.code}).status_code == 403
