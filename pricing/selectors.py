"""Pricing reads, and `quote`: the one function that prices anything in any channel.

`quote` loads what a basket needs in a fixed number of queries whatever its size (the
variants, the category tree when a promotion is scoped by category, the current prices
of the default price list, the live promotions with their scopes, the coupon and its
uses) and hands plain values to `pricing.domain.price_basket`. It never writes.

"One price book": prices come from the single active default price list; there are no
per-channel prices or promotions. Promotion amounts are in that list's currency.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import (
    Count,
    Exists,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Value,
)
from django.utils import timezone

from catalog import selectors as catalog_selectors
from catalog.models import Category, Product, Variant
from pricing import domain
from pricing.errors import CouponNotFound, InvalidQuantity, NoPrice, UnknownSku, VariantInactive
from pricing.models import Coupon, Price, PriceList, Promotion

# --- the price book -----------------------------------------------------------------


def price_list_default() -> PriceList | None:
    """The price book every channel sells from (at most one: a partial unique index)."""
    return PriceList.objects.filter(is_default=True, is_active=True).first()


def _in_effect(at: datetime) -> Q:
    return Q(valid_from__lte=at) & (Q(valid_until__isnull=True) | Q(valid_until__gt=at))


def price_history(*, variant_id: int) -> QuerySet[Price]:
    """Every price a variant ever had or will have, in every price list, newest first."""
    return (
        Price.objects.filter(variant_id=variant_id)
        .select_related("price_list")
        .order_by("price_list__name", "-valid_from")
    )


def prices_stored(*, pairs: Iterable[tuple[int, int]], lock: bool = False) -> list[Price]:
    """Every stored price of the given (price list id, variant id) pairs, optionally locked."""
    pairs = set(pairs)
    if not pairs:
        return []
    list_ids = {list_id for list_id, _v in pairs}
    variant_ids = {variant_id for _l, variant_id in pairs}
    qs = Price.objects.filter(price_list_id__in=list_ids, variant_id__in=variant_ids)
    if lock:
        qs = qs.select_for_update().order_by("pk")
    return [p for p in qs if (p.price_list_id, p.variant_id) in pairs]


# --- promotions ---------------------------------------------------------------------


def _live(at: datetime) -> Q:
    return Q(is_active=True) & Q(starts_at__lte=at) & (Q(ends_at__isnull=True) | Q(ends_at__gt=at))


def _requires_coupon() -> Exists:
    return Exists(Coupon.objects.filter(promotion=OuterRef("pk")))


def promotions_live(*, at: datetime | None = None) -> QuerySet[Promotion]:
    """Promotions in effect at `at` (default now), highest priority first, scopes prefetched.

    Each has `requires_coupon` annotated; codes themselves are never listed.
    """
    at = at or timezone.now()
    return (
        Promotion.objects.filter(_live(at))
        .annotate(requires_coupon=_requires_coupon())
        .prefetch_related(
            Prefetch("variants", queryset=Variant.objects.only("id")),
            Prefetch("products", queryset=Product.objects.only("id")),
            Prefetch("categories", queryset=Category.objects.only("id")),
        )
        .order_by("-priority", "id")
    )


_SCOPE_TABLES = {
    domain.VARIANTS: (Promotion.variants.through, "variant_id"),
    domain.PRODUCTS: (Promotion.products.through, "product_id"),
    domain.CATEGORIES: (Promotion.categories.through, "category_id"),
}


def _scope_members(rows: list[dict[str, Any]]) -> dict[int, frozenset[int]]:
    """promotion id → the ids its scope lists, for every scope in one UNION query."""
    parts = []
    for scope, (through, column) in _SCOPE_TABLES.items():
        ids = [row["id"] for row in rows if row["scope"] == scope]
        if ids:
            parts.append(
                through.objects.filter(promotion_id__in=ids).values_list("promotion_id", column)
            )
    if not parts:
        return {}
    union = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]
    found: dict[int, set[int]] = defaultdict(set)
    for promotion_id, member_id in union:
        found[promotion_id].add(member_id)
    return {promotion_id: frozenset(ids) for promotion_id, ids in found.items()}


# The constant part of the hot queries is built once: cloning a prepared queryset with
# one more filter is much cheaper than building its joins and annotations per quote.
# They are only ever filtered, never evaluated themselves (no shared result cache).
_RULE_ROWS = Promotion.objects.annotate(requires_coupon=_requires_coupon()).values(
    "id",
    "name",
    "kind",
    "scope",
    "value",
    "buy_quantity",
    "get_quantity",
    "threshold",
    "priority",
    "is_stackable",
    "requires_coupon",
)


def promotion_rules_live(*, at: datetime) -> list[domain.PromotionRule]:
    """The live promotions as engine rules, in two queries (promotions, scope members)."""
    rows = list(_RULE_ROWS.filter(_live(at)))
    members = _scope_members(rows)
    empty: frozenset[int] = frozenset()
    return [
        domain.PromotionRule(
            id=row["id"],
            name=row["name"],
            kind=row["kind"],
            scope=row["scope"],
            value=row["value"],
            buy_quantity=row["buy_quantity"],
            get_quantity=row["get_quantity"],
            threshold=row["threshold"],
            priority=row["priority"],
            stackable=row["is_stackable"],
            requires_coupon=row["requires_coupon"],
            variant_ids=members.get(row["id"], empty) if row["scope"] == domain.VARIANTS else empty,
            product_ids=members.get(row["id"], empty) if row["scope"] == domain.PRODUCTS else empty,
            category_ids=(
                members.get(row["id"], empty) if row["scope"] == domain.CATEGORIES else empty
            ),
        )
        for row in rows
    ]


# --- coupons ------------------------------------------------------------------------


def coupon_check(*, code: str, customer_id: int | None, at: datetime) -> domain.CouponCheck:
    """Load a coupon by code (any case) with its uses; raise CouponNotFound if none has it."""
    normalized = domain.coupon_code_normalize(code)
    active_uses = Q(redemptions__released_at__isnull=True)
    by_customer = (
        Count("redemptions", filter=active_uses & Q(redemptions__customer_id=customer_id))
        if customer_id is not None
        else Value(0, output_field=IntegerField())
    )
    row = (
        Coupon.objects.filter(code=normalized)
        .annotate(used=Count("redemptions", filter=active_uses), used_by_customer=by_customer)
        .values(
            "code",
            "promotion_id",
            "is_active",
            "usage_limit",
            "usage_limit_per_customer",
            "used",
            "used_by_customer",
            "promotion__is_active",
            "promotion__starts_at",
            "promotion__ends_at",
        )
        .first()
    )
    if row is None:
        raise CouponNotFound(details={"coupon": code})
    problem = domain.coupon_problem(
        at=at,
        coupon_active=row["is_active"],
        promotion_active=row["promotion__is_active"],
        starts_at=row["promotion__starts_at"],
        ends_at=row["promotion__ends_at"],
        usage_limit=row["usage_limit"],
        used=row["used"],
        usage_limit_per_customer=row["usage_limit_per_customer"],
        used_by_customer=row["used_by_customer"],
        customer_id=customer_id,
    )
    return domain.CouponCheck(code=row["code"], promotion_id=row["promotion_id"], problem=problem)


# --- the quote ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VariantPricing:
    """A variant's facts the engine needs, with its base price in effect (None: no price)."""

    id: int
    sku: str
    product_id: int
    category_id: int
    vat_rate: Decimal
    sellable: bool  # the variant and its product are active
    price: Decimal | None
    currency: str | None  # of the default price list, when priced


