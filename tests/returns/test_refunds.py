"""What a return gives back, to the cent: one table of orders and returns in steps.

Each case builds a real order (checkout, handover, points earned by the services), returns
some of it in one or more steps at another store, and states per step exactly: the value
of the returned units, the money refunded, each refund row (kind, amount, points,
status), the spent points given back, the earned points taken back, any shortfall and
what it cost, the customer's balance after, and how far the tier spend fell. The card
part is refunded by the test payment provider after commit, so its books are checked too.
"""

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import pytest

from inventory.services import verify_ledger
from loyalty import selectors as loyalty_selectors
from loyalty import services as loyalty_services
from orders import services as order_services
from orders.models import TestProviderCharge
from pricing.models import Promotion
from returns import services
from returns.models import RefundTender, Return
from tests.factories.orders import CARD, CartFactory
from tests.factories.pricing import CouponFactory, PromotionFactory
from tests.factories.returns import collected_order, returns_staff

pytestmark = pytest.mark.django_db

D = Decimal


@dataclass(frozen=True)
class Expect:
    value: str
    refund: str
    rows: tuple[tuple[str, str, int], ...]  # (kind, amount, points) per refund row
    balance: int  # the customer's points balance after the step
    # How far the rolling tier spend fell in this step (None: see the test of its own).
    spend_drop: str | None
    points_returned: int = 0
    points_reversed: int = 0
    shortfall: int = 0
    deduction: str = "0.00"


@dataclass(frozen=True)
class Step:
    lines: tuple[tuple[str, int], ...]  # (sku, quantity)
    expect: Expect


@dataclass(frozen=True)
class Built:
    order: object
    steps: tuple[Step, ...]


# --- the cases -------------------------------------------------------------------------


def plain_line(shop, rules, customer) -> Built:
    coat = shop.sku(price="100.00")
    socks = shop.sku(price="5.00")
    order = collected_order(shop, customer, [(coat, 1), (socks, 3)])  # earns 100 + 15
    return Built(
        order,
        (
            Step(
                ((socks.sku, 1),),
                Expect(
                    value="5.00",
                    refund="5.00",
                    rows=(("card", "5.00", 0),),
                    points_reversed=5,
                    balance=110,
                    spend_drop="5.00",
                ),
            ),
        ),
    )


def multi_buy(shop, rules, customer) -> Built:
    # Buy 2 get 1: three shirts at 20.00 cost 40.00, so each unit was paid 13.33⅓.
    shirt = shop.sku(price="20.00")
    PromotionFactory(
        kind=Promotion.Kind.BUY_X_GET_Y,
        scope=Promotion.Scope.VARIANTS,
        buy_quantity=2,
        get_quantity=1,
        value=D("0"),
        variants=[shirt],
    )
    order = collected_order(shop, customer, [(shirt, 3)])
    assert order.total == D("40.00")
    return Built(
        order,
        (
            Step(
                ((shirt.sku, 1),),
                Expect(
                    value="13.33",
                    refund="13.33",
                    rows=(("card", "13.33", 0),),
                    points_reversed=13,
                    balance=27,
                    spend_drop="13.33",
                ),
            ),
            Step(
                ((shirt.sku, 2),),
                Expect(
                    value="26.67",
                    refund="26.67",
                    rows=(("card", "26.67", 0),),
                    points_reversed=27,
                    balance=0,
                    spend_drop="26.67",
                ),
            ),
        ),
    )


def multi_buy_free_item(shop, rules, customer) -> Built:
    # Buy 2 get 1 over two SKUs: the cheapest unit (the belt) was free, so it refunds 0.00
    # and the jeans bought with it keep the price they were sold at.
    jeans = shop.sku(price="30.00")
    belt = shop.sku(price="12.00")
    PromotionFactory(
        kind=Promotion.Kind.BUY_X_GET_Y,
        scope=Promotion.Scope.VARIANTS,
        buy_quantity=2,
        get_quantity=1,
        value=D("0"),
        variants=[jeans, belt],
    )
    order = collected_order(shop, customer, [(jeans, 2), (belt, 1)])
    assert order.total == D("60.00")
    return Built(
        order,
        (
            Step(
                ((belt.sku, 1),),
                Expect(value="0.00", refund="0.00", rows=(), balance=60, spend_drop="0.00"),
            ),
            Step(
                ((jeans.sku, 1),),
                Expect(
                    value="30.00",
                    refund="30.00",
                    rows=(("card", "30.00", 0),),
                    points_reversed=30,
                    balance=30,
                    spend_drop="30.00",
                ),
            ),
        ),
    )


