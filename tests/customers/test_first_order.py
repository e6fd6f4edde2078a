"""A customer's first order and its channel, kept as orders are placed in any channel.

Reports tell new from returning customers and group lifetime value by first channel from
`Customer.first_order_at` / `first_channel` instead of scanning every order: these tests
hold them to what the orders say — the earliest order wins, whichever channel and
whenever it reached the core, through merges and concurrent first orders.
"""

import importlib
import threading
import time
import uuid
from datetime import timedelta

import pytest
from django.apps import apps as django_apps
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers.models import Customer
from customers.services import (
    customer_create,
    customer_first_order_record,
    customer_merge,
    customers_first_orders_record,
)
from orders import services as order_services
from orders.models import Order
from pos import services as pos_services
from tests.factories.customers import CustomerWithLoginFactory
from tests.factories.orders import CARD, make_shop
from tests.factories.pos import make_terminal

pytestmark = pytest.mark.django_db


def _first(customer) -> tuple:
    row = Customer.objects.get(pk=customer.pk)
    return row.first_order_at, row.first_channel


def _checkout(customer, variant, shop, *, channel="web"):
    cart = order_services.cart_get_current(customer=customer, channel=channel)
    order_services.cart_line_add(cart=cart, sku=variant.sku, quantity=1)
    return order_services.checkout_place(
        cart=cart,
        customer=customer,
        fulfilment={"type": "pickup", "location": shop.store.code},
        payment=CARD,
        channel=channel,
    )


def _sale(variant, *, customer=None, ago=timedelta(minutes=5)):
    return {
        "id": str(uuid.uuid4()),
        "occurred_at": (timezone.now() - ago).isoformat(),
        "cashier": "C1",
        "customer": {"id": customer.pk} if customer else None,
        "lines": [{"sku": variant.sku, "quantity": 1, "unit_price": "10.00", "discount": "0.00"}],
        "tenders": [{"kind": "cash", "amount": "10.00", "points": 0}],
    }


def _sync(terminal, *sales):
    results = pos_services.sales_sync(terminal=terminal, sales=list(sales))
    assert {r.status for r in results} == {"created"}, results
    return [Order.objects.get(number=r.order) for r in results]


@pytest.fixture
def shop(db):
    return make_shop()


@pytest.fixture
def till(shop):
    terminal, _token = make_terminal(shop.store)
    return terminal


def test_a_customer_without_orders_has_no_first_order(db):
    assert _first(CustomerWithLoginFactory()) == (None, "")


def test_the_first_web_order_sets_date_and_channel_and_a_later_app_order_does_not_move_them(shop):
    customer = CustomerWithLoginFactory()
    beans = shop.sku(store=5)

    first = _checkout(customer, beans, shop, channel="web")
    assert _first(customer) == (first.placed_at, "web")

    later = _checkout(customer, beans, shop, channel="app")
    assert later.placed_at > first.placed_at
    assert _first(customer) == (first.placed_at, "web")


def test_a_guest_order_counts_for_the_profile_it_is_linked_to(shop):
    known = customer_create(email="ada@example.com", source="pos")
    beans = shop.sku(store=5)
    cart = order_services.cart_create(channel="app")
    order_services.cart_line_add(cart=cart, sku=beans.sku, quantity=1)

    order = order_services.checkout_place(
        cart=cart,
        fulfilment={"type": "pickup", "location": shop.store.code},
        contact={"email": "ada@example.com"},
        payment=CARD,
    )

    assert order.customer_id == known.pk
    assert _first(known) == (order.placed_at, "app")


def test_a_till_sale_of_an_identified_customer_makes_pos_the_first_channel(shop, till):
    customer = CustomerWithLoginFactory()
    anonymous = CustomerWithLoginFactory()
    beans = shop.sku(store=5)

    (order, _other) = _sync(till, _sale(beans, customer=customer), _sale(beans))

    assert _first(customer) == (order.placed_at, "pos")
    assert _first(anonymous) == (None, "")