_VARIANT_ROWS = Variant.objects.values_list(
    "id", "sku", "product_id", "product__category_id", "vat_rate", "is_active", "product__is_active"
)
_DEFAULT_LIST_PRICES = Price.objects.filter(
    price_list__is_default=True, price_list__is_active=True
).values_list("variant_id", "amount", "price_list__currency")


def variants_pricing(
    *, at: datetime, skus: Iterable[str] | None = None, ids: Iterable[int] | None = None
) -> list[VariantPricing]:
    """Variants by SKU or id with their default-list price in effect at `at`: two queries.

    Plain values, no model instances: this is the hot path of every quote and listing.
    """
    qs = _VARIANT_ROWS
    if skus is not None:
        qs = qs.filter(sku__in=set(skus))
    if ids is not None:
        qs = qs.filter(pk__in=set(ids))
    rows = list(qs)
    if not rows:
        return []
    prices = {
        variant_id: (amount, currency)
        for variant_id, amount, currency in _DEFAULT_LIST_PRICES.filter(
            _in_effect(at), variant_id__in=[row[0] for row in rows]
        )
    }
    result = []
    for pk, sku, product_id, category_id, vat, active, product_active in rows:
        amount, currency = prices.get(pk, (None, None))
        result.append(
            VariantPricing(
                id=pk,
                sku=sku,
                product_id=product_id,
                category_id=category_id,
                vat_rate=vat,
                sellable=active and product_active,
                price=amount,
                currency=currency,
            )
        )
    return result