def basket_threshold(shop, rules, customer) -> Built:
    # 10 % off from 100.00: the coat and the shirt (110.00) get 72.00 + 27.00. Returning the
    # shirt leaves 72.00 kept, under the threshold: the discount is not clawed back, the
    # shirt refunds what was paid for it.
    coat = shop.sku(price="80.00")
    shirt = shop.sku(price="30.00")
    PromotionFactory(
        kind=Promotion.Kind.BASKET_THRESHOLD,
        scope=Promotion.Scope.BASKET,
        threshold=D("100.00"),
        value=D("10"),
    )
    order = collected_order(shop, customer, [(coat, 1), (shirt, 1)])
    assert order.total == D("99.00")
    return Built(
        order,
        (
            Step(
                ((shirt.sku, 1),),
                Expect(
                    value="27.00",
                    refund="27.00",
                    rows=(("card", "27.00", 0),),
                    points_reversed=27,
                    balance=72,
                    spend_drop="27.00",
                ),
            ),
        ),
    )


def coupon(shop, rules, customer) -> Built:
    # 10.00 off the basket with a code, spread over 60.00 + 30.00 as 6.67 + 3.33; the 80
    # points split 53.33 : 26.67 give the shirt 27 (largest remainder).
    coat = shop.sku(price="60.00")
    shirt = shop.sku(price="30.00")
    CouponFactory(
        code="TENOFF",
        promotion=PromotionFactory(
            kind=Promotion.Kind.AMOUNT_OFF, scope=Promotion.Scope.BASKET, value=D("10.00")
        ),
    )
    order = collected_order(shop, customer, [(coat, 1), (shirt, 1)], coupon="TENOFF")
    assert (order.total, order.coupon_code) == (D("80.00"), "TENOFF")
    return Built(
        order,
        (
            Step(
                ((shirt.sku, 1),),
                Expect(
                    value="26.67",
                    refund="26.67",
                    rows=(("card", "26.67", 0),),
                    points_reversed=27,
                    balance=53,
                    spend_drop="26.67",
                ),
            ),
            Step(
                ((coat.sku, 1),),
                Expect(
                    value="53.33",
                    refund="53.33",
                    rows=(("card", "53.33", 0),),
                    points_reversed=53,
                    balance=0,
                    spend_drop="53.33",
                ),
            ),
        ),
    )


def points_partly_used(shop, rules, customer) -> Built:
    # 100 points from an earlier order pay 10.00 of two shirts at 30.00; the card pays
    # 50.00 and earns 50 points. The first shirt back gives the points back first.
    earlier = shop.sku(price="100.00")
    collected_order(shop, customer, [(earlier, 1)])
    shirt = shop.sku(price="30.00")
    order = collected_order(shop, customer, [(shirt, 2)], redeem_points=100)
    assert (order.points_value, order.amount_due) == (D("10.00"), D("50.00"))
    return Built(
        order,
        (
            Step(
                ((shirt.sku, 1),),
                Expect(
                    value="30.00",
                    refund="20.00",
                    rows=(("points", "10.00", 100), ("card", "20.00", 0)),
                    points_returned=100,
                    points_reversed=25,
                    balance=125,  # 100 − 100 + 50, then + 100 − 25
                    spend_drop="20.00",
                ),
            ),
            Step(
                ((shirt.sku, 1),),
                Expect(
                    value="30.00",
                    refund="30.00",
                    rows=(("card", "30.00", 0),),
                    points_reversed=25,
                    balance=100,
                    spend_drop="30.00",
                ),
            ),
        ),
    )


def partial_steps_one_then_two(shop, rules, customer) -> Built:
    # 3 × 33.33 with 10 % off: 99.99 − 10.00 = 89.99, 89 points.
    mug = shop.sku(price="33.33")
    PromotionFactory(scope=Promotion.Scope.VARIANTS, value=D("10"), variants=[mug])
    order = collected_order(shop, customer, [(mug, 3)])
    assert order.total == D("89.99")
    return Built(
        order,
        (
            Step(
                ((mug.sku, 1),),
                Expect(
                    value="29.99",
                    refund="29.99",
                    rows=(("card", "29.99", 0),),
                    points_reversed=29,
                    balance=60,
                    spend_drop="29.99",
                ),
            ),
            Step(
                ((mug.sku, 2),),
                Expect(
                    value="60.00",
                    refund="60.00",
                    rows=(("card", "60.00", 0),),
                    points_reversed=60,
                    balance=0,
                    spend_drop="60.00",
                ),
            ),
        ),
    )