def test_a_till_sale_synced_after_a_web_order_but_made_before_it_is_the_first_order(shop, till):
    customer = CustomerWithLoginFactory()
    beans = shop.sku(store=5)
    rung_up = timezone.now() - timedelta(hours=3)  # the till was offline since then
    web = _checkout(customer, beans, shop, channel="web")
    assert _first(customer) == (web.placed_at, "web")

    (till_order,) = _sync(till, _sale(beans, customer=customer, ago=timezone.now() - rung_up))

    # A till sale's order is placed when the sale happened, not when it was synced.
    assert abs(till_order.placed_at - rung_up) < timedelta(seconds=1)
    assert _first(customer) == (till_order.placed_at, "pos")


def test_a_batch_of_till_sales_keeps_each_customers_earliest_in_one_statement(shop, till):
    beans = shop.sku(store=50)
    twice, once = CustomerWithLoginFactory(), CustomerWithLoginFactory()
    returning = CustomerWithLoginFactory()
    web = _checkout(returning, beans, shop)
    sales = [
        _sale(beans, customer=twice, ago=timedelta(minutes=30)),
        _sale(beans, customer=twice, ago=timedelta(minutes=50)),
        _sale(beans, customer=once, ago=timedelta(minutes=10)),
        _sale(beans, customer=returning, ago=timedelta(minutes=-1)),  # after the web order
        _sale(beans),
    ]

    with CaptureQueriesContext(connection) as queries:
        orders = _sync(till, *sales)

    table = Customer._meta.db_table
    updates = [
        q["sql"] for q in queries.captured_queries if q["sql"].startswith(f'UPDATE "{table}"')
    ]
    assert len(updates) == 1, updates
    assert _first(twice) == (orders[1].placed_at, "pos")
    assert _first(once) == (orders[2].placed_at, "pos")
    assert _first(returning) == (web.placed_at, "web")


def _second(customer):
    return Customer.objects.get(pk=customer.pk).second_order_at


def _campaign(customer) -> tuple:
    row = Customer.objects.get(pk=customer.pk)
    return row.first_utm_source, row.first_utm_medium, row.first_utm_campaign


def test_recording_orders_keeps_the_two_earliest_in_whatever_order_they_arrive(db):
    customer = customer_create(phone="+4915111111111")
    noon = timezone.now().replace(hour=12, minute=0, second=0, microsecond=0)
    hour = timedelta(hours=1)

    assert customer_first_order_record(customer_id=customer.pk, at=noon, channel="app")
    assert (_first(customer), _second(customer)) == ((noon, "app"), None)
    # A later order becomes the second; the same moment again, or a later one, changes nothing.
    assert customer_first_order_record(customer_id=customer.pk, at=noon + 2 * hour, channel="web")
    assert not customer_first_order_record(customer_id=customer.pk, at=noon, channel="web")
    assert not customer_first_order_record(
        customer_id=customer.pk, at=noon + 3 * hour, channel="web"
    )
    assert _second(customer) == noon + 2 * hour
    # One between the first and the second becomes the second.
    assert customer_first_order_record(customer_id=customer.pk, at=noon + hour, channel="pos")
    assert (_first(customer), _second(customer)) == ((noon, "app"), noon + hour)
    # An earlier one becomes the first, and the old first the second.
    assert customer_first_order_record(
        customer_id=customer.pk, at=noon - timedelta(days=2), channel="pos"
    )
    assert _first(customer) == (noon - timedelta(days=2), "pos")
    assert _second(customer) == noon


def test_the_first_order_brings_its_campaign_and_a_later_one_does_not(db):
    customer = customer_create(phone="+4915111111111")
    now = timezone.now()
    spring = ("newsletter", "email", "spring")

    customer_first_order_record(customer_id=customer.pk, at=now, channel="web", utm=spring)
    customer_first_order_record(
        customer_id=customer.pk, at=now + timedelta(days=1), channel="app", utm=("x", "y", "z")
    )
    assert _campaign(customer) == spring
    customer_first_order_record(customer_id=customer.pk, at=now - timedelta(days=1), channel="pos")
    assert _campaign(customer) == ("", "", "")  # a till sale came first: no campaign


