"""POS change feeds: everything first in bounded pages, then only what changed, with
tombstones; a till reads only its own store's stock; cursors cannot be forged."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from catalog.services import variant_update
from inventory.services import stock_receive
from pricing.selectors import price_list_default
from pricing.services import price_schedule, promotion_create
from tests.factories.catalog import VariantFactory
from tests.factories.inventory import LocationFactory, StockLevelFactory
from tests.factories.pos import make_terminal, settle_change_log, terminal_client
from tests.factories.pricing import PriceFactory

# Transactional: on PostgreSQL a feed serves only changes of transactions that have ended.
pytestmark = pytest.mark.django_db(transaction=True)


def _pull(client, feed, cursor=None, limit=500):
    settle_change_log()
    params = {"limit": limit} | ({"cursor": cursor} if cursor else {})
    response = client.get(f"/api/v1/pos/sync/{feed}/", params)
    assert response.status_code == 200, response.content
    return response.json()


def _pull_all(client, feed, cursor=None, limit=500):
    items = []
    while True:
        page = _pull(client, feed, cursor, limit)
        items += page["results"]
        cursor = page["cursor"]
        if not page["has_more"]:
            return items, cursor


def _priced_variants(n):
    variants = [VariantFactory() for _ in range(n)]
    for v in variants:
        PriceFactory(variant=v, amount=Decimal("10.00"))
    return variants


def test_the_first_pull_pages_through_everything_then_only_changes_follow():
    variants = _priced_variants(5)
    _terminal, token = make_terminal()
    client = terminal_client(token)
    first = _pull(client, "catalog", limit=2)
    assert len(first["results"]) == 2 and first["has_more"] is True
    items, cursor = _pull_all(client, "catalog", first["cursor"], limit=2)
    everything = first["results"] + items
    assert sorted(item["sku"] for item in everything) == sorted(v.sku for v in variants)
    # Nothing changed: nothing more.
    assert _pull(client, "catalog", cursor)["results"] == []
    variant_update(variant=variants[0], name="Renamed")
    changed = _pull(client, "catalog", cursor)
    assert [(i["sku"], i["name"]) for i in changed["results"]] == [(variants[0].sku, "Renamed")]


def test_a_variant_that_stops_selling_comes_as_a_tombstone():
    variants = _priced_variants(2)
    _terminal, token = make_terminal()
    client = terminal_client(token)
    _items, cursor = _pull_all(client, "catalog")
    variant_update(variant=variants[1], is_active=False)
    assert _pull(client, "catalog", cursor)["results"] == [{"id": variants[1].pk, "deleted": True}]
    _items, price_cursor = _pull_all(client, "prices")
    variant_update(variant=variants[0], is_active=False)
    tombstones = _pull(client, "prices", price_cursor)["results"]
    assert tombstones == [{"id": variants[0].pk, "deleted": True}]


def test_a_price_change_and_a_scheduled_price_reach_the_prices_feed():
    (variant,) = _priced_variants(1)
    _terminal, token = make_terminal()
    client = terminal_client(token)
    items, cursor = _pull_all(client, "prices")
    (item,) = items
    assert (item["id"], item["currency"], item["price"]) == (variant.pk, "EUR", "10.00")
    assert [(p["amount"], p["valid_until"]) for p in item["schedule"]] == [("10.00", None)]
    starts = timezone.now() + timedelta(days=3)
    price_schedule(
        price_list=price_list_default(), variant=variant, amount="8.50", valid_from=starts
    )
    (changed,) = _pull(client, "prices", cursor)["results"]
    assert changed["price"] == "10.00"
    current, scheduled = changed["schedule"]
    assert (current["amount"], current["valid_until"]) == ("10.00", starts.isoformat())
    assert scheduled == {"amount": "8.50", "valid_from": starts.isoformat(), "valid_until": None}


def test_promotions_come_with_their_rules_and_scope():
    (variant,) = _priced_variants(1)
    _terminal, token = make_terminal()
    client = terminal_client(token)
    _items, cursor = _pull_all(client, "promotions")
    promotion = promotion_create(
        name="Socks -20%",
        kind="percent_off",
        scope="variants",
        value=20,
        starts_at=timezone.now(),
        variants=[variant],
    )
    (rule,) = _pull(client, "promotions", cursor)["results"]
    assert (rule["id"], rule["kind"], rule["value"]) == (promotion.pk, "percent_off", "20.00")
    assert rule["variant_ids"] == [variant.pk]


def test_a_till_reads_only_the_stock_of_its_own_store():
    store_a, store_b = LocationFactory(code="A"), LocationFactory(code="B")
    variant = VariantFactory()
    StockLevelFactory(variant=variant, location=store_a, on_hand=4)
    StockLevelFactory(variant=variant, location=store_b, on_hand=9)
    _terminal, token = make_terminal(store_a)
    client = terminal_client(token)
    items, cursor = _pull_all(client, "stock")
    assert [(i["sku"], i["on_hand"]) for i in items] == [(variant.sku, 4)]
    stock_receive(lines=[(variant.pk, 5)], location=store_b)
    assert _pull(client, "stock", cursor)["results"] == []  # store B's receipt is not ours
    stock_receive(lines=[(variant.pk, 1)], location=store_a)
    (level,) = _pull(client, "stock", cursor)["results"]
    assert (level["on_hand"], level["available"]) == (5, 5)


def test_a_change_made_during_the_first_walk_is_served_after_it():
    variants = _priced_variants(4)
    _terminal, token = make_terminal()
    client = terminal_client(token)
    first = _pull(client, "catalog", limit=2)
    variant_update(variant=variants[0], name="Changed while walking")  # already walked past
    items, cursor = _pull_all(client, "catalog", first["cursor"], limit=2)
    tail, _cursor = _pull_all(client, "catalog", cursor)
    assert "Changed while walking" in [i["name"] for i in first["results"] + items + tail]


@pytest.mark.parametrize(
    "cursor", ["garbage", "eyJ4IjoxfQ", "\u00b2\u2460", "a" * 1999, "..:..", "%00"]
)
def test_a_forged_or_garbled_cursor_is_a_400_in_the_error_shape(cursor):
    _terminal, token = make_terminal()
    response = terminal_client(token).get("/api/v1/pos/sync/catalog/", {"cursor": cursor})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_cursor"


def test_a_cursor_of_one_feed_is_refused_by_another():
    _priced_variants(1)
    _terminal, token = make_terminal()
    client = terminal_client(token)
    _items, cursor = _pull_all(client, "catalog")
    response = client.get("/api/v1/pos/sync/stock/", {"cursor": cursor})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_cursor"
