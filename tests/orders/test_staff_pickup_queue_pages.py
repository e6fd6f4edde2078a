"""The staff pickup queue API: a page at a time, oldest first, a constant number of queries;
ship-to-store orders on their way to the store listed as incoming, with when they are due."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from inventory.models import Transfer, TransferLeadTime
from inventory.services import transfer_lead_time_save, transfer_receive
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


def _incoming(customer, shop, count: int, *, days: int = 2) -> list:
    """Ship-to-store pickups at the shop's store of a coat only the warehouse holds."""
    if not TransferLeadTime.objects.filter(source=shop.warehouse, destination=shop.store):
        transfer_lead_time_save(
            lead_time=TransferLeadTime(source=shop.warehouse, destination=shop.store, days=days)
        )
    coat = shop.sku(store=0, warehouse=count)
    orders = []
    for _ in range(count):
        cart = services.cart_get_current(customer=customer, channel="web")
        services.cart_line_add(cart=cart, sku=coat.sku, quantity=1)
        orders.append(
            services.checkout_place(
                cart=cart,
                customer=customer,
                fulfilment={"type": "pickup", "location": shop.store.code, "allow_transfer": True},
                payment=CARD,
            )
        )
    assert {o.status for o in orders} == {Status.IN_TRANSIT}
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
    return [o["number"] for o in page["incoming"] + page["to_prepare"] + page["waiting"]]


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

    more = _pickups(customer, shop, 40)
    for order in more[::3]:
        _ready(order, desk.user)
    _incoming(customer, shop, 5)
    many, large = _queries(desk, {"page_size": 100})

    assert len(_numbers(small)) == 5
    assert len(_numbers(large)) == 50
    assert len(large["incoming"]) == 5
    assert all(len(o["lines"]) == 2 and o["transitions"] for o in large["to_prepare"])
    assert all(o["lines"] and o["transitions"] for o in large["incoming"])
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
    seen = [o for p in pages for o in p["incoming"] + p["to_prepare"] + p["waiting"]]
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
    assert {"next", "previous", "incoming", "to_prepare", "waiting"} <= set(output["properties"])
    status = next(p for p in operation["parameters"] if p["name"] == "status")
    assert "in_transit" in str(status["schema"])


def test_the_queue_of_one_store_or_of_every_store_of_the_user(customer, shop, desk):
    (order,) = _pickups(customer, shop, 1, lines=1)
    for params in ({}, {"location": ""}, {"location": shop.store.code}):
        assert _numbers(desk.get(QUEUE, params).json()) == [order.number], params
    assert desk.get(QUEUE, {"location": shop.other_store.code}).status_code == 403


def test_ship_to_store_orders_on_their_way_are_listed_as_incoming_with_when_they_are_due(
    customer, shop, desk
):
    (placed,) = _pickups(customer, shop, 1, lines=1)
    (incoming,) = _incoming(customer, shop, 1, days=3)

    page = desk.get(QUEUE).json()

    assert [o["number"] for o in page["incoming"]] == [incoming.number]
    assert [o["number"] for o in page["to_prepare"]] == [placed.number]
    row = page["incoming"][0]
    assert row["status"] == "in_transit"
    assert (row["needs_attention"], row["attention_note"]) == (False, "")
    due = incoming.placed_at + timedelta(days=3)
    assert abs(_parse(row["ready_from"]) - due) < timedelta(seconds=5)
    only = desk.get(QUEUE, {"status": "in_transit"}).json()
    assert (_numbers(only), only["to_prepare"], only["waiting"]) == ([incoming.number], [], [])


def test_once_its_transfer_is_received_the_order_leaves_incoming_and_waits_for_the_customer(
    customer, shop, desk, django_capture_on_commit_callbacks
):
    (order,) = _incoming(customer, shop, 1)

    with django_capture_on_commit_callbacks(execute=True):
        transfer_receive(transfer=Transfer.objects.get(reference=order.reference))

    page = desk.get(QUEUE).json()
    assert page["incoming"] == []
    assert [o["number"] for o in page["waiting"]] == [order.number]


def test_an_incoming_order_whose_transfer_arrived_short_shows_why_it_needs_staff(
    customer, shop, desk
):
    (order,) = _incoming(customer, shop, 1)
    transfer = Transfer.objects.get(reference=order.reference)
    (line,) = transfer.lines.all()
    transfer_receive(transfer=transfer, received={line.variant_id: 0}, note="box lost")
    services.order_transfer_arrived(number=order.number)

    (row,) = desk.get(QUEUE).json()["incoming"]

    assert row["needs_attention"] is True
    assert "1 unit(s) short" in row["attention_note"]


def test_another_stores_incoming_orders_are_not_listed(customer, shop):
    _incoming(customer, shop, 1)
    other = APIClient()
    other.force_authenticate(order_staff(shop.other_store))

    page = other.get(QUEUE).json()

    assert (page["incoming"], page["to_prepare"], page["waiting"]) == ([], [], [])


def _parse(value: str):
    from django.utils.dateparse import parse_datetime

    return parse_datetime(value)
