"""The rules of taking goods back: which orders, how many units, until when, by whom.

Service-level tests over real orders (checkout then handover or delivery, and a till
sale): only completed sales come back; never more units than were bought, across every
return and open request of the order, and a refused return changes nothing; return
windows per category (inherited by sub-categories) or from the setting, which a manager
may override with a reason; refunds to another tender only by a manager with a reason;
stock goes back into the store that received the goods (damaged units are written off);
the order becomes partially returned, then returned; a customer's request holds its units
and moves nothing until staff complete it. Both ledgers verify after every test.
"""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from core.errors import DomainError
from inventory.models import StockLevel, StockMovement
from inventory.services import verify_ledger
from loyalty import selectors as loyalty_selectors
from loyalty import services as loyalty_services
from loyalty.models import LoyaltyEntry
from orders import services as order_services
from orders.domain import Actor, Status
from orders.models import Order, OrderTransition, TestProviderCharge
from returns import services
from returns.models import RefundTender, Return, ReturnLine, ReturnWindow
from tests.factories.catalog import CategoryFactory, ProductFactory, VariantFactory
from tests.factories.inventory import StockLevelFactory
from tests.factories.orders import CARD, CartFactory, order_staff
from tests.factories.pricing import PriceFactory
from tests.factories.returns import collected_order, returns_staff

pytestmark = pytest.mark.django_db

D = Decimal


# --- helpers -----------------------------------------------------------------------------


def placed_order(shop, customer, lines):
    cart = CartFactory(customer=customer, channel="app")
    for variant, quantity in lines:
        order_services.cart_line_add(cart=cart, sku=variant.sku, quantity=quantity)
    return order_services.checkout_place(
        cart=cart,
        fulfilment={"type": "delivery", "address": {"line1": "Main St 1"}},
        payment=CARD,
        customer=customer,
        user=customer.user,
    )


def delivered_order(shop, customer, lines, *, days_ago: int = 0):
    """A delivery order (shipped from the warehouse) delivered `days_ago` days ago."""
    order = placed_order(shop, customer, lines)
    staff = order_staff(order.location)
    order_services.order_transition(
        order=order, target=Status.SHIPPED, actor=Actor.STAFF, user=staff
    )
    order_services.order_transition(
        order=order,
        target=Status.DELIVERED,
        actor=Actor.STAFF,
        user=staff,
        at=timezone.now() - timedelta(days=days_ago),
    )
    order.refresh_from_db()
    return order


def till_order(shop, customer, variant, quantity: int, *, unit_price: str = "10.00"):
    """A sale that happened at a till of the shop's store, paid in cash."""
    total = D(unit_price) * quantity
    sale = order_services.TillSale(
        reference=f"pos:{uuid.uuid4()}",
        occurred_at=timezone.now(),
        cashier="anna",
        customer=customer,
        lines=(
            order_services.TillLine(
                variant_id=variant.pk,
                sku=variant.sku,
                name=variant.name,
                category_id=variant.product.category_id,
                quantity=quantity,
                unit_price=D(unit_price),
                discount=D("0.00"),
                vat_rate=D("20.00"),
            ),
        ),
        tenders=(order_services.TillTender(kind="cash", amount=total),),
    )
    record = order_services.till_sales_record(location=shop.store, sales=[sale], currency="EUR")
    return Order.objects.get(pk=record.orders[sale.reference].pk)


def categorised_sku(shop, category, *, price: str = "10.00"):
    variant = VariantFactory(product=ProductFactory(category=category))
    PriceFactory(variant=variant, amount=D(price))
    StockLevelFactory(variant=variant, location=shop.store, on_hand=5)
    StockLevelFactory(variant=variant, location=shop.warehouse, on_hand=5)
    return variant


def give_back(order, location, lines, *, user=None, **kwargs):
    """Return `lines` [(variant, quantity) or (variant, quantity, {"condition": …})]."""
    return services.return_create(
        order=order,
        location=location,
        reason="changed_mind",
        lines=[
            {"sku": line[0].sku, "quantity": line[1], **(line[2] if len(line) > 2 else {})}
            for line in lines
        ],
        user=user or returns_staff(location),
        **kwargs,
    )


