"""Exchanges: goods back and other goods out in one step, at the store that takes them.

The returned goods' value pays for the new items first: a cheaper item leaves a
difference that is refunded to the original tenders, a dearer one leaves a difference paid
at the desk (and refused, changing nothing, when no payment is named). The stock moves for
both sides at the receiving store; the returned goods' points are taken back and the new
sale earns its own.
"""

from decimal import Decimal

import pytest

from core.errors import DomainError
from inventory.models import StockLevel, StockMovement
from inventory.services import verify_ledger
from loyalty import selectors as loyalty_selectors
from loyalty import services as loyalty_services
from loyalty.models import LoyaltyEntry
from orders.models import Order, OrderTransition, TestProviderCharge
from returns import services
from returns.models import RefundTender, Return, ReturnLine
from returns.services import ExchangeInput
from tests.factories.returns import collected_order, returns_staff

pytestmark = pytest.mark.django_db

D = Decimal


def exchange(order, location, back, new, *, payment_kind: str = ""):
    return services.return_create(
        order=order,
        location=location,
        reason="exchange",
        lines=[{"sku": variant.sku, "quantity": quantity} for variant, quantity in back],
        exchange=ExchangeInput(
            lines=tuple((variant.sku, quantity) for variant, quantity in new),
            payment_kind=payment_kind,
        ),
        user=returns_staff(location),
    )


def movements(reference: str) -> list[tuple]:
    return list(
        StockMovement.objects.filter(reference=reference)
        .order_by("level__variant_id", "id")
        .values_list("level__location", "level__variant", "kind", "on_hand_delta")
    )


def earned(reference: str) -> int:
    entry = LoyaltyEntry.objects.filter(kind="earn", reference=reference).first()
    return entry.points if entry else 0


def on_hand(variant, location) -> int:
    return StockLevel.objects.get(variant=variant, location=location).on_hand


def card_refunded(order) -> Decimal:
    card = order.tenders.get(kind="card")
    return TestProviderCharge.objects.get(reference=card.provider_reference).refunded


def test_an_exchange_for_a_cheaper_item_refunds_the_difference_to_the_card(
    shop, rules, customer, django_capture_on_commit_callbacks
):
    coat = shop.sku(price="100.00", other=0)
    jacket = shop.sku(price="70.00", other=3)
    order = collected_order(shop, customer, [(coat, 1)])
    assert loyalty_selectors.balance_get(customer=customer) == 100

    with django_capture_on_commit_callbacks(execute=True):
        ret = exchange(order, shop.other_store, [(coat, 1)], [(jacket, 1)])

    ret = Return.objects.get(pk=ret.pk)
    assert (ret.value, ret.refund_amount, ret.points_reversed) == (D("100.00"), D("30.00"), 100)
    assert list(ret.refunds.values_list("kind", "amount", "status")) == [
        ("exchange", D("70.00"), "refunded"),
        ("card", D("30.00"), "refunded"),
    ]
    assert card_refunded(order) == D("30.00")
    sale = ret.exchange_order
    assert (sale.channel, sale.status, sale.location_id, sale.total) == (
        "pos",
        "collected",
        shop.other_store.pk,
        D("70.00"),
    )
    assert list(sale.lines.values_list("sku", "quantity", "line_total")) == [
        (jacket.sku, 1, D("70.00"))
    ]
    assert list(sale.tenders.values_list("kind", "amount")) == [("exchange", D("70.00"))]
    # Both sides move at the store that did the exchange.
    assert movements(ret.reference) == [(shop.other_store.pk, coat.pk, "return", 1)]
    assert movements(sale.reference) == [(shop.other_store.pk, jacket.pk, "sale", -1)]
    assert (on_hand(coat, shop.other_store), on_hand(jacket, shop.other_store)) == (1, 2)
    # The coat's 100 points go, the jacket earns 70.
    assert earned(sale.reference) == 70
    assert loyalty_selectors.balance_get(customer=customer) == 70
    order.refresh_from_db()
    assert order.status == "returned"
    assert verify_ledger() == []
    assert loyalty_services.verify() == []


def test_an_exchange_for_a_dearer_item_takes_the_difference_at_the_desk(
    shop, rules, customer, django_capture_on_commit_callbacks
):
    coat = shop.sku(price="100.00")
    parka = shop.sku(price="130.00", store=2)
    order = collected_order(shop, customer, [(coat, 1)])

    with django_capture_on_commit_callbacks(execute=True):
        ret = exchange(order, shop.store, [(coat, 1)], [(parka, 1)], payment_kind="cash")

    ret = Return.objects.get(pk=ret.pk)
    assert (ret.value, ret.refund_amount) == (D("100.00"), D("0.00"))
    assert list(ret.refunds.values_list("kind", "amount")) == [("exchange", D("100.00"))]
    assert card_refunded(order) == D("0.00")
    sale = ret.exchange_order
    assert sale.total == D("130.00")
    assert sorted(sale.tenders.values_list("kind", "amount")) == [
        ("cash", D("30.00")),
        ("exchange", D("100.00")),
    ]
    assert movements(ret.reference) == [(shop.store.pk, coat.pk, "return", 1)]
    assert movements(sale.reference) == [(shop.store.pk, parka.pk, "sale", -1)]
    assert on_hand(parka, shop.store) == 1
    assert earned(sale.reference) == 130
    assert loyalty_selectors.balance_get(customer=customer) == 130
    assert verify_ledger() == []
    assert loyalty_services.verify() == []


