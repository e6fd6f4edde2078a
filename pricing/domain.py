"""Pure pricing rules: the quote engine, coupon checks and price-period planning. No ORM.

Everything here takes plain values and returns plain values, so the rules are unit-tested
without a database and the same input always gives the same output.

Rounding, stated once:
- Money is `Decimal`; every amount is rounded with `core.money.quantize` (ROUND_HALF_UP to
  the currency's minor unit) at the moment it is computed, never later.
- A discount on one line is computed on the line amount (unit price × quantity, after the
  discounts of higher priority) and rounded once: 3 × 33.33 with 10 % off is 99.99 − 10.00.
- A discount computed for several lines at once (basket-scope percent or amount off, the
  basket threshold) is rounded once for the whole set and then split over the lines in
  proportion to their amounts with `allocate` (largest remainder, ties to the earlier
  line), so the lines add up to it exactly. VAT is computed the same way per rate:
  rounded once on the rate's gross total, then split over its lines.
- So the line totals always add up to the basket total to the minor unit.

Engine rules:
- Promotions apply in priority order (higher first, then lower id). Each one works on the
  line amounts left by the ones before it (10 % then 10 % is 19 % off).
- A non-stacking promotion only touches lines that no promotion touched yet, and a line it
  touched takes no further promotion.
- Scope: the whole basket, listed variants, listed products, or listed categories with all
  their sub-categories.
- percent_off: value % off each line (basket scope: off the basket, split over lines).
- amount_off: value off each unit (basket scope: value off the basket once, split).
- fixed_price: each unit in scope sells for value (no effect when it is already cheaper).
- buy_x_get_y: for every N + M units in scope, the M cheapest units of them all are free.
- basket_threshold: value % off the lines in scope when their amount (after the discounts
  before it) is at least the threshold — "from 5,000", so exactly 5,000 qualifies.
- No discount ever takes a line below zero.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from django.utils.translation import gettext as _

from core.money import minor_unit, quantize

MAX_QUANTITY = 10_000

PERCENT_OFF = "percent_off"
AMOUNT_OFF = "amount_off"
FIXED_PRICE = "fixed_price"
BUY_X_GET_Y = "buy_x_get_y"
BASKET_THRESHOLD = "basket_threshold"
KINDS = (PERCENT_OFF, AMOUNT_OFF, FIXED_PRICE, BUY_X_GET_Y, BASKET_THRESHOLD)

BASKET = "basket"
VARIANTS = "variants"
PRODUCTS = "products"
CATEGORIES = "categories"
SCOPES = (BASKET, VARIANTS, PRODUCTS, CATEGORIES)

# Why a promotion (and so a coupon) did not lower the basket.
APPLIED = "applied"
NOT_APPLICABLE = "not_applicable"
NOT_IN_BASKET = "not_in_basket"
CONDITIONS_NOT_MET = "conditions_not_met"
NOT_COMBINABLE = "not_combinable"
NO_SAVING = "no_saving"
NOT_LIVE = "not_live"
# Why a coupon cannot be used at all, found before pricing.
COUPON_INACTIVE = "inactive"
COUPON_NOT_STARTED = "not_started"
COUPON_EXPIRED = "expired"
COUPON_USAGE_LIMIT = "usage_limit_reached"
COUPON_CUSTOMER_LIMIT = "customer_limit_reached"
COUPON_CUSTOMER_REQUIRED = "customer_required"

ZERO = Decimal(0)
HUNDRED = Decimal(100)


# --- inputs -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BasketItem:
    """One basket line as the engine sees it: the variant's facts and its base unit price."""

    sku: str
    variant_id: int
    product_id: int
    category_path: tuple[int, ...]  # the product's category followed by its ancestors
    quantity: int
    unit_price: Decimal
    vat_rate: Decimal