def partial_steps_two_then_one(shop, rules, customer) -> Built:
    mug = shop.sku(price="33.33")
    PromotionFactory(scope=Promotion.Scope.VARIANTS, value=D("10"), variants=[mug])
    order = collected_order(shop, customer, [(mug, 3)])
    return Built(
        order,
        (
            Step(
                ((mug.sku, 2),),
                Expect(
                    value="59.99",
                    refund="59.99",
                    rows=(("card", "59.99", 0),),
                    points_reversed=59,
                    balance=30,
                    spend_drop="59.99",
                ),
            ),
            Step(
                ((mug.sku, 1),),
                Expect(
                    value="30.00",
                    refund="30.00",
                    rows=(("card", "30.00", 0),),
                    points_reversed=30,
                    balance=0,
                    spend_drop="30.00",
                ),
            ),
        ),
    )


def excluded_line(shop, rules, customer) -> Built:
    # Gift cards earn nothing: the coat's 100 points are all the order earned.
    coat = shop.sku(price="100.00")
    gift = shop.sku(price="5.00")
    rules.excluded_variants.add(gift)
    order = collected_order(shop, customer, [(coat, 1), (gift, 3)])
    assert loyalty_selectors.balance_get(customer=customer) == 100
    return Built(
        order,
        (
            Step(
                ((gift.sku, 2),),
                Expect(
                    value="10.00",
                    refund="10.00",
                    rows=(("card", "10.00", 0),),
                    points_reversed=0,
                    balance=100,
                    spend_drop=None,
                ),
            ),
        ),
    )


def few_points_over_many_units(shop, rules, customer) -> Built:
    # Three buttons at 0.50 earn 1 point: the first button back takes none of it (its
    # share rounds down to 0), the last two take it.
    button = shop.sku(price="0.50")
    order = collected_order(shop, customer, [(button, 3)])
    assert loyalty_selectors.balance_get(customer=customer) == 1
    return Built(
        order,
        (
            Step(
                ((button.sku, 1),),
                Expect(
                    value="0.50",
                    refund="0.50",
                    rows=(("card", "0.50", 0),),
                    points_reversed=0,
                    balance=1,
                    spend_drop=None,
                ),
            ),
            Step(
                ((button.sku, 2),),
                Expect(
                    value="1.00",
                    refund="1.00",
                    rows=(("card", "1.00", 0),),
                    points_reversed=1,
                    balance=0,
                    spend_drop="1.00",
                ),
            ),
        ),
    )


def points_already_spent(shop, rules, customer) -> Built:
    # The coat earned 100 points; 80 of them paid part of a later order (which, collected,
    # earned 12 of its own). Returning the coat takes back the 32 left; the 68 spent are
    # kept back from the money at 0.10: 6.80.
    coat = shop.sku(price="100.00")
    order = collected_order(shop, customer, [(coat, 1)])
    later = shop.sku(price="20.00")
    collected_order(shop, customer, [(later, 1)], redeem_points=80)
    assert loyalty_selectors.balance_get(customer=customer) == 32
    return Built(
        order,
        (
            Step(
                ((coat.sku, 1),),
                Expect(
                    value="100.00",
                    refund="93.20",
                    rows=(("card", "93.20", 0),),
                    points_reversed=32,
                    shortfall=68,
                    deduction="6.80",
                    balance=0,
                    # The sale is undone as a sale: all 100.00 leave the tier spend (the
                    # 6.80 kept back pays for points, it buys no goods).
                    spend_drop="100.00",
                ),
            ),
        ),
    )


def points_all_spent_before_handover(shop, rules, customer) -> Built:
    # All 100 earned points paid a later order that is not handed over yet (so it earned
    # nothing): returning the coat takes no points and keeps back 10.00.
    coat = shop.sku(price="100.00")
    order = collected_order(shop, customer, [(coat, 1)])
    later = shop.sku(price="40.00")
    cart = CartFactory(customer=customer, channel="web")
    order_services.cart_line_add(cart=cart, sku=later.sku, quantity=1)
    order_services.checkout_place(
        cart=cart,
        fulfilment={"type": "pickup", "location": shop.store.code},
        payment=CARD,
        customer=customer,
        redeem_points=100,
        user=customer.user,
    )
    assert loyalty_selectors.balance_get(customer=customer) == 0
    return Built(
        order,
        (
            Step(
                ((coat.sku, 1),),
                Expect(
                    value="100.00",
                    refund="90.00",
                    rows=(("card", "90.00", 0),),
                    points_reversed=0,
                    shortfall=100,
                    deduction="10.00",
                    balance=0,
                    spend_drop="100.00",
                ),
            ),
        ),
    )


