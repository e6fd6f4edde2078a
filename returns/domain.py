"""Pure refund rules: what returned units were paid, how a refund goes back. No ORM.

Rounding, stated once (amounts come from the order, already in minor units):
- A line's units are worth their share of the line total — the price after the line's own
  discounts *and* its part of every basket-level discount (threshold, coupon, buy-N-get-M),
  which the quote already spread over the lines with the largest-remainder `allocate`.
- Shares are cumulative and rounded down: the first n of q units are worth
  floor(line_total × n / q) minor units, so a return of k more units refunds
  share(n + k) − share(n). Returning 1 of 3 now and 2 later refunds exactly the line total,
  whatever the order of the steps. Earned points of a line are split the same way.
- A basket promotion whose threshold the kept goods no longer meet is not clawed back:
  the customer gets back what they paid for the returned units, and keeps the discount on
  what they keep (the promotion was applied to the sale that happened).
- The refund goes back over the tenders of the order in `REFUND_ORDER`: points as points
  first, then card, then cash, then anything else; each tender gives back at most what it
  paid minus what earlier returns gave back through it.
- Earned points that can no longer be taken back (the customer spent them) are deducted
  from the money refund at the value of a point under the rules in force.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from core.money import minor_unit, quantize

REFUND_ORDER = ("points", "card", "cash")


def _units(amount: Decimal, currency: str) -> int:
    digits = -minor_unit(currency).as_tuple().exponent
    return int(quantize(amount, currency).scaleb(digits))


def _money(units: int, currency: str) -> Decimal:
    digits = -minor_unit(currency).as_tuple().exponent
    return quantize(Decimal(units).scaleb(-digits), currency)


def share(amount: Decimal, *, quantity: int, upto: int, currency: str) -> Decimal:
    """What the first `upto` of `quantity` units are worth of `amount`, rounded down."""
    if quantity <= 0 or upto <= 0:
        return quantize(Decimal(0), currency)
    if upto >= quantity:
        return quantize(amount, currency)
    return _money(_units(amount, currency) * upto // quantity, currency)


def units_value(amount: Decimal, *, quantity: int, before: int, now: int, currency: str) -> Decimal:
    """The value of `now` more units of a line when `before` came back already."""
    return share(amount, quantity=quantity, upto=before + now, currency=currency) - share(
        amount, quantity=quantity, upto=before, currency=currency
    )


def points_share(points: int, *, quantity: int, before: int, now: int) -> int:
    """Points of `now` more units of a line that earned `points` for `quantity` units."""
    if quantity <= 0 or points <= 0:
        return 0

    def upto(n: int) -> int:
        return points if n >= quantity else points * n // quantity

    return upto(before + now) - upto(before)


def proportional_points(points: int, *, amount: Decimal, done: Decimal, now: Decimal) -> int:
    """Points of a tender of `amount` paid with `points`, for `now` more of its money when
    `done` went back already (cumulative, rounded down, all of it at the end)."""
    if amount <= 0 or points <= 0:
        return 0

    def upto(value: Decimal) -> int:
        if value >= amount:
            return points
        return int((Decimal(points) * value / amount).to_integral_value(rounding=ROUND_FLOOR))

    return upto(done + now) - upto(done)


@dataclass(frozen=True)
class Room:
    """A tender of the order and how much of it can still be given back."""

    key: int
    kind: str
    left: Decimal


def tender_rank(kind: str) -> int:
    return REFUND_ORDER.index(kind) if kind in REFUND_ORDER else len(REFUND_ORDER)


def split(amount: Decimal, rooms: Sequence[Room]) -> tuple[list[tuple[Room, Decimal]], Decimal]:
    """Spread `amount` over the tenders in `REFUND_ORDER` (then their given order); returns
    (tender, amount) parts and what no tender can take."""
    parts: list[tuple[Room, Decimal]] = []
    left = amount
    for room in sorted(rooms, key=lambda r: tender_rank(r.kind)):
        if left <= 0:
            break
        take = min(left, room.left)
        if take > 0:
            parts.append((room, take))
            left -= take
    return parts, left


def shortfall_deduction(points: int, *, point_value: Decimal, limit: Decimal, currency: str):
    """Money kept back for `points` the customer already spent, never more than `limit`."""
    if points <= 0:
        return quantize(Decimal(0), currency)
    return min(quantize(Decimal(points) * point_value, currency), limit)
