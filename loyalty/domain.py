"""Pure loyalty rules: points earned, tiers, redemption limits, FIFO lots. No ORM here.

Points are whole numbers and always rounded down (a customer never gets a point they did
not fully earn, and a redemption never pays more than the rules allow). Money is rounded
with `core.money.quantize` only.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal

from core.money import quantize

# Tiers are reached by the spend of the last twelve months before the sale.
ROLLING_WINDOW = timedelta(days=365)


class NotEnoughPoints(ValueError):
    """Raised by `allocate_fifo` when the lots hold fewer points than asked for."""


@dataclass(frozen=True)
class EarnLine:
    variant_id: int | None
    category_id: int | None
    amount_paid: Decimal


@dataclass(frozen=True)
class TierRule:
    name: str
    min_spend: Decimal
    multiplier: Decimal


def floor_points(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_FLOOR))


def line_earns(
    line: EarnLine,
    *,
    excluded_variant_ids: set[int],
    excluded_category_ids: set[int],
    category_ancestors: Mapping[int, Sequence[int]],
) -> bool:
    """Whether a line earns points: excluded variants and categories (with every category
    below an excluded one) earn nothing."""
    if line.variant_id is not None and line.variant_id in excluded_variant_ids:
        return False
    if line.category_id is not None and excluded_category_ids:
        chain = category_ancestors.get(line.category_id, (line.category_id,))
        if excluded_category_ids.intersection(chain):
            return False
    return True


def eligible_amount(
    lines: Iterable[EarnLine],
    *,
    excluded_variant_ids: set[int],
    excluded_category_ids: set[int],
    category_ancestors: Mapping[int, Sequence[int]],
) -> Decimal:
    """The money paid on lines that earn points (see `line_earns`)."""
    total = Decimal(0)
    for line in lines:
        if line_earns(
            line,
            excluded_variant_ids=excluded_variant_ids,
            excluded_category_ids=excluded_category_ids,
            category_ancestors=category_ancestors,
        ):
            total += line.amount_paid
    return quantize(total)


def split_points(points: int, weights: Sequence[Decimal]) -> list[int]:
    """Split whole `points` over lines in proportion to `weights` (largest remainder, ties
    to the earlier line), adding up exactly; a line of weight 0 gets nothing.

    Records what each line of a sale earned, so a return takes back only the points of the
    units returned (a line excluded from earning has weight 0 and gives back nothing).
    """
    whole = sum(weights, Decimal(0))
    if points <= 0 or whole <= 0:
        return [0 for _w in weights]
    shares = [floor_points(points * w / whole) for w in weights]
    remainders = [points * w / whole - share for w, share in zip(weights, shares, strict=True)]
    left = points - sum(shares)
    for i in sorted(range(len(weights)), key=lambda i: (-remainders[i], i))[:left]:
        shares[i] += 1
    return shares


def earn_breakdown(
    lines: Sequence[EarnLine],
    *,
    points: int,
    excluded_variant_ids: set[int],
    excluded_category_ids: set[int],
    category_ancestors: Mapping[int, Sequence[int]],
) -> list[dict[str, str | int]]:
    """Per line, in the sale's line order: the money paid and the points it earned."""
    weights = [
        line.amount_paid
        if line_earns(
            line,
            excluded_variant_ids=excluded_variant_ids,
            excluded_category_ids=excluded_category_ids,
            category_ancestors=category_ancestors,
        )
        else Decimal(0)
        for line in lines
    ]
    return [
        {"amount_paid": str(line.amount_paid), "points": share}
        for line, share in zip(lines, split_points(points, weights), strict=True)
    ]


def earned_points(*, eligible: Decimal, earn_rate: Decimal, multiplier: Decimal) -> int:
    """Points for an eligible amount: rate × tier multiplier, rounded down."""
    if eligible <= 0:
        return 0
    return floor_points(eligible * earn_rate * multiplier)


def tier_for_spend(tiers: Iterable[TierRule], spend: Decimal) -> TierRule | None:
    """The highest tier whose minimum spend is reached, or None (multiplier 1)."""
    reached = [t for t in tiers if spend >= t.min_spend]
    return max(reached, key=lambda t: t.min_spend) if reached else None


def next_tier(tiers: Iterable[TierRule], spend: Decimal) -> TierRule | None:
    """The lowest tier not reached yet, or None when the top tier is reached."""
    ahead = [t for t in tiers if spend < t.min_spend]
    return min(ahead, key=lambda t: t.min_spend) if ahead else None