def test_a_batch_with_one_customer_several_times_notes_the_two_earliest(db):
    customer = customer_create(phone="+4915111111111")
    now = timezone.now()
    changed = customers_first_orders_record(
        orders=[
            (customer.pk, now - timedelta(hours=1), "pos"),
            (customer.pk, now - timedelta(hours=5), "app", ("ads", "cpc", "winter")),
            (customer.pk, now - timedelta(hours=2), "web"),
        ]
    )
    assert changed == 1
    assert _first(customer) == (now - timedelta(hours=5), "app")
    assert _second(customer) == now - timedelta(hours=2)
    assert _campaign(customer) == ("ads", "cpc", "winter")
    assert customers_first_orders_record(orders=[]) == 0


@pytest.mark.parametrize(
    ("kept", "batch", "expected"),
    [
        # (first, second) kept, the batch's times, the two earliest of them all (hours).
        ((None, None), (5,), (5, None)),
        ((None, None), (5, 3), (3, 5)),
        ((4, None), (5, 3), (3, 4)),
        ((4, None), (4, 6), (4, 6)),
        ((4, 9), (4, 6), (4, 6)),
        ((4, 6), (4, 9), (4, 6)),
        ((4, 6), (5, 9), (4, 5)),
        ((4, 6), (1, 2), (1, 2)),
        ((4, 6), (1, 5), (1, 4)),
        ((4, 6), (7, 8), (4, 6)),
        ((4, None), (7, 8), (4, 7)),
    ],
)
def test_a_batch_meets_the_kept_first_and_second_orders(db, kept, batch, expected):
    base = timezone.now().replace(microsecond=0)

    def at(hours):
        return None if hours is None else base + timedelta(hours=hours)

    customer = customer_create(phone="+4915111111111")
    other = customer_create(phone="+4915111111112")  # a second customer: the batch form
    Customer.objects.filter(pk=customer.pk).update(
        first_order_at=at(kept[0]),
        second_order_at=at(kept[1]),
        first_channel="web" if kept[0] else "",
    )

    customers_first_orders_record(
        orders=[(customer.pk, at(h), "pos") for h in batch] + [(other.pk, at(0), "app")]
    )

    assert (_first(customer)[0], _second(customer)) == (at(expected[0]), at(expected[1]))
    assert _first(other) == (at(0), "app")


def test_a_channel_that_cannot_be_stored_is_refused(db):
    from core.errors import ValidationFailed

    customer = customer_create(phone="+4915111111111")
    for channel in ("", "c" * 17, None):
        with pytest.raises(ValidationFailed):
            customer_first_order_record(customer_id=customer.pk, at=timezone.now(), channel=channel)
    assert _first(customer) == (None, "")


@pytest.mark.parametrize(
    ("survivor_days_ago", "duplicate_days_ago", "expected"),
    [
        (10, 30, "duplicate"),  # the duplicate bought first
        (30, 10, "survivor"),
        (None, 10, "duplicate"),
        (10, None, "survivor"),
        (None, None, None),
    ],
)
def test_a_merge_keeps_the_earlier_first_order_of_the_two(
    db, survivor_days_ago, duplicate_days_ago, expected
):
    now = timezone.now()
    survivor = customer_create(phone="+4915111111111")
    duplicate = customer_create(email="dup@example.com")
    for customer, days, channel in (
        (survivor, survivor_days_ago, "web"),
        (duplicate, duplicate_days_ago, "pos"),
    ):
        if days is not None:
            customer_first_order_record(
                customer_id=customer.pk, at=now - timedelta(days=days), channel=channel
            )
    before = {"survivor": _first(survivor), "duplicate": _first(duplicate), None: (None, "")}

    record = customer_merge(survivor=survivor, duplicate=duplicate, merged_by=None)

    assert _first(survivor) == before[expected]
    assert record.duplicate_snapshot["first_channel"] == before["duplicate"][1]