def test_a_dearer_exchange_without_a_payment_is_refused_and_changes_nothing(shop, rules, customer):
    coat = shop.sku(price="100.00")
    parka = shop.sku(price="130.00", store=2)
    order = collected_order(shop, customer, [(coat, 1)])

    def counts():
        order.refresh_from_db()
        return (
            order.status,
            Order.objects.count(),
            OrderTransition.objects.count(),
            StockMovement.objects.count(),
            sorted(StockLevel.objects.values_list("pk", "on_hand", "reserved")),
            LoyaltyEntry.objects.count(),
            loyalty_selectors.balance_get(customer=customer),
            Return.objects.count(),
            ReturnLine.objects.count(),
            RefundTender.objects.count(),
        )

    before = counts()

    with pytest.raises(DomainError) as caught:
        exchange(order, shop.store, [(coat, 1)], [(parka, 1)])

    assert caught.value.code == "exchange_payment_required"
    assert caught.value.details == {"difference": "30.00", "currency": "EUR"}
    assert counts() == before
    with pytest.raises(DomainError) as caught:
        exchange(order, shop.store, [(coat, 1)], [(parka, 1)], payment_kind="voucher")
    assert caught.value.code == "exchange_payment_required"
    assert counts() == before


def test_an_exchange_of_an_order_paid_partly_with_points_gives_the_points_back_first(
    shop, rules, customer, django_capture_on_commit_callbacks
):
    earlier = shop.sku(price="100.00")
    collected_order(shop, customer, [(earlier, 1)])  # 100 points
    coat = shop.sku(price="100.00")
    jacket = shop.sku(price="70.00")
    order = collected_order(shop, customer, [(coat, 1)], redeem_points=100)  # 10.00 + 90.00
    assert loyalty_selectors.balance_get(customer=customer) == 90

    with django_capture_on_commit_callbacks(execute=True):
        ret = exchange(order, shop.store, [(coat, 1)], [(jacket, 1)])

    ret = Return.objects.get(pk=ret.pk)
    assert list(ret.refunds.values_list("kind", "amount", "points")) == [
        ("exchange", D("70.00"), 0),
        ("points", D("10.00"), 100),
        ("card", D("20.00"), 0),
    ]
    assert (ret.points_returned, ret.points_reversed, ret.refund_amount) == (100, 90, D("20.00"))
    assert card_refunded(order) == D("20.00")
    # 90 + 100 given back − 90 taken back + 70 earned by the jacket.
    assert loyalty_selectors.balance_get(customer=customer) == 170
    assert verify_ledger() == []
    assert loyalty_services.verify() == []


def test_an_exchange_of_one_unit_for_two_of_the_same_price_pays_only_the_difference(
    shop, rules, customer, django_capture_on_commit_callbacks
):
    shirt = shop.sku(price="20.00")
    other_colour = shop.sku(price="20.00")
    order = collected_order(shop, customer, [(shirt, 2)])

    with django_capture_on_commit_callbacks(execute=True):
        ret = exchange(order, shop.store, [(shirt, 1)], [(other_colour, 2)], payment_kind="card")

    ret = Return.objects.get(pk=ret.pk)
    assert list(ret.refunds.values_list("kind", "amount")) == [("exchange", D("20.00"))]
    assert sorted(ret.exchange_order.tenders.values_list("kind", "amount")) == [
        ("card", D("20.00")),
        ("exchange", D("20.00")),
    ]
    order.refresh_from_db()
    assert order.status == "partially_returned"
    # 40 − 20 taken back + 40 earned by the new pair.
    assert loyalty_selectors.balance_get(customer=customer) == 60
    assert verify_ledger() == []
    assert loyalty_services.verify() == []


def test_goods_got_in_an_exchange_can_come_back_and_their_credit_is_paid_out_in_cash(
    shop, rules, customer, django_capture_on_commit_callbacks
):
    coat = shop.sku(price="100.00", other=0)
    jacket = shop.sku(price="70.00", other=3)
    order = collected_order(shop, customer, [(coat, 1)])
    with django_capture_on_commit_callbacks(execute=True):
        first = exchange(order, shop.other_store, [(coat, 1)], [(jacket, 1)])
    sale = Return.objects.get(pk=first.pk).exchange_order

    with django_capture_on_commit_callbacks(execute=True):
        second = services.return_create(
            order=sale,
            location=shop.other_store,
            reason="changed_mind",
            lines=[{"sku": jacket.sku, "quantity": 1}],
            user=returns_staff(shop.other_store),
        )

    second = Return.objects.get(pk=second.pk)
    assert (second.value, second.refund_amount, second.points_reversed) == (
        D("70.00"),
        D("70.00"),
        70,
    )
    # The card gave 30.00 back already; the credit's 70.00 is cash at the desk, once.
    assert list(second.refunds.values_list("kind", "amount", "provider", "status")) == [
        ("cash", D("70.00"), "desk", "refunded")
    ]
    assert card_refunded(order) == D("30.00")
    assert loyalty_selectors.balance_get(customer=customer) == 0
    assert verify_ledger() == [] and loyalty_services.verify() == []