CASES: dict[str, Callable[..., Built]] = {
    "plain line": plain_line,
    "buy 2 get 1 on one line": multi_buy,
    "buy 2 get 1, the free unit": multi_buy_free_item,
    "basket threshold no longer met": basket_threshold,
    "basket coupon": coupon,
    "points partly used": points_partly_used,
    "1 of 3 then 2 of 3": partial_steps_one_then_two,
    "2 of 3 then 1 of 3": partial_steps_two_then_one,
    "line excluded from earning": excluded_line,
    "a unit whose points round to 0": few_points_over_many_units,
    "earned points partly spent": points_already_spent,
    "earned points all spent": points_all_spent_before_handover,
}


def _card_charge(order) -> TestProviderCharge | None:
    card = order.tenders.filter(kind="card").first()
    if card is None:
        return None
    return TestProviderCharge.objects.get(reference=card.provider_reference)


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_a_return_gives_back_exactly_what_was_paid_for_the_units(
    case, shop, rules, customer, django_capture_on_commit_callbacks
):
    built = case(shop, rules, customer)
    order = built.order
    staff = returns_staff(shop.other_store)
    account = loyalty_selectors.account_for_customer(customer=customer)
    card_refunded = D("0.00")
    total_value = D("0.00")

    for step in built.steps:
        spend_before = loyalty_selectors.rolling_spend(account_id=account.pk)
        with django_capture_on_commit_callbacks(execute=True):
            ret = services.return_create(
                order=order,
                location=shop.other_store,
                reason="changed_mind",
                lines=[{"sku": sku, "quantity": quantity} for sku, quantity in step.lines],
                user=staff,
            )
        ret = Return.objects.get(pk=ret.pk)
        want = step.expect

        assert (ret.value, ret.refund_amount) == (D(want.value), D(want.refund))
        assert list(ret.refunds.values_list("kind", "amount", "points", "status")) == [
            (kind, D(amount), points, RefundTender.State.REFUNDED)
            for kind, amount, points in want.rows
        ]
        assert (ret.points_returned, ret.points_reversed) == (
            want.points_returned,
            want.points_reversed,
        )
        assert (ret.points_shortfall, ret.shortfall_deduction) == (
            want.shortfall,
            D(want.deduction),
        )
        # Money back is the value less what went back as points and what was kept back.
        points_part = sum((r.amount for r in ret.refunds.all() if r.kind == "points"), D("0.00"))
        assert ret.refund_amount == ret.value - points_part - ret.shortfall_deduction
        assert sum((line.value for line in ret.lines.all()), D("0.00")) == ret.value
        assert loyalty_selectors.balance_get(customer=customer) == want.balance
        spend_after = loyalty_selectors.rolling_spend(account_id=account.pk)
        if want.spend_drop is not None:
            assert spend_before - spend_after == D(want.spend_drop)

        card_refunded += sum((r.amount for r in ret.refunds.all() if r.kind == "card"), D("0.00"))
        charge = _card_charge(order)
        if charge is not None:
            assert charge.refunded == card_refunded
        assert all(r.provider_reference for r in ret.refunds.filter(kind="card"))
        total_value += ret.value
        assert verify_ledger() == []
        assert loyalty_services.verify() == []

    if sum(line.quantity for line in order.lines.all()) == sum(
        sum(q for _s, q in step.lines) for step in built.steps
    ):
        # Everything came back: exactly what the order cost, to the cent.
        assert total_value == order.total


def test_returning_goods_that_earned_no_points_still_lowers_the_tier_spend(shop, rules, customer):
    coat = shop.sku(price="100.00")
    gift = shop.sku(price="5.00")
    rules.excluded_variants.add(gift)
    order = collected_order(shop, customer, [(coat, 1), (gift, 3)])
    account = loyalty_selectors.account_for_customer(customer=customer)
    assert loyalty_selectors.rolling_spend(account_id=account.pk) == D("115.00")

    services.return_create(
        order=order,
        location=shop.store,
        reason="changed_mind",
        lines=[{"sku": gift.sku, "quantity": 2}],
        user=returns_staff(shop.store),
    )

    assert loyalty_selectors.balance_get(customer=customer) == 100
    assert loyalty_selectors.rolling_spend(account_id=account.pk) == D("105.00")
