"""The pure refund rules of `returns.domain`: no database, fast.

Every way of returning a line in steps adds up to exactly what the line cost, and the
same holds for the points a line earned and the points a tender paid; refunds go back
over the tenders points first, then card, then cash, then anything else; what is kept
back for points already spent never exceeds the money refunded.
"""

from decimal import Decimal

import pytest

from returns import domain
from returns.domain import Room

D = Decimal


def compositions(total: int):
    """Every ordered way of returning `total` units in steps of at least one unit."""
    if total == 0:
        yield ()
        return
    for first in range(1, total + 1):
        for rest in compositions(total - first):
            yield (first, *rest)


def refunds_in_steps(amount: Decimal, quantity: int, steps, currency: str = "EUR"):
    before, parts = 0, []
    for now in steps:
        parts.append(
            domain.units_value(amount, quantity=quantity, before=before, now=now, currency=currency)
        )
        before += now
    return parts


# --- share and units_value ---------------------------------------------------------------


def test_a_share_is_the_first_units_worth_rounded_down_to_the_cent():
    assert domain.share(D("99.99"), quantity=3, upto=1, currency="EUR") == D("33.33")
    assert domain.share(D("89.99"), quantity=3, upto=1, currency="EUR") == D("29.99")
    assert domain.share(D("89.99"), quantity=3, upto=2, currency="EUR") == D("59.99")
    assert domain.share(D("10.00"), quantity=3, upto=1, currency="EUR") == D("3.33")
    assert domain.share(D("10.00"), quantity=3, upto=2, currency="EUR") == D("6.66")


def test_a_share_of_all_units_or_more_is_the_whole_line_and_of_none_is_zero():
    assert domain.share(D("89.99"), quantity=3, upto=3, currency="EUR") == D("89.99")
    assert domain.share(D("89.99"), quantity=3, upto=7, currency="EUR") == D("89.99")
    assert domain.share(D("89.99"), quantity=3, upto=0, currency="EUR") == D("0.00")
    assert domain.share(D("89.99"), quantity=0, upto=1, currency="EUR") == D("0.00")
    assert str(domain.share(D("89.99"), quantity=3, upto=0, currency="EUR")) == "0.00"


def test_a_share_in_a_currency_without_minor_units_is_in_whole_units():
    assert domain.share(D("1000"), quantity=3, upto=1, currency="JPY") == D("333")
    assert domain.share(D("1000"), quantity=3, upto=2, currency="JPY") == D("666")
    assert str(domain.share(D("1000"), quantity=3, upto=1, currency="JPY")) == "333"


@pytest.mark.parametrize(
    "amount, quantity",
    [
        (D("89.99"), 3),  # 3 × 33.33 with 10 % off
        (D("99.99"), 3),
        (D("10.00"), 3),
        (D("0.01"), 4),
        (D("0.05"), 6),
        (D("123.47"), 7),
        (D("0.00"), 2),  # a free line (buy-N-get-M gives whole lines away)
    ],
)
def test_returning_a_line_in_any_steps_refunds_exactly_the_line_total(amount, quantity):
    for steps in compositions(quantity):
        parts = refunds_in_steps(amount, quantity, steps)
        assert sum(parts, D(0)) == amount, steps
        assert all(part >= 0 for part in parts), steps


def test_returning_one_of_three_then_two_refunds_the_cents_left_over_at_the_end():
    assert refunds_in_steps(D("89.99"), 3, (1, 2)) == [D("29.99"), D("60.00")]
    assert refunds_in_steps(D("89.99"), 3, (2, 1)) == [D("59.99"), D("30.00")]
    assert refunds_in_steps(D("89.99"), 3, (1, 1, 1)) == [D("29.99"), D("30.00"), D("30.00")]


def test_no_step_refunds_more_than_an_exact_unit_share_rounded_up():
    # Rounding down cumulatively: a step of k units is worth k/q of the line, give or take
    # one cent, never more.
    amount, quantity = D("123.47"), 7
    for steps in compositions(quantity):
        for now, part in zip(steps, refunds_in_steps(amount, quantity, steps), strict=True):
            exact = amount * now / quantity
            assert exact - D("0.01") < part < exact + D("0.01")


# --- points of a line --------------------------------------------------------------------


@pytest.mark.parametrize("points, quantity", [(89, 3), (100, 3), (1, 4), (7, 7), (0, 3), (5, 6)])
def test_the_points_of_a_line_taken_back_in_any_steps_add_up_to_what_it_earned(points, quantity):
    for steps in compositions(quantity):
        before, taken = 0, []
        for now in steps:
            taken.append(domain.points_share(points, quantity=quantity, before=before, now=now))
            before += now
        assert sum(taken) == points, steps
        assert all(share >= 0 for share in taken), steps


def test_points_of_returned_units_are_rounded_down_until_the_last_unit():
    assert domain.points_share(89, quantity=3, before=0, now=1) == 29
    assert domain.points_share(89, quantity=3, before=1, now=1) == 30
    assert domain.points_share(89, quantity=3, before=2, now=1) == 30
    assert domain.points_share(89, quantity=3, before=0, now=2) == 59