def _customer_id(customer: Any) -> int | None:
    if customer is None or isinstance(customer, bool):
        return None
    if isinstance(customer, int):
        return customer
    pk = getattr(customer, "pk", None)
    return pk if isinstance(pk, int) else None


def _read_line(line: Any) -> tuple[Any, Any]:
    if isinstance(line, Mapping):
        return line.get("sku"), line.get("quantity")
    return getattr(line, "sku", None), getattr(line, "quantity", None)


def _valid_quantity(quantity: Any) -> bool:
    return (
        isinstance(quantity, int)
        and not isinstance(quantity, bool)
        and 1 <= quantity <= domain.MAX_QUANTITY
    )


def _category_paths(rules: list[domain.PromotionRule]) -> dict[int, list[int]]:
    # The tree is only read when a live promotion is scoped by category.
    if any(rule.scope == domain.CATEGORIES for rule in rules):
        return catalog_selectors.category_ancestor_map()
    return {}


def _item(
    variant: VariantPricing, quantity: int, paths: Mapping[int, list[int]]
) -> domain.BasketItem:
    return domain.BasketItem(
        sku=variant.sku,
        variant_id=variant.id,
        product_id=variant.product_id,
        category_path=tuple(paths.get(variant.category_id, (variant.category_id,))),
        quantity=quantity,
        unit_price=variant.price,
        vat_rate=variant.vat_rate,
    )


def _currency(variants: Iterable[VariantPricing]) -> str:
    for variant in variants:
        if variant.currency:
            return variant.currency
    default = price_list_default()
    return default.currency if default else settings.DEFAULT_CURRENCY


