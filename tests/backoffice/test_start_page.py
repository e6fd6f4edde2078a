"""The admin start page of each role: a store's work today at their stores only, head
office's sales of every store, tiles only for what the user may see, links that open."""

from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from backoffice.dashboard import start_page
from tests.backoffice.conftest import place_pickup
from tests.staff.conftest import view_only_user

pytestmark = pytest.mark.django_db

INDEX = "/admin/"


def figures(page) -> dict[str, dict[str, int]]:
    return {tile.key: {f.label: f.value for f in tile.figures} for tile in page.tiles}


def rows(page, key: str) -> list[list[str]]:
    tile = next(tile for tile in page.tiles if tile.key == key)
    return [[cell.text for cell in row] for row in tile.rows]


def urls(page) -> set[str]:
    found = set()
    for tile in page.tiles:
        found.add(tile.url)
        found.update(f.url for f in tile.figures if f.url)
        found.update(url for _label, url in tile.links)
        found.update(cell.url for row in tile.rows for cell in row if cell.url)
    return found


def test_a_store_associate_sees_their_stores_figures_and_none_of_another_stores(world, member):
    browser = member("store_associate", world.a.store)
    page = start_page(browser.user)

    assert page.kind == "store"
    assert [tile.key for tile in page.tiles] == [
        "pickups",
        "returns",
        "short_pickups",
        "transfers",
        "stock",
        "terminals",
        "sales",
    ]
    assert figures(page) == {
        "pickups": {"to prepare": 3, "waiting for the customer": 1, "expire today": 0},
        "returns": {"requested by customers": 1},
        "short_pickups": {"left short by a till sale": 1},
        "transfers": {"on their way to you": 1},
        "stock": {"negative": 1, "low (at or below threshold)": 1, "flagged by a till sale": 1},
        "terminals": {"silent for over 30 minutes": 1},
        "sales": {},
    }
    # Web: two pickups, the short pickup's sibling and the order the return came from.
    assert rows(page, "sales") == [
        ["app", "1", "10.00 EUR"],
        ["pos", "1", "10.00 EUR"],
        ["web", "4", "40.00 EUR"],
    ]
    hold = f"{settings.PICKUP_HOLD_DAYS} days left"
    assert rows(page, "pickups") == [[world.a.pickups[0].number, "Berlin Mitte", hold]]
    assert rows(page, "terminals") == [
        [world.a.silent_terminal.code, "Berlin Mitte", "never synced"]
    ]

    html = browser.get(INDEX).content.decode()
    for order in world.a.pickups[:1]:
        assert order.number in html
    for order in world.b.pickups:
        assert order.number not in html
    assert "Hamburg" not in html
    assert world.b.silent_terminal.code not in html
    assert f"location__id__in={world.b.store.pk}" not in html
    assert f"destination__id__in={world.a.store.pk}" in html


def test_the_other_stores_associate_sees_only_that_stores_figures(world, member):
    page = start_page(member("store_associate", world.b.store).user)

    assert figures(page)["pickups"] == {
        "to prepare": 3,
        "waiting for the customer": 3,
        "expire today": 0,
    }
    assert figures(page)["returns"] == {"requested by customers": 2}
    assert figures(page)["transfers"] == {"on their way to you": 3}
    assert figures(page)["terminals"] == {"silent for over 30 minutes": 2}
    assert rows(page, "sales") == [
        ["app", "1", "10.00 EUR"],
        ["pos", "1", "10.00 EUR"],
        ["web", "7", "70.00 EUR"],
    ]


def test_a_member_of_two_stores_sees_both_added_up(world, member):
    page = start_page(member("store_manager", world.a.store, world.b.store).user)

    assert figures(page)["pickups"]["to prepare"] == 6
    assert figures(page)["transfers"] == {"on their way to you": 4}
    assert figures(page)["stock"]["negative"] == 2


def test_head_office_sees_sales_of_every_store_by_channel_and_by_store(world, member):
    browser = member("head_office")
    page = start_page(browser.user)

    assert page.kind == "head_office"
    assert [tile.key for tile in page.tiles] == [
        "overdue",
        "sales_by_channel",
        "sales_by_store",
        "reports",
    ]
    reports_tile = next(tile for tile in page.tiles if tile.key == "reports")
    assert ("Sales", "/admin/reports/report/sales/") in reports_tile.links
    assert rows(page, "sales_by_channel") == [
        ["app", "2", "20.00 EUR", "2", "20.00 EUR"],
        ["pos", "2", "20.00 EUR", "2", "20.00 EUR"],
        ["web", "11", "110.00 EUR", "11", "110.00 EUR"],
    ]
    assert rows(page, "sales_by_store") == [
        ["Berlin Mitte", "6", "60.00 EUR", "6", "60.00 EUR"],
        ["Hamburg", "9", "90.00 EUR", "9", "90.00 EUR"],
    ]
    html = browser.get(INDEX).content.decode()
    assert "Berlin Mitte" in html and "Hamburg" in html