@dataclass(frozen=True, slots=True)
class PromotionRule:
    id: int
    name: str
    kind: str
    scope: str
    value: Decimal = ZERO
    buy_quantity: int = 0
    get_quantity: int = 0
    threshold: Decimal = ZERO
    priority: int = 0
    stackable: bool = True
    requires_coupon: bool = False
    variant_ids: frozenset[int] = frozenset()
    product_ids: frozenset[int] = frozenset()
    category_ids: frozenset[int] = frozenset()

    def covers(self, item: BasketItem) -> bool:
        if self.scope == BASKET:
            return True
        if self.scope == VARIANTS:
            return item.variant_id in self.variant_ids
        if self.scope == PRODUCTS:
            return item.product_id in self.product_ids
        if self.scope == CATEGORIES:
            return not self.category_ids.isdisjoint(item.category_path)
        return False


@dataclass(frozen=True, slots=True)
class CouponCheck:
    """A coupon code as loaded: the promotion it unlocks, or why it cannot be used."""

    code: str
    promotion_id: int
    problem: str | None = None


# --- outputs ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LineDiscount:
    promotion_id: int
    promotion_name: str
    kind: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class QuoteLine:
    sku: str
    variant_id: int
    product_id: int
    quantity: int
    unit_price: Decimal
    subtotal: Decimal
    discounts: tuple[LineDiscount, ...]
    discount_total: Decimal
    line_total: Decimal
    vat_rate: Decimal
    vat_amount: Decimal


@dataclass(frozen=True, slots=True)
class VatTotal:
    rate: Decimal
    base: Decimal  # net of VAT
    amount: Decimal
    gross: Decimal


@dataclass(frozen=True)
class Quote:
    """What a basket costs at one instant; `as_dict()` is the JSON every channel shows."""

    currency: str
    lines: tuple[QuoteLine, ...]
    subtotal: Decimal
    discount_total: Decimal
    total: Decimal
    vat: tuple[VatTotal, ...]
    coupon: Mapping[str, str | None] | None
    priced_at: datetime | None
    # A delivery's fee (`with_shipping`): part of `total` and of `vat`, never of the
    # lines, `subtotal` or `discount_total` (total = subtotal - discount_total + fee).
    shipping: ShippingCharge | None = None

    def as_dict(self) -> dict[str, Any]:
        money = str
        return {
            "currency": self.currency,
            "lines": [
                {
                    "sku": line.sku,
                    "variant_id": line.variant_id,
                    "product_id": line.product_id,
                    "quantity": line.quantity,
                    "unit_price": money(line.unit_price),
                    "subtotal": money(line.subtotal),
                    "discounts": [
                        {
                            "promotion_id": d.promotion_id,
                            "promotion_name": d.promotion_name,
                            "kind": d.kind,
                            "amount": money(d.amount),
                        }
                        for d in line.discounts
                    ],
                    "discount_total": money(line.discount_total),
                    "line_total": money(line.line_total),
                    "vat_rate": _rate(line.vat_rate),
                    "vat_amount": money(line.vat_amount),
                }
                for line in self.lines
            ],
            "subtotal": money(self.subtotal),
            "discount_total": money(self.discount_total),
            "total": money(self.total),
            "vat": [
                {
                    "rate": _rate(v.rate),
                    "base": money(v.base),
                    "amount": money(v.amount),
                    "gross": money(v.gross),
                }
                for v in self.vat
            ],
            "coupon": dict(self.coupon) if self.coupon is not None else None,
            "shipping": self.shipping.as_dict() if self.shipping is not None else None,
            "priced_at": self.priced_at.isoformat() if self.priced_at else None,
        }

    @property
    def goods_total(self) -> Decimal:
        """What the goods cost after discounts, without the delivery fee."""
        return self.total - self.shipping.amount if self.shipping is not None else self.total


@dataclass(frozen=True, slots=True)
class ShippingRule:
    """A delivery method's rate as head office set it (`pricing.ShippingRate`)."""

    code: str
    name: str
    price: Decimal
    free_above: Decimal | None
    vat_rate: Decimal


