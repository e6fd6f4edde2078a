"""No reservation is held forever: placed orders nobody prepared or shipped are escalated to
the store manager's start page after the first deadline and cancelled after the second."""

import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.db import connection
from django.test import Client
from django.utils import timezone

from backoffice.dashboard import start_page
from inventory.models import StockLevel
from inventory.services import verify_ledger
from loyalty.services import verify as loyalty_verify
from orders import services
from orders.models import Order, OrderTransition
from reports.services import facts_verify
from staff.services import staff_member_create
from tests.factories.orders import CARD

pytestmark = pytest.mark.django_db

HOUR = timedelta(hours=1)


def _place(customer, shop, variant, *, delivery=False, quantity=1):
    cart = services.cart_get_current(customer=customer, channel="web")
    services.cart_line_add(cart=cart, sku=variant.sku, quantity=quantity)
    fulfilment = (
        {"type": "delivery", "address": {"line1": "Main St 1"}}
        if delivery
        else {"type": "pickup", "location": shop.store.code}
    )
    return services.checkout_place(
        cart=cart, customer=customer, fulfilment=fulfilment, payment=CARD
    )


def _manager(store):
    user = staff_member_create(
        email=f"manager-{store.code.lower()}@staff.example.com",
        password="Quiet-Harbour-4821",
        role="store_manager",
        locations=[store],
    )
    return type(user).objects.get(pk=user.pk)


def _ledgers_agree():
    assert verify_ledger() == []
    assert loyalty_verify() == []
    assert facts_verify() == []


def test_the_deadlines_run_on_beat_and_the_second_comes_after_the_first():
    schedule = settings.CELERY_BEAT_SCHEDULE["orders-enforce-prepare-deadlines"]
    assert schedule["task"] == "orders.tasks.orders_enforce_prepare_deadlines"
    assert settings.ORDER_CANCEL_AFTER_HOURS > settings.ORDER_ESCALATE_AFTER_HOURS


def test_an_unprepared_pickup_is_escalated_to_the_manager_then_cancelled_and_its_stock_released(
    customer, shop, django_capture_on_commit_callbacks
):
    coat = shop.sku(store=2)
    order = _place(customer, shop, coat)
    placed_at = order.placed_at
    escalate = placed_at + settings.ORDER_ESCALATE_AFTER_HOURS * HOUR
    cancel = placed_at + settings.ORDER_CANCEL_AFTER_HOURS * HOUR

    early = services.orders_enforce_prepare_deadlines(at=escalate - HOUR)
    assert (early.escalated, early.cancelled) == (0, 0)

    run = services.orders_enforce_prepare_deadlines(at=escalate + HOUR)
    assert (run.escalated, run.cancelled) == (1, 0)
    again = services.orders_enforce_prepare_deadlines(at=escalate + 2 * HOUR)
    assert (again.escalated, again.cancelled) == (0, 0)  # escalated once only
    order.refresh_from_db()
    assert order.status == "placed"
    assert order.escalated_at == escalate + HOUR

    manager = _manager(shop.store)
    page = start_page(manager)
    tile = next(tile for tile in page.tiles if tile.key == "overdue")
    assert [f.value for f in tile.figures] == [1]
    assert [cell.text for cell in tile.rows[0]][:3] == [order.number, shop.store.name, "pickup"]
    browser = Client()
    browser.force_login(manager)
    listed = browser.get(tile.url)
    assert listed.status_code == 200
    assert order.number in listed.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        run = services.orders_enforce_prepare_deadlines(at=cancel + HOUR)
    assert (run.escalated, run.cancelled) == (0, 1)
    assert services.orders_enforce_prepare_deadlines(at=cancel + 2 * HOUR).cancelled == 0

    order.refresh_from_db()
    assert order.status == "cancelled"
    last = OrderTransition.objects.filter(order=order).last()
    assert (last.from_status, last.to_status, last.actor_kind) == ("placed", "cancelled", "system")
    assert order.tenders.get().status == "voided"
    level = StockLevel.objects.get(variant=coat, location=shop.store)
    assert (level.on_hand, level.reserved) == (2, 0)
    assert [m.subject for m in mail.outbox if order.number in m.subject][-1] == (
        f"Order {order.number} cancelled"
    )
    overdue = next(tile for tile in start_page(manager).tiles if tile.key == "overdue")
    assert [f.value for f in overdue.figures] == [0]
    _ledgers_agree()