def books(order) -> dict:
    """Everything a return could change, to show that a refused one changed nothing."""
    order.refresh_from_db()
    return {
        "status": order.status,
        "movements": StockMovement.objects.count(),
        "on_hand": sorted(StockLevel.objects.values_list("pk", "on_hand", "reserved")),
        "entries": LoyaltyEntry.objects.count(),
        "returns": Return.objects.count(),
        "return_lines": ReturnLine.objects.count(),
        "refunds": RefundTender.objects.count(),
        "transitions": OrderTransition.objects.filter(order=order).count(),
        "provider_refunded": sorted(TestProviderCharge.objects.values_list("pk", "refunded")),
    }


def assert_ledgers_verify():
    assert verify_ledger() == []
    assert loyalty_services.verify() == []


def refused(call) -> DomainError:
    with pytest.raises(DomainError) as caught:
        call()
    return caught.value


# --- which orders ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["collected", "delivered", "till"])
def test_a_collected_a_delivered_and_a_till_sold_order_can_be_returned(kind, shop, rules, customer):
    shirt = shop.sku(price="10.00")
    order = {
        "collected": lambda: collected_order(shop, customer, [(shirt, 2)]),
        "delivered": lambda: delivered_order(shop, customer, [(shirt, 2)]),
        "till": lambda: till_order(shop, customer, shirt, 2),
    }[kind]()

    ret = give_back(order, shop.store, [(shirt, 1)])

    assert (ret.status, ret.value, ret.refund_amount) == ("completed", D("10.00"), D("10.00"))
    order.refresh_from_db()
    assert order.status == "partially_returned"
    assert_ledgers_verify()


def test_a_till_sale_paid_in_cash_is_refunded_in_cash_at_once(shop, rules, customer):
    shirt = shop.sku(price="10.00")
    order = till_order(shop, customer, shirt, 2)

    ret = give_back(order, shop.other_store, [(shirt, 2)])

    assert list(ret.refunds.values_list("kind", "amount", "status")) == [
        ("cash", D("20.00"), "refunded")
    ]
    assert loyalty_selectors.balance_get(customer=customer) == 0


@pytest.mark.parametrize("state", ["placed", "cancelled", "ready_for_pickup"])
def test_an_order_that_was_not_completed_is_not_returnable(state, shop, rules, customer):
    shirt = shop.sku(price="10.00")
    order = placed_order(shop, customer, [(shirt, 1)])
    if state == "cancelled":
        order_services.order_cancel_by_customer(order=order, user=customer.user)
    if state == "ready_for_pickup":
        cart = CartFactory(customer=customer, channel="web")
        order_services.cart_line_add(cart=cart, sku=shirt.sku, quantity=1)
        order = order_services.checkout_place(
            cart=cart,
            fulfilment={"type": "pickup", "location": shop.store.code},
            payment=CARD,
            customer=customer,
            user=customer.user,
        )
        order_services.order_transition(
            order=order,
            target=Status.READY_FOR_PICKUP,
            actor=Actor.STAFF,
            user=order_staff(shop.store),
        )
    before = books(order)
    assert before["status"] == state

    error = refused(lambda: give_back(order, shop.store, [(shirt, 1)]))

    assert error.code == "order_not_returnable"
    assert error.details == {"order": order.number, "status": state}
    assert books(order) == before


def test_a_sku_that_is_not_on_the_order_is_named_and_nothing_changes(shop, rules, customer):
    shirt, other = shop.sku(), shop.sku()
    order = collected_order(shop, customer, [(shirt, 1)])
    before = books(order)

    error = refused(lambda: give_back(order, shop.store, [(shirt, 1), (other, 1)]))

    assert error.code == "return_line_unknown"
    assert error.details == {"order": order.number, "skus": [other.sku]}
    assert books(order) == before