def test_a_merge_keeps_the_two_earliest_orders_of_both_and_the_first_ones_campaign(db):
    now = timezone.now()
    survivor = customer_create(phone="+4915111111111")
    duplicate = customer_create(email="dup@example.com")
    for customer, days, utm in (
        (survivor, 10, ("google", "cpc", "brand")),
        (survivor, 2, ("", "", "")),
        (duplicate, 30, ("newsletter", "email", "spring")),
        (duplicate, 1, ("", "", "")),
    ):
        customer_first_order_record(
            customer_id=customer.pk, at=now - timedelta(days=days), channel="web", utm=utm
        )

    customer_merge(survivor=survivor, duplicate=duplicate, merged_by=None)

    assert _first(survivor) == (now - timedelta(days=30), "web")
    assert _second(survivor) == now - timedelta(days=10)
    assert _campaign(survivor) == ("newsletter", "email", "spring")


def test_the_migration_fills_in_second_orders_and_first_campaigns(shop):
    beans = shop.sku(store=20)
    customer, nobody = CustomerWithLoginFactory(), CustomerWithLoginFactory()
    first = _checkout(customer, beans, shop)
    second = _checkout(customer, beans, shop, channel="app")
    _checkout(customer, beans, shop)
    Order.objects.filter(pk=first.pk).update(utm_source="ads", utm_campaign="launch")
    Customer.objects.update(second_order_at=None, first_utm_source="", first_utm_campaign="")
    migration = importlib.import_module(
        "orders.migrations.0010_backfill_second_orders_and_first_campaigns"
    )

    migration.backfill(django_apps, None)

    assert _second(customer) == second.placed_at
    assert _campaign(customer) == ("ads", "", "launch")
    assert _second(nobody) is None


def test_the_migration_fills_in_first_orders_from_existing_orders(shop, till):
    beans = shop.sku(store=20)
    web_first, till_first = CustomerWithLoginFactory(), CustomerWithLoginFactory()
    nobody = CustomerWithLoginFactory()
    web = _checkout(web_first, beans, shop)
    _checkout(web_first, beans, shop, channel="app")
    _checkout(till_first, beans, shop)
    (till_order,) = _sync(till, _sale(beans, customer=till_first, ago=timedelta(days=3)))
    Customer.objects.update(first_order_at=None, first_channel="")  # before the columns
    migration = importlib.import_module("orders.migrations.0007_order_attribution_and_store")

    migration.backfill_first_orders(django_apps, None)

    assert _first(web_first) == (web.placed_at, "web")
    assert _first(till_first) == (till_order.placed_at, "pos")
    assert _first(nobody) == (None, "")


# --- on PostgreSQL: first orders at the same moment ------------------------------------------