def quote(
    lines: Iterable[Any],
    *,
    customer: Any = None,
    coupon: str | None = None,
    at: datetime | None = None,
) -> domain.Quote:
    """Price a basket for every channel: the single entry point of the price engine.

    `lines`: objects or dicts with `sku` (str) and `quantity` (int, 1..10000), kept in
    their order (a SKU may appear twice). `customer`: a customer id, an object with `.pk`
    or None (only coupon limits per customer need it). `coupon`: a code in any case, or
    None/blank. `at`: the pricing instant (default now); the same input at the same
    instant always gives the same quote.

    Raises, listing every bad line in `details["lines"]`: InvalidQuantity (400) first,
    then UnknownSku, VariantInactive, NoPrice (422; the code of the first kind present).
    A code no coupon has raises CouponNotFound (422): a typo must be visible. A coupon
    that exists but cannot be used does not fail the quote: `quote.coupon` says
    not_applicable with the reason (inactive, not_started, expired, usage_limit_reached,
    customer_limit_reached, customer_required, not_in_basket, conditions_not_met,
    not_combinable, no_saving).

    Queries: variants with prices, live promotions, their scope members, the category
    tree (only with a category-scoped promotion), the coupon (only with a code).
    """
    at = at or timezone.now()
    requested = [_read_line(line) for line in lines]

    bad_quantities = [
        {"index": i, "sku": sku, "quantity": quantity, "code": InvalidQuantity.code}
        for i, (sku, quantity) in enumerate(requested)
        if not _valid_quantity(quantity)
    ]
    if bad_quantities:
        raise InvalidQuantity(details={"lines": bad_quantities, "max": domain.MAX_QUANTITY})

    skus = {sku for sku, _q in requested if isinstance(sku, str)}
    variants = {v.sku: v for v in variants_pricing(at=at, skus=skus)} if skus else {}

    problems: list[dict[str, Any]] = []
    for i, (sku, _quantity) in enumerate(requested):
        variant = variants.get(sku) if isinstance(sku, str) else None
        if variant is None:
            problems.append({"index": i, "sku": sku, "code": UnknownSku.code})
        elif not variant.sellable:
            problems.append({"index": i, "sku": sku, "code": VariantInactive.code})
        elif variant.price is None:
            problems.append({"index": i, "sku": sku, "code": NoPrice.code})
    if problems:
        for error in (UnknownSku, VariantInactive, NoPrice):
            if any(p["code"] == error.code for p in problems):
                raise error(details={"lines": problems})

    customer_id = _customer_id(customer)
    coupon_code = coupon.strip() if isinstance(coupon, str) else ""
    checked = (
        coupon_check(code=coupon_code, customer_id=customer_id, at=at) if coupon_code else None
    )

    rules = promotion_rules_live(at=at)
    paths = _category_paths(rules)
    items = [_item(variants[sku], quantity, paths) for sku, quantity in requested]
    currency = _currency(variants.values())
    return domain.price_basket(items, rules, currency=currency, coupon=checked, priced_at=at)


@dataclass(frozen=True)
class UnitPrice:
    """What one unit of a variant costs on its own now (catalog listings, price feeds).

    `status`: "priced", "no_price" or "inactive". `price` is the base price, `final`
    what the engine charges for a basket of just this one unit, without coupon: a
    promotion that needs more (buy N get M, a basket threshold) shows only when one unit
    already qualifies — exactly what the checkout would charge for it.
    """

    status: str
    currency: str
    price: Decimal | None = None
    final: Decimal | None = None
    discounts: tuple[domain.LineDiscount, ...] = ()


def unit_prices(*, variant_ids: Iterable[int], at: datetime | None = None) -> dict[int, UnitPrice]:
    """variant id → UnitPrice for many variants at once, in a constant number of queries.

    Each variant is priced by the same engine as `quote` (a one-unit basket), so a
    listing never disagrees with the checkout.
    """
    at = at or timezone.now()
    variants = variants_pricing(at=at, ids=variant_ids)
    if not variants:
        return {}
    currency = _currency(variants)
    rules = [rule for rule in promotion_rules_live(at=at) if not rule.requires_coupon]
    paths = _category_paths(rules)
    result: dict[int, UnitPrice] = {}
    for variant in variants:
        if not variant.sellable:
            result[variant.id] = UnitPrice(status="inactive", currency=currency)
            continue
        if variant.price is None:
            result[variant.id] = UnitPrice(status="no_price", currency=currency)
            continue
        priced = domain.price_basket(
            [_item(variant, 1, paths)], rules, currency=currency, priced_at=at
        )
        line = priced.lines[0]
        result[variant.id] = UnitPrice(
            status="priced",
            currency=currency,
            price=line.unit_price,
            final=line.line_total,
            discounts=line.discounts,
        )
    return result