# --- how many units ----------------------------------------------------------------------


def test_returning_more_units_than_were_bought_is_refused_and_changes_nothing(
    shop, rules, customer
):
    shirt = shop.sku(price="10.00")
    order = collected_order(shop, customer, [(shirt, 3)])
    before = books(order)

    error = refused(lambda: give_back(order, shop.store, [(shirt, 4)]))

    assert error.code == "return_exceeds_purchase"
    assert error.details == {
        "order": order.number,
        "lines": [{"sku": shirt.sku, "bought": 3, "returnable": 3, "requested": 4}],
    }
    assert books(order) == before


def test_a_second_return_of_units_already_returned_is_refused_and_changes_nothing(
    shop, rules, customer
):
    shirt = shop.sku(price="10.00")
    order = collected_order(shop, customer, [(shirt, 3)])
    give_back(order, shop.store, [(shirt, 2)])
    before = books(order)

    error = refused(lambda: give_back(order, shop.other_store, [(shirt, 2)]))

    assert error.code == "return_exceeds_purchase"
    assert error.details["lines"] == [
        {"sku": shirt.sku, "bought": 3, "returnable": 1, "requested": 2}
    ]
    assert books(order) == before
    assert books(order)["status"] == "partially_returned"
    assert_ledgers_verify()


def test_the_same_sku_named_twice_in_one_return_counts_both_times(shop, rules, customer):
    shirt = shop.sku(price="10.00")
    order = collected_order(shop, customer, [(shirt, 3)])
    before = books(order)

    error = refused(lambda: give_back(order, shop.store, [(shirt, 2), (shirt, 2)]))

    assert error.code == "return_exceeds_purchase"
    assert books(order) == before


def test_a_fully_returned_order_is_returned_and_refuses_more_as_exceeding_the_purchase(
    shop, rules, customer
):
    shirt, socks = shop.sku(price="10.00"), shop.sku(price="4.00")
    order = collected_order(shop, customer, [(shirt, 2), (socks, 1)])

    give_back(order, shop.store, [(shirt, 1)])
    order.refresh_from_db()
    assert order.status == "partially_returned"
    give_back(order, shop.store, [(shirt, 1), (socks, 1)])
    order.refresh_from_db()
    assert order.status == "returned"

    assert list(
        OrderTransition.objects.filter(order=order)
        .order_by("id")
        .values_list("from_status", "to_status")[3:]
    ) == [("collected", "partially_returned"), ("partially_returned", "returned")]
    before = books(order)
    error = refused(lambda: give_back(order, shop.store, [(shirt, 1)]))
    assert error.code == "return_exceeds_purchase"
    assert error.details["lines"] == [
        {"sku": shirt.sku, "bought": 2, "returnable": 0, "requested": 1}
    ]
    assert books(order) == before
    error = refused(lambda: request(order, customer, shop.store, [(socks, 1)]))
    assert error.code == "return_exceeds_purchase"
    assert loyalty_selectors.balance_get(customer=customer) == 0
    assert_ledgers_verify()


# --- return windows ----------------------------------------------------------------------


def test_the_default_window_comes_from_the_setting(shop, rules, customer, settings):
    settings.RETURN_WINDOW_DAYS = 14
    shirt = shop.sku(price="10.00")
    late = delivered_order(shop, customer, [(shirt, 1)], days_ago=15)
    in_time = delivered_order(shop, customer, [(shirt, 1)], days_ago=13)
    before = books(late)

    error = refused(lambda: give_back(late, shop.store, [(shirt, 1)]))

    assert error.code == "return_window_closed"
    assert [(line["sku"], line["days"]) for line in error.details["lines"]] == [(shirt.sku, 14)]
    assert books(late) == before
    assert give_back(in_time, shop.store, [(shirt, 1)]).status == "completed"
    assert_ledgers_verify()