@dataclass(frozen=True, slots=True)
class ShippingCharge:
    method: str
    name: str
    amount: Decimal  # VAT included
    vat_rate: Decimal
    vat_amount: Decimal

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "name": self.name,
            "amount": str(self.amount),
            "vat_rate": _rate(self.vat_rate),
            "vat_amount": str(self.vat_amount),
        }


def shipping_charge(rule: ShippingRule, *, goods_total: Decimal, currency: str) -> ShippingCharge:
    """The fee of `rule` for goods costing `goods_total` (after every discount): its price,
    or nothing once the goods reach `free_above`. VAT is included in the fee at the rate's
    own `vat_rate`, rounded once (gross × r / (100 + r), like the lines' VAT)."""
    free = rule.free_above is not None and goods_total >= rule.free_above
    amount = quantize(ZERO if free else rule.price, currency)
    vat = quantize(amount * rule.vat_rate / (HUNDRED + rule.vat_rate), currency)
    return ShippingCharge(
        method=rule.code, name=rule.name, amount=amount, vat_rate=rule.vat_rate, vat_amount=vat
    )


def with_shipping(quote: Quote, charge: ShippingCharge) -> Quote:
    """The quote with a delivery fee added to its total and to its VAT at the fee's rate
    (joined to the goods of the same rate: each part rounded on its own)."""
    vat = {v.rate: v for v in quote.vat}
    net = charge.amount - charge.vat_amount
    if charge.amount:
        same = vat.get(charge.vat_rate)
        vat[charge.vat_rate] = VatTotal(
            rate=charge.vat_rate,
            base=(same.base if same else ZERO) + net,
            amount=(same.amount if same else ZERO) + charge.vat_amount,
            gross=(same.gross if same else ZERO) + charge.amount,
        )
    return replace(
        quote,
        total=quote.total + charge.amount,
        vat=tuple(vat[rate] for rate in sorted(vat)),
        shipping=charge,
    )


def _rate(rate: Decimal) -> str:
    return f"{rate:.2f}"  # a percentage, not money: always two decimals


# --- money helpers ------------------------------------------------------------------