def _race(*calls) -> list:
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait(timeout=10)
            results[index] = call()
        except Exception as exc:  # noqa: BLE001 — reported by the assertions
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_first_orders_leave_the_earliest_whatever_order_they_commit_in():
    customer = customer_create(phone="+4915111111111")
    now = timezone.now()
    # Shuffled times: the earliest is neither the first nor the last to start.
    times = [now - timedelta(minutes=m) for m in (20, 5, 45, 30, 10, 40, 15, 25)]

    def order_at(at, channel):
        def place():
            with transaction.atomic():
                customer_first_order_record(customer_id=customer.pk, at=at, channel=channel)
                time.sleep(0.2)  # still open while the others arrive: they wait on the row

        return place

    channels = ["web", "app", "pos", "web", "app", "web", "pos", "app"]
    results = _race(*[order_at(at, ch) for at, ch in zip(times, channels, strict=True)])

    assert results == [None] * len(times)
    assert _first(customer) == (min(times), "pos")
    assert _second(customer) == sorted(times)[1]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_web_checkout_and_an_earlier_till_sale_racing_leave_the_till_sale_first():
    shop = make_shop()
    terminal, _token = make_terminal(shop.store)
    beans = shop.sku(store=50)
    for _round in range(5):
        customer = CustomerWithLoginFactory()
        cart = order_services.cart_get_current(customer=customer, channel="web")
        order_services.cart_line_add(cart=cart, sku=beans.sku, quantity=1)
        sale = _sale(beans, customer=customer, ago=timedelta(hours=1))

        web, synced = _race(
            lambda cart=cart, customer=customer: order_services.checkout_place(
                cart=cart,
                customer=customer,
                fulfilment={"type": "pickup", "location": shop.store.code},
                payment=CARD,
            ),
            lambda sale=sale: pos_services.sales_sync(terminal=terminal, sales=[sale]),
        )

        assert isinstance(web, Order), web
        (result,) = synced
        till_order = Order.objects.get(number=result.order)
        assert _first(customer) == (till_order.placed_at, "pos")
        assert till_order.placed_at < web.placed_at


def test_a_profile_seen_with_two_earlier_orders_needs_no_statement(db):
    """A returning customer's checkout: the profile read in the request already holds two
    orders before this one, and the kept times only move earlier — nothing to send."""
    customer = customer_create(phone="+4915111111112")
    noon = timezone.now().replace(hour=12, minute=0, second=0, microsecond=0)
    hour = timedelta(hours=1)
    customer_first_order_record(customer_id=customer.pk, at=noon, channel="app")
    customer_first_order_record(customer_id=customer.pk, at=noon + hour, channel="web")
    seen = Customer.objects.get(pk=customer.pk)

    with CaptureQueriesContext(connection) as ctx:
        changed = customer_first_order_record(
            customer_id=customer.pk, at=noon + 2 * hour, channel="pos", seen=seen
        )
    assert not changed and ctx.captured_queries == []

    # Seen with one order only, or a new order earlier than the kept second: it is sent.
    with CaptureQueriesContext(connection) as ctx:
        changed = customer_first_order_record(
            customer_id=customer.pk, at=noon + hour / 2, channel="pos", seen=seen
        )
    assert changed and len(ctx.captured_queries) == 1
    assert (_first(customer), _second(customer)) == ((noon, "app"), noon + hour / 2)
    once = customer_create(phone="+4915111111113")
    customer_first_order_record(customer_id=once.pk, at=noon, channel="app")
    seen_once = Customer.objects.get(pk=once.pk)
    assert customer_first_order_record(
        customer_id=once.pk, at=noon + hour, channel="web", seen=seen_once
    )
    assert _second(once) == noon + hour


def test_a_returning_customers_checkout_does_not_touch_their_profile_row(db):
    shop = make_shop()
    customer = CustomerWithLoginFactory()
    sku = shop.sku(store=10).sku

    def checkout():
        cart = order_services.cart_get_current(customer=customer, channel="web")
        order_services.cart_line_add(cart=cart, sku=sku, quantity=1)
        with CaptureQueriesContext(connection) as ctx:
            order_services.checkout_place(
                cart=cart,
                customer=Customer.objects.get(pk=customer.pk),
                fulfilment={"type": "pickup", "location": shop.store.code},
                payment=order_services.PaymentInput(provider="test", token="tok_ok"),
            )
        # On PostgreSQL the UPDATE rides ahead of the order's insert, in its statement.
        return [q["sql"] for q in ctx.captured_queries if '"customers_customer" SET' in q["sql"]]

    assert checkout()  # the first
    assert checkout()  # the second
    assert not checkout()  # the third
    row = Customer.objects.get(pk=customer.pk)
    first, second, _third = Order.objects.filter(customer=customer).order_by("placed_at")
    assert (row.first_order_at, row.second_order_at) == (first.placed_at, second.placed_at)
