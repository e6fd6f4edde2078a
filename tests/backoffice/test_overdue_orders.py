"""Overdue orders on the start pages: a store manager sees their own locations' orders nobody
prepared or shipped by the first deadline; head office sees the whole chain's, counted per
location, those where nobody may act on them (a warehouse's deliveries, a store without a
manager) first; the links open the orders and the page costs the same queries however many."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from backoffice.dashboard import start_page
from orders import services as order_services
from tests.backoffice.conftest import place_pickup
from tests.factories.customers import CustomerWithLoginFactory
from tests.factories.orders import CARD

pytestmark = pytest.mark.django_db

INDEX = "/admin/"


def _delivery(variant):
    customer = CustomerWithLoginFactory()
    cart = order_services.cart_get_current(customer=customer, channel="web")
    order_services.cart_line_add(cart=cart, sku=variant.sku, quantity=1)
    return order_services.checkout_place(
        cart=cart,
        customer=customer,
        fulfilment={"type": "delivery", "address": {"line1": "Main St 1"}},
        payment=CARD,
    )


def _escalate() -> None:
    later = timezone.now() + (settings.ORDER_ESCALATE_AFTER_HOURS + 1) * timedelta(hours=1)
    order_services.orders_enforce_prepare_deadlines(at=later)


def _tile(page):
    return next((tile for tile in page.tiles if tile.key == "overdue"), None)


def _figures(tile) -> dict[str, int]:
    return {figure.label: figure.value for figure in tile.figures}


def _rows(tile) -> list[list[str]]:
    return [[cell.text for cell in row] for row in tile.rows]


@pytest.fixture
def overdue(shop, member):
    """Two pickups at Berlin Mitte (it has a manager), one at Hamburg (only an associate
    works there) and a delivery the warehouse (nobody works there) never shipped, all past
    the first deadline."""
    member("store_associate", shop.other_store)
    stocked = shop.sku(store=5, other=5, warehouse=0)
    parcel = shop.sku(store=0, warehouse=3)
    orders = {
        "mitte": [place_pickup(stocked, shop.store) for _ in range(2)],
        "hamburg": [place_pickup(stocked, shop.other_store)],
        "warehouse": [_delivery(parcel)],
    }
    assert orders["warehouse"][0].location == shop.warehouse
    return orders


def test_head_office_sees_the_chains_overdue_orders_per_location_unmanaged_first(
    shop, member, overdue
):
    manager = member("store_manager", shop.store)
    head_office = member("head_office")
    assert _figures(_tile(start_page(head_office.user)))["not prepared or shipped in time"] == 0

    _escalate()

    page = start_page(head_office.user)
    tile = _tile(page)
    assert page.tiles[0] is tile
    assert _figures(tile) == {
        "not prepared or shipped in time": 4,
        "at locations without a manager": 2,
    }
    assert _rows(tile) == [
        ["Hamburg", "1", "nobody there: head office"],
        ["Berlin warehouse", "1", "nobody there: head office"],
        ["Berlin Mitte", "2", "store manager"],
    ]
    # Each location's row opens the list of its overdue orders, and only those.
    warehouse_list = head_office.get(tile.rows[1][0].url).content.decode()
    assert overdue["warehouse"][0].number in warehouse_list
    assert overdue["mitte"][0].number not in warehouse_list
    everything = head_office.get(tile.url).content.decode()
    assert all(o.number in everything for orders in overdue.values() for o in orders)
    # The store manager sees their own store's only.
    mine = _tile(start_page(manager.user))
    assert _figures(mine) == {"not prepared or shipped in time": 2}
    assert sorted(row[0] for row in _rows(mine)) == sorted(o.number for o in overdue["mitte"])


def test_whoever_manages_the_warehouse_sees_its_overdue_deliveries_and_it_counts_as_managed(
    shop, member, overdue
):
    keeper = member("store_manager", shop.warehouse)
    _escalate()

    tile = _tile(start_page(keeper.user))
    assert _figures(tile) == {"not prepared or shipped in time": 1}
    assert _rows(tile)[0][:3] == [overdue["warehouse"][0].number, "Berlin warehouse", "delivery"]
    assert keeper.get(tile.url).status_code == 200

    chain = _tile(start_page(member("head_office").user))
    assert ["Berlin warehouse", "1", "store manager"] in _rows(chain)
    # Hamburg and Berlin Mitte: nobody there may cancel (no manager in this test).
    assert _figures(chain)["at locations without a manager"] == 3


def test_staff_who_may_neither_cancel_nor_ship_get_no_overdue_tile(shop, member, overdue):
    _escalate()

    assert _tile(start_page(member("store_associate", shop.store).user)) is None
    assert _tile(start_page(member("store_associate", shop.other_store).user)) is None


def test_an_order_prepared_after_its_escalation_leaves_the_chains_tile(shop, member, overdue):
    from orders.domain import Actor, Status

    _escalate()
    for order in overdue["mitte"]:
        order_services.order_transition(
            order=order, target=Status.READY_FOR_PICKUP, actor=Actor.STAFF
        )

    tile = _tile(start_page(member("head_office").user))
    assert _figures(tile)["not prepared or shipped in time"] == 2
    assert "Berlin Mitte" not in [row[0] for row in _rows(tile)]


def test_head_offices_page_costs_the_same_queries_however_many_locations_are_overdue(
    shop, member, overdue
):
    head_office = member("head_office")
    _escalate()
    head_office.get(INDEX)  # warm the session and content type caches
    with CaptureQueriesContext(connection) as before:
        head_office.get(INDEX)

    member("store_manager", shop.other_store)
    more = shop.sku(store=5, other=5, warehouse=5)
    for location in (shop.store, shop.other_store):
        place_pickup(more, location)
    _delivery(shop.sku(store=0, warehouse=2))
    _escalate()
    with CaptureQueriesContext(connection) as after:
        html = head_office.get(INDEX).content.decode()

    assert len(after.captured_queries) == len(before.captured_queries)
    assert "nobody there: head office" in html