def test_a_category_window_applies_to_its_sub_categories_unless_they_have_their_own(
    shop, rules, customer, settings
):
    settings.RETURN_WINDOW_DAYS = 30
    clothing = CategoryFactory()
    shirts = CategoryFactory(parent=clothing)
    swimwear = CategoryFactory(parent=clothing)
    ReturnWindow.objects.create(category=clothing, days=7)
    ReturnWindow.objects.create(category=swimwear, days=14)
    shirt = categorised_sku(shop, shirts)
    bikini = categorised_sku(shop, swimwear)
    elsewhere = shop.sku()
    order = delivered_order(shop, customer, [(shirt, 1), (bikini, 1), (elsewhere, 1)], days_ago=10)

    error = refused(lambda: give_back(order, shop.store, [(shirt, 1), (bikini, 1)]))

    assert error.code == "return_window_closed"
    assert [(line["sku"], line["days"]) for line in error.details["lines"]] == [(shirt.sku, 7)]
    ret = give_back(order, shop.store, [(bikini, 1), (elsewhere, 1)])
    assert ret.value == D("20.00")
    assert_ledgers_verify()


def test_a_manager_accepts_a_late_return_with_a_reason(shop, rules, customer, settings):
    settings.RETURN_WINDOW_DAYS = 14
    shirt = shop.sku(price="10.00")
    order = delivered_order(shop, customer, [(shirt, 1)], days_ago=20)
    manager = returns_staff(shop.store, manager=True)

    ret = give_back(
        order, shop.store, [(shirt, 1)], user=manager, override_reason="  Seam came apart  "
    )

    assert (ret.window_override_reason, ret.refund_amount) == ("Seam came apart", D("10.00"))
    assert_ledgers_verify()


def test_a_manager_without_a_reason_is_refused_like_anyone(shop, rules, customer, settings):
    settings.RETURN_WINDOW_DAYS = 14
    shirt = shop.sku(price="10.00")
    order = delivered_order(shop, customer, [(shirt, 1)], days_ago=20)
    manager = returns_staff(shop.store, manager=True)
    before = books(order)

    error = refused(lambda: give_back(order, shop.store, [(shirt, 1)], user=manager))

    assert error.code == "return_window_closed"
    assert books(order) == before


def test_staff_who_are_not_managers_cannot_override_the_window(shop, rules, customer, settings):
    settings.RETURN_WINDOW_DAYS = 14
    shirt = shop.sku(price="10.00")
    order = delivered_order(shop, customer, [(shirt, 1)], days_ago=20)
    associate = returns_staff(shop.store)
    before = books(order)

    error = refused(
        lambda: give_back(
            order, shop.store, [(shirt, 1)], user=associate, override_reason="customer insists"
        )
    )

    assert error.code == "return_window_closed"
    assert error.details == {"override": "permission_required"}
    assert books(order) == before


# --- refund tender -----------------------------------------------------------------------


def test_a_manager_refunds_in_cash_instead_of_the_card_with_a_reason(
    shop, rules, customer, django_capture_on_commit_callbacks
):
    shirt = shop.sku(price="25.00")
    order = collected_order(shop, customer, [(shirt, 2)])
    manager = returns_staff(shop.store, manager=True)

    with django_capture_on_commit_callbacks(execute=True):
        ret = give_back(
            order,
            shop.store,
            [(shirt, 1)],
            user=manager,
            refund_to="cash",
            refund_to_reason="card expired",
        )

    assert list(
        ret.refunds.values_list("kind", "amount", "original_tender", "provider", "status", "reason")
    ) == [("cash", D("25.00"), None, "desk", "refunded", "card expired")]
    card = order.tenders.get(kind="card")
    assert TestProviderCharge.objects.get(reference=card.provider_reference).refunded == 0
    # The card can still give back the other shirt in full later.
    with django_capture_on_commit_callbacks(execute=True):
        later = give_back(order, shop.store, [(shirt, 1)])
    assert list(later.refunds.values_list("kind", "amount")) == [("card", D("25.00"))]
    assert TestProviderCharge.objects.get(reference=card.provider_reference).refunded == D("25.00")
    assert_ledgers_verify()