def test_an_unshipped_delivery_is_cancelled_after_the_second_deadline(customer, shop):
    parcel = shop.sku(store=0, warehouse=3)
    order = _place(customer, shop, parcel, delivery=True, quantity=2)
    later = order.placed_at + (settings.ORDER_CANCEL_AFTER_HOURS + 1) * HOUR

    run = services.orders_enforce_prepare_deadlines(at=later)

    assert (run.escalated, run.cancelled) == (1, 1)
    assert Order.objects.get(pk=order.pk).status == "cancelled"
    level = StockLevel.objects.get(variant=parcel, location=shop.warehouse)
    assert (level.on_hand, level.reserved) == (3, 0)
    _ledgers_agree()


def test_a_prepared_pickup_and_a_shipped_delivery_are_left_alone(customer, shop):
    ready = _place(customer, shop, shop.sku(store=1))
    services.order_transition(order=ready, target="ready_for_pickup", actor="staff")
    shipped = _place(customer, shop, shop.sku(store=0, warehouse=1), delivery=True)
    services.order_transition(order=shipped, target="shipped", actor="staff")
    later = timezone.now() + (settings.ORDER_CANCEL_AFTER_HOURS + 1) * HOUR

    run = services.orders_enforce_prepare_deadlines(at=later)

    assert (run.escalated, run.cancelled) == (0, 0)
    assert Order.objects.get(pk=ready.pk).status == "ready_for_pickup"
    assert Order.objects.get(pk=shipped.pk).status == "shipped"


def test_a_re_route_gives_the_new_store_the_full_time_again(customer, shop):
    coat = shop.sku(store=1, other=1)
    order = _place(customer, shop, coat)
    escalate = order.placed_at + (settings.ORDER_ESCALATE_AFTER_HOURS + 1) * HOUR
    assert services.orders_enforce_prepare_deadlines(at=escalate).escalated == 1

    with pytest.MonkeyPatch.context() as patch:
        # The re-route happens at the first deadline (as the manager acts on the tile).
        patch.setattr(timezone, "now", lambda: escalate)
        services.order_reroute(order=order, location=shop.other_store.code)
    order.refresh_from_db()
    assert order.escalated_at is None

    # The old deadline passes: the order is neither cancelled nor escalated again.
    old_cancel = order.placed_at + (settings.ORDER_CANCEL_AFTER_HOURS + 1) * HOUR
    run = services.orders_enforce_prepare_deadlines(at=old_cancel)
    assert (run.escalated, run.cancelled) == (1, 0)  # escalated at the new store only
    order.refresh_from_db()
    assert order.status == "placed"
    new_cancel = escalate + (settings.ORDER_CANCEL_AFTER_HOURS + 1) * HOUR
    assert services.orders_enforce_prepare_deadlines(at=new_cancel).cancelled == 1
    _ledgers_agree()


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks with SKIP LOCKED need PostgreSQL"
)
def test_two_workers_at_once_cancel_each_overdue_order_exactly_once(shop):
    from tests.factories.customers import CustomerWithLoginFactory

    orders = [
        _place(CustomerWithLoginFactory(), shop, shop.sku(store=1), quantity=1) for _ in range(6)
    ]
    later = timezone.now() + (settings.ORDER_CANCEL_AFTER_HOURS + 1) * HOUR
    barrier = threading.Barrier(2)
    results, errors = [], []

    def worker():
        try:
            barrier.wait()
            results.append(services.orders_enforce_prepare_deadlines(at=later))
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sum(r.cancelled for r in results) == len(orders)
    assert sum(r.escalated for r in results) == len(orders)
    assert set(Order.objects.values_list("status", flat=True)) == {"cancelled"}
    assert OrderTransition.objects.filter(to_status="cancelled").count() == len(orders)
    _ledgers_agree()