def spend_in_window(rows: Iterable[tuple[datetime, Decimal]], *, at: datetime) -> Decimal:
    """Tier spend at `at` from (sale time, amount) rows: the 12 months before `at`.

    A refund row carries the time of the sale it refunds (and a negative amount), so a
    return never pulls an old sale's spend into the current window.
    """
    since = at - ROLLING_WINDOW
    return quantize(sum((amount for when, amount in rows if since <= when < at), Decimal(0)))


def initials(first_name: str, last_name: str) -> str:
    """Initials only ("A. K." for Anna Kowalska): all a till shows of a customer's name."""
    letters = [part.strip()[:1].upper() for part in (first_name, last_name) if part.strip()]
    return " ".join(f"{letter}." for letter in letters)


def redeem_value(points: int, *, redemption_value: Decimal) -> Decimal:
    """What `points` pay, in currency."""
    return quantize(Decimal(points) * redemption_value)


def redeemable_limit(
    *, order_total: Decimal, max_redeem_percent: Decimal, redemption_value: Decimal
) -> int:
    """The most points an order of `order_total` may be paid with under the max share."""
    if order_total <= 0 or redemption_value <= 0:
        return 0
    payable = quantize(order_total * max_redeem_percent / Decimal(100))
    return floor_points(payable / redemption_value)


def prorate(amount: Decimal, part: int, whole: int) -> Decimal:
    """`amount` × part / whole, in money; `whole` 0 gives 0."""
    if whole == 0:
        return quantize(0)
    return quantize(amount * Decimal(part) / Decimal(whole))


def allocate_fifo(lots: Sequence[tuple[int, int]], points: int) -> list[tuple[int, int]]:
    """Take `points` from lots (id, remaining) in the order given; returns (id, taken).

    The caller orders the lots (soonest to expire first, then oldest), so this is the
    FIFO rule itself. Raises NotEnoughPoints when the lots hold less than `points`.
    """
    if points < 0:
        raise ValueError("points must not be negative")
    taken, left = [], points
    for lot_id, remaining in lots:
        if left == 0:
            break
        take = min(left, remaining)
        if take > 0:
            taken.append((lot_id, take))
            left -= take
    if left:
        raise NotEnoughPoints(f"{left} points more than the lots hold")
    return taken


def restore_lifo(consumed: Sequence[tuple[int, int]], points: int) -> list[tuple[int, int]]:
    """Give `points` back to the lots a redemption took them from, last taken first.

    `consumed` lists (lot id, points still taken) in the order they were taken; giving
    back the last-taken first returns the latest-expiring points first, which keeps the
    soonest-expiring ones spent. Raises NotEnoughPoints when more is asked than was taken.
    """
    restored, left = [], points
    for lot_id, still_taken in reversed(consumed):
        if left == 0:
            break
        give = min(left, still_taken)
        if give > 0:
            restored.append((lot_id, give))
            left -= give
    if left:
        raise NotEnoughPoints(f"{left} points more than were taken")
    return restored


def tier_problems(tiers: Sequence[TierRule]) -> dict[str, str]:
    """Problems of a rules version's tiers: names and minimum spends unique, values in range."""
    names = [t.name.strip().lower() for t in tiers]
    spends = [t.min_spend for t in tiers]
    if any(not n for n in names):
        return {"tiers": "tier_name_required"}
    if len(set(names)) != len(names):
        return {"tiers": "duplicate_tier_name"}
    if len(set(spends)) != len(spends):
        return {"tiers": "duplicate_tier_min_spend"}
    if any(t.min_spend < 0 or t.multiplier <= 0 for t in tiers):
        return {"tiers": "tier_out_of_range"}
    return {}


def rules_problems(
    *,
    earn_rate: Decimal,
    redemption_value: Decimal,
    max_redeem_percent: Decimal,
    points_lifetime_days: int | None,
    tiers: Sequence[TierRule] = (),
) -> dict[str, str]:
    """Every problem of a rules version at once, field → problem code (empty when valid)."""
    problems: dict[str, str] = {}
    if earn_rate < 0:
        problems["earn_rate"] = "must_not_be_negative"
    if redemption_value <= 0:
        problems["redemption_value"] = "must_be_positive"
    if not 0 <= max_redeem_percent <= 100:
        problems["max_redeem_percent"] = "must_be_a_percentage"
    if points_lifetime_days is not None and points_lifetime_days < 1:
        problems["points_lifetime_days"] = "must_be_at_least_1"
    problems.update(tier_problems(tiers))
    return problems