@pytest.mark.parametrize(
    "manager, reason", [(False, "card expired"), (True, ""), (True, "   "), (False, "")]
)
def test_another_tender_needs_both_a_reason_and_a_manager(manager, reason, shop, rules, customer):
    shirt = shop.sku(price="25.00")
    order = collected_order(shop, customer, [(shirt, 1)])
    user = returns_staff(shop.store, manager=manager)
    before = books(order)

    error = refused(
        lambda: give_back(
            order, shop.store, [(shirt, 1)], user=user, refund_to="cash", refund_to_reason=reason
        )
    )

    assert error.code == "refund_tender_not_allowed"
    assert books(order) == before


def test_an_unknown_refund_tender_is_refused(shop, rules, customer):
    shirt = shop.sku(price="25.00")
    order = collected_order(shop, customer, [(shirt, 1)])
    manager = returns_staff(shop.store, manager=True)

    error = refused(
        lambda: give_back(
            order, shop.store, [(shirt, 1)], user=manager, refund_to="bitcoin", refund_to_reason="x"
        )
    )

    assert error.code == "invalid_refund_tender"


# --- stock -------------------------------------------------------------------------------


def test_an_online_order_returned_at_another_store_restocks_that_store(shop, rules, customer):
    shirt = shop.sku(price="10.00", other=2)
    order = delivered_order(shop, customer, [(shirt, 3)])
    warehouse_before = StockLevel.objects.get(variant=shirt, location=shop.warehouse).on_hand
    store_before = StockLevel.objects.get(variant=shirt, location=shop.store).on_hand

    ret = give_back(order, shop.other_store, [(shirt, 2)])

    assert list(
        StockMovement.objects.filter(reference=ret.reference).values_list(
            "level__location", "level__variant", "kind", "quantity", "on_hand_delta"
        )
    ) == [(shop.other_store.pk, shirt.pk, "return", 2, 2)]
    assert ret.reference == f"return:{ret.number}"
    assert StockLevel.objects.get(variant=shirt, location=shop.other_store).on_hand == 4
    assert StockLevel.objects.get(variant=shirt, location=shop.warehouse).on_hand == (
        warehouse_before
    )
    assert StockLevel.objects.get(variant=shirt, location=shop.store).on_hand == store_before
    assert_ledgers_verify()


def test_a_store_that_never_stocked_the_item_gets_a_level_for_it(shop, rules, customer):
    shirt = shop.sku(price="10.00")  # nothing at the other store
    order = collected_order(shop, customer, [(shirt, 1)])

    give_back(order, shop.other_store, [(shirt, 1)])

    level = StockLevel.objects.get(variant=shirt, location=shop.other_store)
    assert (level.on_hand, level.reserved) == (1, 0)
    assert_ledgers_verify()


def test_damaged_units_are_returned_and_written_off_and_still_refunded(shop, rules, customer):
    shirt = shop.sku(price="10.00", other=2)
    order = collected_order(shop, customer, [(shirt, 3)])

    ret = give_back(
        order,
        shop.other_store,
        [(shirt, 1, {"condition": "damaged"}), (shirt, 1)],
    )

    assert sorted(ret.lines.values_list("quantity", "condition", "value")) == [
        (1, "damaged", D("10.00")),
        (1, "resaleable", D("10.00")),
    ]
    assert list(
        StockMovement.objects.filter(reference=ret.reference)
        .order_by("id")
        .values_list("kind", "quantity", "on_hand_delta")
    ) == [("return", 2, 2), ("write_off", 1, -1)]
    assert StockLevel.objects.get(variant=shirt, location=shop.other_store).on_hand == 3
    assert ret.refund_amount == D("20.00")
    assert_ledgers_verify()


# --- customer requests -------------------------------------------------------------------


def request(order, customer, location, lines):
    return services.return_request(
        order=order,
        customer=customer,
        location=location,
        reason="wrong_size",
        lines=[{"sku": v.sku, "quantity": q} for v, q in lines],
    )