def test_a_superuser_gets_head_offices_page(world, django_user_model):
    from django.test import Client

    admin = django_user_model.objects.create_superuser(email="root@example.com", password="x")
    page = start_page(admin)
    assert page.kind == "head_office"
    browser = Client()
    browser.force_login(admin)
    assert "Omnicore — Head office" in browser.get(INDEX).content.decode()


def test_cancelled_orders_are_not_sales(world, member):
    from orders import services as order_services
    from orders.domain import Actor, Status

    order_services.order_transition(
        order=world.a.pickups[1], target=Status.CANCELLED, actor=Actor.STAFF
    )
    page = start_page(member("store_manager", world.a.store).user)
    assert rows(page, "sales")[-1] == ["web", "3", "30.00 EUR"]


def test_a_user_without_the_pickup_permission_gets_no_pickup_tile(world):
    user = view_only_user(world.a.store)  # every view permission, no operation
    page = start_page(user)

    assert "pickups" not in [tile.key for tile in page.tiles]
    returns = next(tile for tile in page.tiles if tile.key == "returns")
    assert "desk" not in returns.url  # no add_return: the list, not the desk
    assert all("/pickups/" not in url for url in urls(page))


def test_a_store_member_with_only_the_order_view_gets_only_the_sales_tile(world):
    from django.contrib.auth.models import Permission

    user = view_only_user(world.a.store)
    user.user_permissions.set(Permission.objects.filter(codename="view_order"))
    user = type(user).objects.get(pk=user.pk)

    assert [tile.key for tile in start_page(user).tiles] == ["sales"]


def test_a_merchandiser_has_no_start_page_and_sees_the_app_list(world, member):
    browser = member("merchandiser")
    assert start_page(browser.user) is None
    html = browser.get(INDEX).content.decode()
    assert 'class="bo-tiles"' not in html
    assert "/admin/catalog/product/" in html


@pytest.mark.parametrize("role", ["store_associate", "store_manager", "head_office"])
def test_every_tile_link_opens_for_that_user(world, member, role):
    stores = () if role == "head_office" else (world.a.store,)
    browser = member(role, *stores)
    links = urls(start_page(browser.user))

    assert len(links) > 5
    for url in sorted(links):
        response = browser.get(url)
        assert response.status_code == 200, url


def test_every_tile_link_opens_for_a_view_only_member(world):
    from django.test import Client

    user = view_only_user(world.a.store)
    browser = Client()
    browser.force_login(user)
    for url in sorted(urls(start_page(user))):
        assert browser.get(url).status_code == 200, url


def test_the_app_list_stays_reachable_under_the_tiles(world, member):
    html = member("store_associate", world.a.store).get(INDEX).content.decode()

    assert 'class="bo-tiles"' in html
    assert '<details class="bo-apps">' in html
    assert "/admin/orders/order/" in html


def test_the_start_page_get_writes_nothing(world, member):
    for browser in (member("store_manager", world.a.store), member("head_office")):
        with CaptureQueriesContext(connection) as queries:
            assert browser.get(INDEX).status_code == 200
        writes = [
            q["sql"]
            for q in queries.captured_queries
            if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
        ]
        assert writes == []


@pytest.mark.parametrize("role", ["store_manager", "head_office"])
def test_the_start_pages_query_count_does_not_grow_with_the_orders(world, member, role):
    stores = () if role == "head_office" else (world.a.store,)
    browser = member(role, *stores)
    browser.get(INDEX)  # warm the session and content type caches

    with CaptureQueriesContext(connection) as before:
        browser.get(INDEX)
    variant = world.shop.sku(store=20, other=20)
    for store in (world.a.store, world.b.store):
        for channel in ("web", "app", "web"):
            place_pickup(variant, store, channel=channel)
    with CaptureQueriesContext(connection) as after:
        html = browser.get(INDEX).content.decode()

    assert len(after.captured_queries) == len(before.captured_queries)
    # Head office: Hamburg 9 + 3 orders; the manager of Berlin: web 4 + 2 orders.
    assert ("120.00 EUR" in html) if role == "head_office" else ("60.00 EUR" in html)


def test_totals_are_decimal_sums_in_the_database(world):
    from backoffice import selectors

    rows_ = selectors.sales_by_channel(location_ids=[world.a.store.pk])
    assert {row.key: row.total_today for row in rows_} == {
        "app": Decimal("10.00"),
        "pos": Decimal("10.00"),
        "web": Decimal("40.00"),
    }