def test_a_line_that_earned_nothing_takes_nothing_back():
    assert domain.points_share(0, quantity=3, before=0, now=3) == 0
    assert domain.points_share(50, quantity=0, before=0, now=1) == 0


# --- points of a tender ------------------------------------------------------------------


def test_points_of_a_points_tender_come_back_in_proportion_to_its_money_rounded_down():
    # 250 points paid 25.00; 10.01 of it goes back first, then the rest.
    first = domain.proportional_points(250, amount=D("25.00"), done=D("0"), now=D("10.01"))
    rest = domain.proportional_points(250, amount=D("25.00"), done=D("10.01"), now=D("14.99"))
    assert (first, rest) == (100, 150)


@pytest.mark.parametrize(
    "steps",
    [
        (D("25.00"),),
        (D("0.01"), D("24.99")),
        (D("3.33"), D("3.33"), D("18.34")),
        (D("12.50"), D("12.50")),
        (D("7.77"), D("7.77"), D("7.77"), D("1.69")),
    ],
)
def test_a_points_tender_given_back_in_steps_returns_exactly_its_points(steps):
    done, total = D(0), 0
    for now in steps:
        total += domain.proportional_points(333, amount=D("25.00"), done=done, now=now)
        done += now
    assert total == 333


def test_a_points_tender_never_gives_back_more_than_it_paid_with():
    assert domain.proportional_points(250, amount=D("25.00"), done=D("0"), now=D("99.00")) == 250
    assert domain.proportional_points(250, amount=D("25.00"), done=D("25.00"), now=D("5")) == 0
    assert domain.proportional_points(0, amount=D("25.00"), done=D("0"), now=D("5")) == 0
    assert domain.proportional_points(250, amount=D("0"), done=D("0"), now=D("5")) == 0


# --- split over tenders ------------------------------------------------------------------


def test_a_refund_goes_to_points_first_then_card_then_cash_whatever_the_tenders_order():
    cash, card, points = (
        Room(1, "cash", D("20.00")),
        Room(2, "card", D("30.00")),
        Room(3, "points", D("10.00")),
    )
    parts, left = domain.split(D("45.00"), [cash, card, points])
    assert parts == [(points, D("10.00")), (card, D("30.00")), (cash, D("5.00"))]
    assert left == D("0.00")


def test_a_tender_of_another_kind_gives_back_after_cash_in_its_given_order():
    gift, voucher, cash = (
        Room(1, "gift_card", D("5.00")),
        Room(2, "voucher", D("5.00")),
        Room(3, "cash", D("5.00")),
    )
    parts, left = domain.split(D("12.00"), [gift, voucher, cash])
    assert parts == [(cash, D("5.00")), (gift, D("5.00")), (voucher, D("2.00"))]
    assert left == 0


def test_a_refund_beyond_what_the_tenders_can_give_back_is_reported_as_left_over():
    card = Room(1, "card", D("4.99"))
    spent = Room(2, "points", D("0.00"))
    parts, left = domain.split(D("10.00"), [spent, card])
    assert parts == [(card, D("4.99"))]
    assert left == D("5.01")


def test_a_small_refund_takes_only_what_it_needs_from_the_first_tender():
    points, card = Room(1, "points", D("10.00")), Room(2, "card", D("30.00"))
    assert domain.split(D("3.50"), [card, points]) == ([(points, D("3.50"))], D("0.00"))
    assert domain.split(D("0.00"), [card, points]) == ([], D("0.00"))


def test_the_tender_order_is_points_card_cash():
    assert domain.REFUND_ORDER == ("points", "card", "cash")
    assert [domain.tender_rank(k) for k in ("points", "card", "cash", "gift_card")] == [0, 1, 2, 3]


# --- shortfall ---------------------------------------------------------------------------


def test_points_already_spent_are_kept_back_at_their_redemption_value():
    assert domain.shortfall_deduction(
        37, point_value=D("0.10"), limit=D("50.00"), currency="EUR"
    ) == D("3.70")


def test_what_is_kept_back_for_spent_points_never_exceeds_the_money_refunded():
    assert domain.shortfall_deduction(
        500, point_value=D("0.10"), limit=D("12.34"), currency="EUR"
    ) == D("12.34")
    assert domain.shortfall_deduction(
        500, point_value=D("0.10"), limit=D("0.00"), currency="EUR"
    ) == D("0.00")


def test_no_shortfall_keeps_nothing_back_and_the_deduction_is_rounded_to_the_cent():
    assert str(
        domain.shortfall_deduction(0, point_value=D("0.10"), limit=D("9"), currency="EUR")
    ) == ("0.00")
    assert domain.shortfall_deduction(
        3, point_value=D("0.015"), limit=D("9.00"), currency="EUR"
    ) == D("0.05")