def test_a_customer_request_moves_nothing_but_holds_its_units(shop, rules, customer):
    shirt = shop.sku(price="10.00")
    order = collected_order(shop, customer, [(shirt, 3)])
    before = books(order)

    ret = request(order, customer, shop.other_store, [(shirt, 2)])

    assert (ret.status, ret.value, ret.refund_amount) == ("requested", D("20.00"), D("0.00"))
    after = books(order)
    assert after == {**before, "returns": 1, "return_lines": 1}
    assert after["status"] == "collected"
    error = refused(lambda: give_back(order, shop.store, [(shirt, 2)]))
    assert error.code == "return_exceeds_purchase"
    assert error.details["lines"][0]["returnable"] == 1
    assert give_back(order, shop.store, [(shirt, 1)]).value == D("10.00")
    assert_ledgers_verify()


def test_only_the_orders_customer_may_ask_to_return_it(shop, rules, customer):
    from tests.factories.customers import CustomerWithLoginFactory

    shirt = shop.sku(price="10.00")
    order = collected_order(shop, customer, [(shirt, 1)])

    error = refused(lambda: request(order, CustomerWithLoginFactory(), shop.store, [(shirt, 1)]))

    assert error.code == "order_not_found"
    assert Return.objects.count() == 0


def test_completing_a_request_with_what_arrived_refunds_and_moves_that(
    shop, rules, customer, django_capture_on_commit_callbacks
):
    shirt = shop.sku(price="10.00", other=1)
    order = collected_order(shop, customer, [(shirt, 3)])
    ret = request(order, customer, shop.other_store, [(shirt, 3)])
    staff = returns_staff(shop.other_store)

    with django_capture_on_commit_callbacks(execute=True):
        done = services.return_request_complete(
            ret=ret,
            user=staff,
            lines=[{"sku": shirt.sku, "quantity": 2, "condition": "damaged"}],
        )

    done.refresh_from_db()
    assert (done.pk, done.status, done.value, done.refund_amount) == (
        ret.pk,
        "completed",
        D("20.00"),
        D("20.00"),
    )
    assert list(done.lines.values_list("quantity", "condition")) == [(2, "damaged")]
    assert list(done.refunds.values_list("kind", "amount", "status")) == [
        ("card", D("20.00"), "refunded")
    ]
    assert list(
        StockMovement.objects.filter(reference=done.reference)
        .order_by("id")
        .values_list("kind", "quantity", "on_hand_delta")
    ) == [("return", 2, 2), ("write_off", 2, -2)]
    assert loyalty_selectors.balance_get(customer=customer) == 10
    order.refresh_from_db()
    assert order.status == "partially_returned"
    # The unit that did not arrive is free for another return.
    assert give_back(order, shop.store, [(shirt, 1)]).value == D("10.00")
    order.refresh_from_db()
    assert order.status == "returned"
    assert_ledgers_verify()


def test_completing_a_request_as_asked_takes_its_own_lines(shop, rules, customer):
    shirt = shop.sku(price="10.00")
    order = collected_order(shop, customer, [(shirt, 2)])
    ret = request(order, customer, shop.other_store, [(shirt, 2)])

    done = services.return_request_complete(ret=ret, user=returns_staff(shop.other_store))

    assert (done.status, done.value, done.refund_amount) == ("completed", D("20.00"), D("20.00"))
    assert list(done.lines.values_list("quantity", "condition")) == [(2, "resaleable")]
    order.refresh_from_db()
    assert order.status == "returned"
    assert_ledgers_verify()


def test_a_completed_request_cannot_be_completed_again(shop, rules, customer):
    shirt = shop.sku(price="10.00")
    order = collected_order(shop, customer, [(shirt, 2)])
    ret = request(order, customer, shop.other_store, [(shirt, 1)])
    staff = returns_staff(shop.other_store)
    services.return_request_complete(ret=ret, user=staff)
    before = books(order)

    error = refused(lambda: services.return_request_complete(ret=ret, user=staff))

    assert (error.code, error.details["status"]) == ("return_not_open", "completed")
    assert books(order) == before