def allocate(total: Decimal, weights: Sequence[Decimal], currency: str) -> list[Decimal]:
    """Split `total` over `weights` in proportion, to the minor unit, adding up exactly.

    Weights are amounts of the currency. Largest remainder method in whole minor units
    (integer arithmetic, no rounding mode involved); equal remainders go to the earlier
    weight. When `total` is not more than the sum of the weights, no share exceeds its
    weight.
    """
    unit = minor_unit(currency)
    scale = 10 ** -unit.as_tuple().exponent  # minor units per major unit
    total_units = int(quantize(total, currency) * scale)
    units = [int(w * scale) for w in weights]
    whole = sum(units)
    if whole <= 0 or total_units == 0:
        return [unit * 0 for _w in weights]
    shares = [total_units * u // whole for u in units]
    left = total_units - sum(shares)
    if left:
        remainders = [total_units * u % whole for u in units]
        # Largest remainders first; a stable sort keeps equal ones in weight order.
        for i in sorted(range(len(units)), key=remainders.__getitem__, reverse=True)[:left]:
            shares[i] += 1
    # A whole number of minor units times the minor unit: exact, with its exponent.
    return [share * unit for share in shares]


# --- the engine ---------------------------------------------------------------------


@dataclass(slots=True)
class _Line:
    item: BasketItem
    unit_price: Decimal
    subtotal: Decimal
    current: Decimal  # what the line costs after the promotions applied so far
    discounts: list[LineDiscount] = field(default_factory=list)
    locked: bool = False  # a non-stacking promotion owns this line


@dataclass(frozen=True, slots=True)
class RuleIndex:
    """Promotion rules in the order the engine applies them, indexed by what they cover.

    A basket finds the rules of each line with a few dictionary lookups instead of
    testing every rule against every line. Build it once per set of rules with
    `rule_index` (the quote keeps one per cached rule book) and hand it to `price_basket`
    in place of the rules.
    """

    rules: tuple[PromotionRule, ...]  # priority order: higher first, then lower id
    basket: tuple[int, ...]  # positions in `rules` of the basket-scope rules
    by_variant: Mapping[int, tuple[int, ...]]  # variant id → positions of the rules listing it
    by_product: Mapping[int, tuple[int, ...]]
    by_category: Mapping[int, tuple[int, ...]]

    def positions(self, item: BasketItem) -> list[int]:
        """Positions of the rules that cover `item`, each once (`PromotionRule.covers`)."""
        found = [
            *self.by_variant.get(item.variant_id, ()),
            *self.by_product.get(item.product_id, ()),
        ]
        path = item.category_path
        if len(path) == 1:
            found += self.by_category.get(path[0], ())
        elif path:
            # A rule listing two categories of the path covers the line once.
            found += {pos for category in path for pos in self.by_category.get(category, ())}
        return found

    def covering(self, item: BasketItem) -> tuple[PromotionRule, ...]:
        """The rules that could change `item`'s price — those covering it and the basket
        rules — in the order the engine applies them (a listing prices one-unit baskets)."""
        return tuple(self.rules[p] for p in sorted({*self.basket, *self.positions(item)}))


def rule_index(promotions: Iterable[PromotionRule]) -> RuleIndex:
    """The `RuleIndex` of `promotions`."""
    rules = tuple(sorted(promotions, key=lambda r: (-r.priority, r.id)))
    basket: list[int] = []
    listed: dict[str, dict[int, list[int]]] = {VARIANTS: {}, PRODUCTS: {}, CATEGORIES: {}}
    for position, rule in enumerate(rules):
        if rule.scope == BASKET:
            basket.append(position)
            continue
        ids = {
            VARIANTS: rule.variant_ids,
            PRODUCTS: rule.product_ids,
            CATEGORIES: rule.category_ids,
        }.get(rule.scope, ())
        for member in ids:
            listed[rule.scope].setdefault(member, []).append(position)

    def frozen(index: dict[int, list[int]]) -> dict[int, tuple[int, ...]]:
        # A plain dict (never changed after this): a proxy would slow every lookup.
        return {member: tuple(positions) for member, positions in index.items()}

    return RuleIndex(
        rules=rules,
        basket=tuple(basket),
        by_variant=frozen(listed[VARIANTS]),
        by_product=frozen(listed[PRODUCTS]),
        by_category=frozen(listed[CATEGORIES]),
    )


def price_basket(
    items: Sequence[BasketItem],
    promotions: Iterable[PromotionRule] | RuleIndex,
    *,
    currency: str,
    coupon: CouponCheck | None = None,
    priced_at: datetime | None = None,
) -> Quote:
    """Price a basket: base prices, promotions in priority order, VAT, totals, coupon.

    `promotions`: the rules, or their `RuleIndex` (the same result, found faster).
    Only `core.money.quantize` rounds; sums and differences of amounts already rounded
    to the minor unit are exact and are left as they are.
    """
    lines = []
    for item in items:
        unit_price = quantize(item.unit_price, currency)
        subtotal = unit_price * item.quantity
        lines.append(_Line(item=item, unit_price=unit_price, subtotal=subtotal, current=subtotal))

    index = promotions if isinstance(promotions, RuleIndex) else rule_index(promotions)
    # The lines each rule covers, in basket order.
    in_scope: list[list[_Line]] = [[] for _rule in index.rules]
    for position in index.basket:
        in_scope[position] = lines
    for line in lines:
        for position in index.positions(line.item):
            in_scope[position].append(line)

    unlocked = coupon.promotion_id if coupon is not None and coupon.problem is None else None
    outcomes: dict[int, str] = {}
    for rule, scoped in zip(index.rules, in_scope, strict=True):
        if rule.requires_coupon and rule.id != unlocked:
            continue
        outcomes[rule.id] = _apply(rule, scoped, currency)

    vat_by_line, vat_totals = _vat(lines, currency)
    quote_lines = tuple(
        QuoteLine(
            sku=line.item.sku,
            variant_id=line.item.variant_id,
            product_id=line.item.product_id,
            quantity=line.item.quantity,
            unit_price=line.unit_price,
            subtotal=line.subtotal,
            discounts=tuple(line.discounts),
            discount_total=line.subtotal - line.current,
            line_total=line.current,
            vat_rate=line.item.vat_rate,
            vat_amount=vat_by_line[i],
        )
        for i, line in enumerate(lines)
    )
    zero = quantize(ZERO, currency)
    subtotal = sum((line.subtotal for line in quote_lines), zero)
    total = sum((line.line_total for line in quote_lines), zero)
    return Quote(
        currency=currency,
        lines=quote_lines,
        subtotal=subtotal,
        discount_total=subtotal - total,
        total=total,
        vat=vat_totals,
        coupon=_coupon_status(coupon, outcomes),
        priced_at=priced_at,
    )


def _apply(rule: PromotionRule, in_scope: list[_Line], currency: str) -> str:
    """Apply `rule` to the lines it covers (`in_scope`, in basket order)."""
    if not in_scope:
        return NOT_IN_BASKET
    if rule.kind == BASKET_THRESHOLD:
        if sum((line.current for line in in_scope), ZERO) < rule.threshold:
            return CONDITIONS_NOT_MET
    stackable = rule.stackable
    eligible = [
        line
        for line in in_scope
        if line.current > 0 and not line.locked and (stackable or not line.discounts)
    ]
    if not eligible:
        return NOT_COMBINABLE
    amounts = _amounts(rule, eligible, currency)
    if amounts is None:
        return CONDITIONS_NOT_MET
    applied = False
    for line, amount in zip(eligible, amounts, strict=True):
        current = line.current
        if amount > current:
            amount = current
        if amount <= 0:
            continue  # also drops a negative amount: no discount raises a price
        line.discounts.append(LineDiscount(rule.id, rule.name, rule.kind, amount))
        line.current = current - amount  # both are amounts in minor units: exact
        if not stackable:
            line.locked = True
        applied = True
    return APPLIED if applied else NO_SAVING


def _percent(amount: Decimal, percent: Decimal, currency: str) -> Decimal:
    return quantize(amount * min(percent, HUNDRED) / HUNDRED, currency)


def _amounts(rule: PromotionRule, eligible: list[_Line], currency: str) -> list[Decimal] | None:
    """The discount of each eligible line, or None when the rule's condition is not met."""
    kind, basket = rule.kind, rule.scope == BASKET
    if kind == PERCENT_OFF and not basket:
        return [_percent(line.current, rule.value, currency) for line in eligible]
    if kind == AMOUNT_OFF and not basket:
        return [quantize(rule.value * line.item.quantity, currency) for line in eligible]
    if kind == FIXED_PRICE:
        return [
            line.current - quantize(rule.value * line.item.quantity, currency) for line in eligible
        ]
    if kind == BUY_X_GET_Y:
        return _cheapest_free(rule, eligible, currency)
    # A discount on the eligible lines' amount, split over them.
    currents = [line.current for line in eligible]
    basket_amount = sum(currents, ZERO)
    if kind in (PERCENT_OFF, BASKET_THRESHOLD):
        return allocate(_percent(basket_amount, rule.value, currency), currents, currency)
    if kind == AMOUNT_OFF:
        total = min(quantize(rule.value, currency), basket_amount)
        return allocate(total, currents, currency)
    return None


def _cheapest_free(
    rule: PromotionRule, eligible: list[_Line], currency: str
) -> list[Decimal] | None:
    group = rule.buy_quantity + rule.get_quantity
    if rule.buy_quantity < 1 or rule.get_quantity < 1:
        return None
    units = sum(line.item.quantity for line in eligible)
    free = units // group * rule.get_quantity
    if free == 0:
        return None
    # Cheapest unit first (by what the unit costs now), equal prices in basket order.
    order = sorted(
        range(len(eligible)), key=lambda i: (eligible[i].current / eligible[i].item.quantity, i)
    )
    free_units = [0] * len(eligible)
    for i in order:
        take = min(free, eligible[i].item.quantity)
        free_units[i] = take
        free -= take
        if free == 0:
            break
    return [
        line.current
        if n == line.item.quantity
        else quantize(line.current * n / line.item.quantity, currency)
        for line, n in zip(eligible, free_units, strict=True)
    ]


def _vat(lines: list[_Line], currency: str) -> tuple[list[Decimal], tuple[VatTotal, ...]]:
    """VAT included in prices: rate r takes gross × r / (100 + r), rounded once per rate."""
    by_rate: dict[Decimal, list[int]] = defaultdict(list)
    for i, line in enumerate(lines):
        by_rate[line.item.vat_rate].append(i)
    zero = quantize(ZERO, currency)
    per_line = [zero] * len(lines)
    totals = []
    for rate in sorted(by_rate):
        members = by_rate[rate]
        gross = sum((lines[i].current for i in members), zero)
        amount = quantize(gross * rate / (HUNDRED + rate), currency)
        shares = allocate(amount, [lines[i].current for i in members], currency)
        for i, share in zip(members, shares, strict=True):
            per_line[i] = share
        totals.append(VatTotal(rate=rate, base=gross - amount, amount=amount, gross=gross))
    return per_line, tuple(totals)


def _coupon_status(
    coupon: CouponCheck | None, outcomes: Mapping[int, str]
) -> Mapping[str, str | None] | None:
    if coupon is None:
        return None
    if coupon.problem is not None:
        reason = coupon.problem
    else:
        reason = outcomes.get(coupon.promotion_id, NOT_LIVE)
    if reason == APPLIED:
        return MappingProxyType({"code": coupon.code, "status": APPLIED, "reason": None})
    return MappingProxyType({"code": coupon.code, "status": NOT_APPLICABLE, "reason": reason})


# --- coupons ------------------------------------------------------------------------


def coupon_code_normalize(code: str) -> str:
    """Coupon codes are matched case-insensitively: stored and looked up upper-case."""
    return code.strip().upper()


def coupon_usage_problem(
    *,
    usage_limit: int | None,
    used: int,
    usage_limit_per_customer: int | None,
    used_by_customer: int,
    customer_id: int | None,
) -> str | None:
    """Why one more use of a coupon is not allowed, or None. Released uses do not count."""
    if usage_limit is not None and used >= usage_limit:
        return COUPON_USAGE_LIMIT
    if usage_limit_per_customer is not None:
        if customer_id is None:
            return COUPON_CUSTOMER_REQUIRED
        if used_by_customer >= usage_limit_per_customer:
            return COUPON_CUSTOMER_LIMIT
    return None


def coupon_problem(
    *,
    at: datetime,
    coupon_active: bool,
    promotion_active: bool,
    starts_at: datetime,
    ends_at: datetime | None,
    usage_limit: int | None,
    used: int,
    usage_limit_per_customer: int | None,
    used_by_customer: int,
    customer_id: int | None,
) -> str | None:
    """Why a coupon cannot be used at `at` by this customer, or None when it can."""
    if not coupon_active or not promotion_active:
        return COUPON_INACTIVE
    if at < starts_at:
        return COUPON_NOT_STARTED
    if ends_at is not None and at >= ends_at:
        return COUPON_EXPIRED
    return coupon_usage_problem(
        usage_limit=usage_limit,
        used=used,
        usage_limit_per_customer=usage_limit_per_customer,
        used_by_customer=used_by_customer,
        customer_id=customer_id,
    )


# --- promotions ---------------------------------------------------------------------


def promotion_problems(
    *,
    kind: str,
    scope: str,
    value: Decimal,
    buy_quantity: int,
    get_quantity: int,
    threshold: Decimal,
    starts_at: datetime | None,
    ends_at: datetime | None,
    scope_size: int | None = None,
) -> dict[str, str]:
    """Field → message for every inconsistency of a promotion's settings (empty = valid).

    `scope_size` is the number of variants/products/categories picked, when known.
    """
    problems: dict[str, str] = {}
    if kind not in KINDS:
        problems["kind"] = _("Unknown promotion kind.")
    if scope not in SCOPES:
        problems["scope"] = _("Unknown promotion scope.")
    if value is None or value < 0:
        problems["value"] = _("The value cannot be negative.")
    elif kind in (PERCENT_OFF, BASKET_THRESHOLD) and not ZERO < value <= HUNDRED:
        problems["value"] = _("A percentage is more than 0 and at most 100.")
    elif kind == AMOUNT_OFF and value <= 0:
        problems["value"] = _("The amount off must be more than 0.")
    if kind == FIXED_PRICE and scope == BASKET:
        problems["scope"] = _("A fixed price needs variants, products or categories.")
    if kind == BUY_X_GET_Y and (buy_quantity < 1 or get_quantity < 1):
        problems["buy_quantity"] = _("Buy N get M needs N and M of at least 1.")
    if kind == BASKET_THRESHOLD and (threshold is None or threshold <= 0):
        problems["threshold"] = _("A basket threshold needs an amount above 0.")
    if starts_at is not None and ends_at is not None and ends_at <= starts_at:
        problems["ends_at"] = _("The promotion must end after it starts.")
    if scope in (VARIANTS, PRODUCTS, CATEGORIES) and scope_size == 0:
        problems[scope] = _("Pick at least one item for this scope.")
    return problems


# --- price periods ------------------------------------------------------------------

# What kind of problem a price row has (the service raises the matching error).
PRICE_OVERLAP = "price_overlap"
PRICE_HISTORY = "price_history_immutable"
PRICE_INVALID = "invalid_price"


@dataclass(frozen=True, slots=True)
class PricePeriod:
    """A base price of a variant in a price list over [valid_from, valid_until)."""

    price_list_id: int
    variant_id: int
    amount: Decimal
    valid_from: datetime
    valid_until: datetime | None = None
    price_id: int | None = None  # the stored price (for rows: the one this row changes)


@dataclass
class PricePlan:
    """What applying a batch of price rows would do, or why it may not (`errors`)."""

    errors: dict[int, list[str]] = field(default_factory=dict)
    codes: set[str] = field(default_factory=set)  # OVERLAP, HISTORY, INVALID
    closures: dict[int, datetime] = field(default_factory=dict)  # stored id → new end
    updates: list[PricePeriod] = field(default_factory=list)
    creates: list[PricePeriod] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def fail(self, index: int, code: str, message: str) -> None:
        self.errors.setdefault(index, []).append(message)
        self.codes.add(code)


def _overlaps(a: PricePeriod, b: PricePeriod) -> bool:
    a_ends_after_b_starts = a.valid_until is None or a.valid_until > b.valid_from
    b_ends_after_a_starts = b.valid_until is None or b.valid_until > a.valid_from
    return a_ends_after_b_starts and b_ends_after_a_starts


def _describe(period: PricePeriod) -> str:
    until = period.valid_until.isoformat() if period.valid_until else _("open end")
    return f"{period.amount} [{period.valid_from.isoformat()} – {until})"


def _overlap_message(other: PricePeriod) -> str:
    return _("Overlaps the price %(other)s.") % {"other": _describe(other)}


def plan_prices(
    stored: Sequence[PricePeriod],
    rows: Sequence[PricePeriod],
    *,
    now: datetime,
    close_open_ended: bool = False,
) -> PricePlan:
    """Check a batch of new or changed prices against the stored ones and each other.

    `stored` holds every stored price of the (price list, variant) pairs the rows touch.
    A row with `price_id` changes that stored price; others are new. History is kept:
    a price already in effect may only get (or move) its end, and not to before `now`.
    With `close_open_ended`, a new price that starts after an open-ended price of the
    same variant ends that price at its start (a scheduled price change); any other
    overlap is an error on every row involved.
    """
    plan = PricePlan()
    by_id = {p.price_id: p for p in stored}
    replaced: set[int] = set()
    valid_rows: list[tuple[int, PricePeriod]] = []

    for index, row in enumerate(rows):
        if row.amount < 0:
            plan.fail(index, PRICE_INVALID, _("The amount cannot be negative."))
        if row.valid_until is not None and row.valid_until <= row.valid_from:
            plan.fail(index, PRICE_INVALID, _("valid_until must be later than valid_from."))
        if row.price_id is not None:
            original = by_id.get(row.price_id)
            if original is None:
                plan.fail(index, PRICE_INVALID, _("This price does not exist any more."))
            else:
                for message in _history_problems(original, row, now):
                    plan.fail(index, PRICE_HISTORY, message)
                replaced.add(row.price_id)
        if index not in plan.errors:
            valid_rows.append((index, row))

    groups: dict[tuple[int, int], list[tuple[int | None, PricePeriod]]] = defaultdict(list)
    for period in stored:
        if period.price_id not in replaced:
            groups[(period.price_list_id, period.variant_id)].append((None, period))
    for index, row in valid_rows:
        groups[(row.price_list_id, row.variant_id)].append((index, row))

    final: dict[int, PricePeriod] = dict(valid_rows)
    for members in groups.values():
        if close_open_ended:
            members = _close_open_ended(members, plan, final, now)
        for i, (index_a, a) in enumerate(members):
            for index_b, b in members[i + 1 :]:
                if (index_a is None and index_b is None) or not _overlaps(a, b):
                    continue
                if index_a is not None:
                    plan.fail(index_a, PRICE_OVERLAP, _overlap_message(b))
                if index_b is not None:
                    plan.fail(index_b, PRICE_OVERLAP, _overlap_message(a))

    for index, row in final.items():
        if index in plan.errors:
            continue
        (plan.updates if row.price_id is not None else plan.creates).append(row)
    return plan


def _history_problems(original: PricePeriod, row: PricePeriod, now: datetime) -> list[str]:
    if original.valid_from > now:
        return []  # not in effect yet: anything may change
    problems = []
    same = (
        original.price_list_id == row.price_list_id
        and original.variant_id == row.variant_id
        and original.amount == row.amount
        and original.valid_from == row.valid_from
    )
    if not same:
        problems.append(_("A price already in effect may only get a new end."))
    if original.valid_until is not None and original.valid_until <= now:
        if row.valid_until != original.valid_until:
            problems.append(_("This price has ended; its period cannot change."))
    elif row.valid_until is not None and row.valid_until < now:
        problems.append(_("A price in effect cannot be ended in the past."))
    return problems


def _close_open_ended(
    members: list[tuple[int | None, PricePeriod]],
    plan: PricePlan,
    final: dict[int, PricePeriod],
    now: datetime,
) -> list[tuple[int | None, PricePeriod]]:
    """End each open-ended period at the start of the first new row that starts after it."""
    starts = sorted(
        p.valid_from for index, p in members if index is not None and p.price_id is None
    )
    result = []
    for index, period in members:
        later = next((s for s in starts if s > period.valid_from), None)
        if period.valid_until is not None or later is None:
            result.append((index, period))
            continue
        if index is None and period.valid_from <= now and later < now:
            # Ending a running price before now would rewrite what customers already paid.
            for row_index, row in members:
                if row_index is not None and row.valid_from == later:
                    plan.fail(
                        row_index,
                        PRICE_HISTORY,
                        _("Starts in the past while the price %(other)s is in effect.")
                        % {"other": _describe(period)},
                    )
            result.append((index, period))
            continue
        closed = PricePeriod(
            price_list_id=period.price_list_id,
            variant_id=period.variant_id,
            amount=period.amount,
            valid_from=period.valid_from,
            valid_until=later,
            price_id=period.price_id,
        )
        if index is None:
            plan.closures[period.price_id] = later
        else:
            final[index] = closed
        result.append((index, closed))
    return result