def test_a_request_completed_with_more_than_is_left_is_refused_and_stays_open(
    shop, rules, customer
):
    shirt = shop.sku(price="10.00")
    order = collected_order(shop, customer, [(shirt, 3)])
    ret = request(order, customer, shop.other_store, [(shirt, 1)])
    give_back(order, shop.store, [(shirt, 2)])
    before = books(order)

    error = refused(
        lambda: services.return_request_complete(
            ret=ret,
            user=returns_staff(shop.other_store),
            lines=[{"sku": shirt.sku, "quantity": 2}],
        )
    )

    assert error.code == "return_exceeds_purchase"
    assert books(order) == before
    ret.refresh_from_db()
    assert (ret.status, list(ret.lines.values_list("quantity", flat=True))) == ("requested", [1])


def test_cancelling_a_request_frees_its_units(shop, rules, customer):
    shirt = shop.sku(price="10.00")
    order = collected_order(shop, customer, [(shirt, 3)])
    ret = request(order, customer, shop.other_store, [(shirt, 3)])
    assert refused(lambda: give_back(order, shop.store, [(shirt, 1)])).code == (
        "return_exceeds_purchase"
    )
    before = books(order)

    cancelled = services.return_request_cancel(ret=ret, customer=customer)

    assert cancelled.status == "cancelled"
    assert books(order) == before  # a request moved nothing, so its cancel moves nothing
    assert give_back(order, shop.store, [(shirt, 3)]).value == D("30.00")
    order.refresh_from_db()
    assert order.status == "returned"
    assert_ledgers_verify()


def test_a_cancelled_request_cannot_be_completed(shop, rules, customer):
    shirt = shop.sku(price="10.00")
    order = collected_order(shop, customer, [(shirt, 1)])
    ret = request(order, customer, shop.other_store, [(shirt, 1)])
    services.return_request_cancel(ret=ret, customer=customer)

    error = refused(
        lambda: services.return_request_complete(ret=ret, user=returns_staff(shop.other_store))
    )

    assert (error.code, error.details["status"]) == ("return_not_open", "cancelled")


def test_an_open_request_keeps_the_order_partially_returned_after_the_rest_came_back(
    shop, rules, customer
):
    shirt, socks = shop.sku(price="10.00"), shop.sku(price="4.00")
    order = collected_order(shop, customer, [(shirt, 1), (socks, 1)])
    request(order, customer, shop.other_store, [(socks, 1)])

    give_back(order, shop.store, [(shirt, 1)])

    order.refresh_from_db()
    assert order.status == "partially_returned"
    assert_ledgers_verify()


def test_completing_a_request_to_an_unknown_tender_is_refused_like_a_desk_return(
    shop, rules, customer
):
    shirt = shop.sku(price="10.00")
    order = collected_order(shop, customer, [(shirt, 1)])
    ret = request(order, customer, shop.other_store, [(shirt, 1)])
    before = books(order)

    error = refused(
        lambda: services.return_request_complete(
            ret=ret,
            user=returns_staff(shop.other_store, manager=True),
            refund_to="bitcoin",
            refund_to_reason="customer asked",
        )
    )

    assert error.code == "invalid_refund_tender"
    assert books(order) == before


def test_a_manager_completes_a_request_with_a_cash_refund(shop, rules, customer):
    shirt = shop.sku(price="10.00")
    order = collected_order(shop, customer, [(shirt, 1)])
    ret = request(order, customer, shop.other_store, [(shirt, 1)])

    done = services.return_request_complete(
        ret=ret,
        user=returns_staff(shop.other_store, manager=True),
        refund_to="cash",
        refund_to_reason="card closed",
    )

    assert list(done.refunds.values_list("kind", "amount", "reason")) == [
        ("cash", D("10.00"), "card closed")
    ]
