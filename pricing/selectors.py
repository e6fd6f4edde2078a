"""Pricing reads, and `quote`: the one function that prices anything in any channel.

`quote` loads what a basket needs in one query whatever its size (the variants with the
default price list's prices in effect, the promotion rules revision and, with a code, the
coupon and its uses) and hands plain values to
`pricing.domain.price_basket`. The live promotions with their scopes (category scopes
expanded down the tree) come from a per-process rule book, read again only when the
revision changed — in the same transaction as any write they depend on, so never stale
(see "the rule book" below). It never writes. Those reads are hand-written SQL, see
"the hot path" below.

"One price book": prices come from the single active default price list; there are no
per-channel prices or promotions. Promotion amounts are in that list's currency.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone

from catalog.models import Category, Product, Variant
from core.db import convert_rows, prepared_cursor
from pricing import domain
from pricing.errors import (
    CouponNotFound,
    InvalidQuantity,
    NoPrice,
    ShippingMethodUnknown,
    UnknownSku,
    VariantInactive,
)
from pricing.models import (
    Coupon,
    CouponRedemption,
    Price,
    PriceList,
    Promotion,
    RulesRevision,
    ShippingRate,
)

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


# --- the hot path: hand-written SQL --------------------------------------------------
#
# `quote` runs on every listing, cart and checkout, so its reads skip the ORM's query
# compiler (which cost more than the database itself) and make as few round trips as
# possible. The SQL is portable (SQLite and PostgreSQL, %s placeholders), parameters are
# adapted and results converted by the very field methods the ORM uses, so values are
# identical to what the equivalent querysets return.

_VARIANT = Variant._meta.db_table
_PRODUCT = Product._meta.db_table
_CATEGORY = Category._meta.db_table
_PRICE = Price._meta.db_table
_PRICE_LIST = PriceList._meta.db_table
_PROMOTION = Promotion._meta.db_table
_COUPON = Coupon._meta.db_table
_REDEMPTION = CouponRedemption._meta.db_table
_PROMOTION_VARIANTS = Promotion.variants.through._meta.db_table
_PROMOTION_PRODUCTS = Promotion.products.through._meta.db_table
_PROMOTION_CATEGORIES = Promotion.categories.through._meta.db_table
_REVISION = RulesRevision._meta.db_table


def _fetch(sql: str, params: Sequence[Any], *, prepared: bool = False) -> list[tuple]:
    # `prepared`: the statement of every quote, planned once per connection.
    with prepared_cursor() if prepared else connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _when(at: datetime) -> Any:
    """`at` as the database wants it, exactly as the ORM prepares a DateTimeField lookup."""
    return Promotion._meta.get_field("starts_at").get_db_prep_value(at, connection)


def _compact(sql: str) -> str:
    # One line, single spaces: shorter statements stay in psycopg's query cache.
    return " ".join(sql.split())


def _placeholders(count: int) -> str:
    return ", ".join(["%s"] * count)


# --- promotions as engine rules -----------------------------------------------------


# One query for the live promotions, their scope members and whether a coupon is needed.
# A category-scoped promotion is expanded here to its categories with all their
# sub-categories (a recursive walk down the tree), so the engine only needs each line's
# own category: "some ancestor-or-self of the line's category is listed" is the same as
# "the line's category is a listed category or below one".
def _rules_sql(vendor: str, *, book: bool = False) -> str:
    """The live promotions at an instant; with `book`, every active promotion not ended
    before an instant (the cached rule book, filtered by time in Python), each row with its
    window and the rules revision read in the same statement."""

    def members(column: str, table: str) -> str:
        # A scope's member ids as one value: an array on PostgreSQL, a comma-separated
        # string elsewhere (both parsed by `_member_ids`).
        if vendor == "postgresql":
            return f"ARRAY(SELECT m.{column} FROM {table} m WHERE m.promotion_id = live.id)"
        return f"(SELECT group_concat(m.{column}) FROM {table} m WHERE m.promotion_id = live.id)"

    window = (
        "(ends_at IS NULL OR ends_at > %s)"
        if book
        else "starts_at <= %s AND (ends_at IS NULL OR ends_at > %s)"
    )
    columns = f"""live.id, live.name, live.kind, live.scope, live.value, live.buy_quantity,
    live.get_quantity, live.threshold, live.priority, live.is_stackable,
    EXISTS (SELECT 1 FROM {_COUPON} cp WHERE cp.promotion_id = live.id),
    CASE live.scope
        WHEN '{domain.VARIANTS}' THEN {members("variant_id", _PROMOTION_VARIANTS)}
        WHEN '{domain.PRODUCTS}' THEN {members("product_id", _PROMOTION_PRODUCTS)}
        WHEN '{domain.CATEGORIES}' THEN {members("category_id", "tree")}
    END"""
    if book:
        # One row even without promotions: the revision the book was read at.
        select = f"""SELECT {columns}, live.starts_at, live.ends_at, revision.token
FROM (SELECT (SELECT token FROM {_REVISION} WHERE id = 1) AS token) revision
LEFT JOIN live ON 1 = 1"""
    else:
        select = f"SELECT {columns}\nFROM live"
    return f"""
WITH RECURSIVE live AS (
    SELECT id, name, kind, scope, value, buy_quantity, get_quantity, threshold, priority,
        is_stackable, starts_at, ends_at
    FROM {_PROMOTION}
    WHERE is_active = %s AND {window}
), tree(promotion_id, category_id) AS (
    SELECT m.promotion_id, m.category_id
    FROM {_PROMOTION_CATEGORIES} m JOIN live ON live.id = m.promotion_id
    WHERE live.scope = '{domain.CATEGORIES}'
    UNION
    SELECT tree.promotion_id, c.id
    FROM tree JOIN {_CATEGORY} c ON c.parent_id = tree.category_id
)
{select}
ORDER BY live.priority DESC, live.id
"""


_RULES_SQL = {vendor: _compact(_rules_sql(vendor)) for vendor in ("postgresql", "other")}
_BOOK_SQL = {vendor: _compact(_rules_sql(vendor, book=True)) for vendor in ("postgresql", "other")}
_RULE_FIELDS = [
    None,
    None,
    None,
    None,
    Promotion._meta.get_field("value"),
    None,
    None,
    Promotion._meta.get_field("threshold"),
    None,
    Promotion._meta.get_field("is_stackable"),
]


def _member_ids(raw: Any) -> frozenset[int]:
    if not raw:
        return frozenset()
    if isinstance(raw, str):
        return frozenset(int(part) for part in raw.split(","))
    return frozenset(raw)


_EMPTY: frozenset[int] = frozenset()
_BOOK_FIELDS = [
    *_RULE_FIELDS,
    None,
    None,
    Promotion._meta.get_field("starts_at"),
    Promotion._meta.get_field("ends_at"),
    None,
]


def _rule(row: Sequence[Any]) -> domain.PromotionRule:
    (
        pk,
        name,
        kind,
        scope,
        value,
        buy_quantity,
        get_quantity,
        threshold,
        priority,
        stackable,
        requires_coupon,
        members,
    ) = row[:12]
    ids = _member_ids(members)
    return domain.PromotionRule(
        id=pk,
        name=name,
        kind=kind,
        scope=scope,
        value=value,
        buy_quantity=buy_quantity,
        get_quantity=get_quantity,
        threshold=threshold,
        priority=priority,
        stackable=stackable,
        requires_coupon=bool(requires_coupon),
        variant_ids=ids if scope == domain.VARIANTS else _EMPTY,
        product_ids=ids if scope == domain.PRODUCTS else _EMPTY,
        category_ids=ids if scope == domain.CATEGORIES else _EMPTY,
    )


def promotion_rules_live(*, at: datetime) -> list[domain.PromotionRule]:
    """The live promotions as engine rules, highest priority first, in one query.

    A category-scoped rule lists its categories with all their sub-categories. Reads the
    database every time; the quote uses `promotion_rules_at`, which caches.
    """
    sql = _RULES_SQL.get(connection.vendor, _RULES_SQL["other"])
    when = _when(at)
    return [_rule(row) for row in convert_rows(_fetch(sql, [True, when, when]), _RULE_FIELDS)]


# --- the rule book: promotion rules cached per process, per revision ------------------
#
# The rules change only when a promotion, its scope, a coupon or the category tree
# changes, and every such write changes the revision token in its own transaction
# (database triggers, `pricing.models.RulesRevision`). So a process keeps the rules of
# one token: every active promotion not ended before the book was read, with its window.
# A quote reads the token in the same statement as its variants and uses the book only
# when the token matches; time is applied per quote (a promotion that starts or ends
# needs no write). An instant before the book's horizon is read from the database.

BOOK_HISTORY = timedelta(days=7)  # how far back from its reading a book serves instants
BOOK_INDEXES = 64  # sets of live promotions a book keeps an index of (quotes at odd instants)
_UNREAD = object()


@dataclass(frozen=True, slots=True)
class _RuleBook:
    token: Any
    database: str
    since: datetime
    entries: tuple[tuple[datetime, datetime | None, domain.PromotionRule], ...]
    # The engine's index of the rules live at an instant, by which entries are live: built
    # once per book and set of live promotions, not once per quote.
    indexes: dict[tuple[int, ...], domain.RuleIndex]

    def index_at(self, at: datetime) -> domain.RuleIndex:
        live = tuple(
            i
            for i, (starts_at, ends_at, _rule) in enumerate(self.entries)
            if starts_at <= at and (ends_at is None or ends_at > at)
        )
        index = self.indexes.get(live)
        if index is None:
            if len(self.indexes) >= BOOK_INDEXES:
                self.indexes.clear()
            index = domain.rule_index(self.entries[i][2] for i in live)
            self.indexes[live] = index
        return index


_book: _RuleBook | None = None


def _book_read(now: datetime) -> _RuleBook:
    """Read the rule book and the revision token in one statement."""
    since = now - BOOK_HISTORY
    sql = _BOOK_SQL.get(connection.vendor, _BOOK_SQL["other"])
    rows = convert_rows(_fetch(sql, [True, _when(since)]), _BOOK_FIELDS)
    token = rows[0][-1] if rows else None
    entries = tuple((row[12], row[13], _rule(row)) for row in rows if row[0] is not None)
    database = connection.settings_dict["NAME"]
    return _RuleBook(token=token, database=database, since=since, entries=entries, indexes={})


def rules_revision() -> Any:
    """The current rules revision token (None before the first write ever)."""
    rows = _fetch(f"SELECT token FROM {_REVISION} WHERE id = 1", [])
    return rows[0][0] if rows else None


def promotion_rules_at(*, at: datetime, token: Any = _UNREAD) -> list[domain.PromotionRule]:
    """The rules live at `at`, as `promotion_rules_live` returns them, from the cached rule
    book when `token` (the revision read in the caller's statement; read here when not
    given) is the book's. No query on a hit."""
    return _rules_at(at=at, token=token)[0]


def _rules_at(*, at: datetime, token: Any) -> tuple[list[domain.PromotionRule], Any]:
    """`promotion_rules_at` and the revision token the rules are of."""
    index, token = _rule_index_at(at=at, token=token)
    return list(index.rules), token


def _rule_index_at(*, at: datetime, token: Any) -> tuple[domain.RuleIndex, Any]:
    """The engine's index of the rules `promotion_rules_at` returns, and their token."""
    global _book
    if token is _UNREAD:
        token = rules_revision()
    book = _book
    database = connection.settings_dict["NAME"]
    if book is None or book.token != token or book.database != database or at < book.since:
        # Read at this moment: if a write committed since the caller's statement, the
        # book holds the newer rules under the newer token, as a fresh read would.
        _book = book = _book_read(timezone.now())
        if at < book.since:
            return domain.rule_index(promotion_rules_live(at=at)), book.token
    return book.index_at(at), book.token


def rules_cache_clear() -> None:
    """Forget the cached rule book and unit prices (tests, benchmarks of the cold path)."""
    global _book
    _book = None
    _unit_cache.clear()
    _listing_indexes.clear()


# --- coupons ------------------------------------------------------------------------

# The coupon, its promotion's window and its live use counts, in one query. A NULL
# customer matches no use, so the per-customer count is 0 without one.
_COUPON_SQL = f"""
SELECT c.code, c.promotion_id, c.is_active, c.usage_limit, c.usage_limit_per_customer,
    (SELECT COUNT(*) FROM {_REDEMPTION} r
        WHERE r.coupon_id = c.id AND r.released_at IS NULL),
    (SELECT COUNT(*) FROM {_REDEMPTION} r
        WHERE r.coupon_id = c.id AND r.released_at IS NULL AND r.customer_id = %s),
    p.is_active, p.starts_at, p.ends_at
FROM {_COUPON} c JOIN {_PROMOTION} p ON p.id = c.promotion_id
WHERE c.code = %s
"""
_COUPON_SQL = _compact(_COUPON_SQL)
_COUPON_FIELDS = [
    None,
    None,
    Coupon._meta.get_field("is_active"),
    None,
    None,
    None,
    None,
    Promotion._meta.get_field("is_active"),
    Promotion._meta.get_field("starts_at"),
    Promotion._meta.get_field("ends_at"),
]


def coupon_check(*, code: str, customer_id: int | None, at: datetime) -> domain.CouponCheck:
    """Load a coupon by code (any case) with its uses; raise CouponNotFound if none has it."""
    normalized = domain.coupon_code_normalize(code)
    rows = convert_rows(_fetch(_COUPON_SQL, [customer_id, normalized]), _COUPON_FIELDS)
    return _coupon_checked(code=code, customer_id=customer_id, at=at, row=rows[0] if rows else None)


def _coupon_checked(
    *, code: str, customer_id: int | None, at: datetime, row: Sequence[Any] | None
) -> domain.CouponCheck:
    """The check of a coupon row read by `_COUPON_SQL` (None: no coupon has the code)."""
    if row is None or row[0] is None:
        raise CouponNotFound(details={"coupon": code})
    (
        stored_code,
        promotion_id,
        active,
        usage_limit,
        usage_limit_per_customer,
        used,
        used_by_customer,
        promotion_active,
        starts_at,
        ends_at,
    ) = row
    problem = domain.coupon_problem(
        at=at,
        coupon_active=active,
        promotion_active=promotion_active,
        starts_at=starts_at,
        ends_at=ends_at,
        usage_limit=usage_limit,
        used=used,
        usage_limit_per_customer=usage_limit_per_customer,
        used_by_customer=used_by_customer,
        customer_id=customer_id,
    )
    return domain.CouponCheck(code=stored_code, promotion_id=promotion_id, problem=problem)


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


# Variants with their product's facts and the default list's price in effect, in one
# query. The price is a correlated lookup per variant (an index probe on price list,
# variant, valid_from) so the plan stays the same however many prices the book holds; at
# most one price is in effect per variant and list (the price book's rule), the newest
# start would win otherwise. What is the same for every variant (the list's currency, the
# rules revision and, with a code, the coupon with its uses: at most one, codes are
# unique) comes once, in a first row with no variant: one round trip for the whole quote,
# and the coupon's times are read once, not once per line.
def _variants_sql(*, coupon: bool) -> str:
    # Columns: the variant's 8 (id first), the currency, the revision token, the coupon's.
    coupon_cte = f", cp AS ({_COUPON_SQL})" if coupon else ""
    head_coupon = ", cp.* FROM (SELECT 1 AS one) head LEFT JOIN cp ON 1 = 1" if coupon else ""
    tail_nulls = _nulls(2 + (len(_COUPON_FIELDS) if coupon else 0))
    return _compact(
        f"""
WITH book AS (
    SELECT l.id, l.currency FROM {_PRICE_LIST} l WHERE l.is_default = %s AND l.is_active = %s
){coupon_cte}
SELECT {_nulls(8)}, (SELECT currency FROM book),
    (SELECT token FROM {_REVISION} WHERE id = 1){head_coupon}
UNION ALL
SELECT v.id, v.sku, v.product_id, p.category_id, v.vat_rate, v.is_active, p.is_active,
    (SELECT pr.amount FROM {_PRICE} pr
        WHERE pr.price_list_id = (SELECT id FROM book) AND pr.variant_id = v.id
            AND pr.valid_from <= %s AND (pr.valid_until IS NULL OR pr.valid_until > %s)
        ORDER BY pr.valid_from DESC LIMIT 1),
    {tail_nulls}
FROM {_VARIANT} v JOIN {_PRODUCT} p ON p.id = v.product_id
WHERE {{where}}
"""
    )


def _nulls(count: int) -> str:
    return ", ".join(["NULL"] * count)


_VARIANTS_SQL = _variants_sql(coupon=False)
_VARIANTS_COUPON_SQL = _variants_sql(coupon=True)
_VARIANT_FIELDS = [
    None,
    None,
    None,
    None,
    Variant._meta.get_field("vat_rate"),
    Variant._meta.get_field("is_active"),
    Product._meta.get_field("is_active"),
    Price._meta.get_field("amount"),
    None,
    None,
]


def variants_pricing(
    *, at: datetime, skus: Iterable[str] | None = None, ids: Iterable[int] | None = None
) -> list[VariantPricing]:
    """Variants by SKU or id with their default-list price in effect at `at`: one query.

    Plain values, no model instances: this is the hot path of every quote and listing.
    """
    return _variants_pricing(at=at, skus=skus, ids=ids)[0]


def _variants_pricing(
    *,
    at: datetime,
    skus: Iterable[str] | None = None,
    ids: Iterable[int] | None = None,
    coupon: tuple[str, int | None] | None = None,
) -> tuple[list[VariantPricing], Any, Any]:
    """`variants_pricing`, the rules revision token read in the same statement (`_UNREAD`
    when nothing was read: no SKU or id asked for) and, for `coupon` = (normalized code,
    customer id), the coupon's row as `_COUPON_SQL` reads it (its code None: no such code;
    `_UNREAD`: not read)."""
    params: list[Any] = [True, True]
    if coupon is not None:
        params += [coupon[1], coupon[0]]
    params += [_when(at), _when(at)]
    where = ["1 = 1"]
    for column, values in (("v.sku", skus), ("v.id", ids)):
        if values is None:
            continue
        values = list(set(values))
        if not values:
            return [], _UNREAD, _UNREAD
        if connection.vendor == "postgresql":
            # One array parameter: the same statement text for any basket, planned faster
            # than a list of literals.
            where.append(f"{column} = ANY(%s)")
            params.append(values)
        else:
            where.append(f"{column} IN ({_placeholders(len(values))})")
            params.extend(values)
    sql = (_VARIANTS_SQL if coupon is None else _VARIANTS_COUPON_SQL).format(
        where=" AND ".join(where)
    )
    fields = _VARIANT_FIELDS if coupon is None else _VARIANT_FIELDS + _COUPON_FIELDS
    rows = convert_rows(_fetch(sql, params, prepared=True), fields)
    head = next(row for row in rows if row[0] is None)
    currency, token = head[8], head[9]
    variants = []
    for row in rows:
        pk, sku, product_id, category_id, vat, active, product_active, amount = row[:8]
        if pk is None:
            continue
        variants.append(
            VariantPricing(
                id=pk,
                sku=sku,
                product_id=product_id,
                category_id=category_id,
                vat_rate=vat,
                sellable=active and product_active,
                price=amount,
                currency=currency if amount is not None else None,
            )
        )
    return variants, token, head[10:] if coupon is not None else _UNREAD


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


def _item(variant: VariantPricing, quantity: int) -> domain.BasketItem:
    # The line's own category is enough: category-scoped rules list every sub-category.
    return domain.BasketItem(
        sku=variant.sku,
        variant_id=variant.id,
        product_id=variant.product_id,
        category_path=(variant.category_id,),
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
    delivery: bool = False,
    shipping_method: str | None = None,
) -> domain.Quote:
    """Price a basket for every channel: the single entry point of the price engine.

    With `delivery`, the delivery fee of `shipping_method` (a `ShippingRate` code; blank:
    the first active rate) is added (`domain.with_shipping`): to the total and the VAT, not
    to the lines. No active rate at all: no fee. An unknown or inactive method raises
    ShippingMethodUnknown (422). One more query, never cached (see `ShippingRate`).

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

    Queries: one — the variants with their prices, the rules revision and the coupon with
    its uses (with a code) — for 1 or 1,000 lines; plus the promotions with their scopes
    when the rules changed since this process last read them.
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
    customer_id = _customer_id(customer)
    coupon_code = coupon.strip() if isinstance(coupon, str) else ""
    wanted = (domain.coupon_code_normalize(coupon_code), customer_id) if coupon_code else None
    found, token, coupon_row = (
        _variants_pricing(at=at, skus=skus, coupon=wanted) if skus else ([], _UNREAD, _UNREAD)
    )
    variants = {v.sku: v for v in found}

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

    checked = None
    if coupon_code and coupon_row is _UNREAD:
        checked = coupon_check(code=coupon_code, customer_id=customer_id, at=at)
    elif coupon_code:
        checked = _coupon_checked(code=coupon_code, customer_id=customer_id, at=at, row=coupon_row)

    rules, _token = _rule_index_at(at=at, token=token)
    items = [_item(variants[sku], quantity) for sku, quantity in requested]
    currency = _currency(variants.values())
    priced = domain.price_basket(items, rules, currency=currency, coupon=checked, priced_at=at)
    if delivery:
        rule = shipping_rule(method=shipping_method)
        if rule is not None:
            charge = domain.shipping_charge(rule, goods_total=priced.total, currency=currency)
            priced = domain.with_shipping(priced, charge)
    return priced


def shipping_rates() -> list[ShippingRate]:
    """The active delivery methods, the default (first) first."""
    return list(ShippingRate.objects.filter(is_active=True).order_by("position", "code"))


def shipping_rule(*, method: str | None) -> domain.ShippingRule | None:
    """The rate of `method`, or of the default method when blank; None when head office
    has set no active rate (deliveries are then free). ShippingMethodUnknown (422) for a
    code no active rate has. One query."""
    code = (method or "").strip().lower()
    rates = ShippingRate.objects.filter(is_active=True).order_by("position", "code")
    rate = rates.filter(code=code).first() if code else rates.first()
    if rate is None:
        if code:
            raise ShippingMethodUnknown(details={"shipping_method": code})
        return None
    return domain.ShippingRule(
        code=rate.code,
        name=rate.name,
        price=rate.price,
        free_above=rate.free_above,
        vat_rate=rate.vat_rate,
    )


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


UNIT_CACHE_SIZE = 20_000
_unit_cache: dict[tuple, UnitPrice] = {}
_listing_indexes: dict[tuple, domain.RuleIndex] = {}


def _listing_index(
    token: Any, database: str, live: Sequence[domain.PromotionRule]
) -> domain.RuleIndex:
    """The coupon-free rules of `live` indexed by what they cover, built once per rule set:
    the rules live under one revision token change only when a promotion starts or ends."""
    key = (token, database, *(rule.id for rule in live))
    index = _listing_indexes.get(key)
    if index is None:
        if len(_listing_indexes) >= 16:
            _listing_indexes.clear()
        rules = [rule for rule in live if not rule.requires_coupon]
        index = _listing_indexes[key] = domain.rule_index(rules)
    return index


def unit_prices(*, variant_ids: Iterable[int], at: datetime | None = None) -> dict[int, UnitPrice]:
    """variant id → UnitPrice for many variants at once, in a constant number of queries.

    Each variant is priced by the same engine as `quote` (a one-unit basket), so a
    listing never disagrees with the checkout.
    """
    at = at or timezone.now()
    variants, token, _coupon = _variants_pricing(at=at, ids=variant_ids)
    if not variants:
        return {}
    currency = _currency(variants)
    live, token = _rules_at(at=at, token=token)
    database = connection.settings_dict["NAME"]
    index = _listing_index(token, database, live)
    result: dict[int, UnitPrice] = {}
    for variant in variants:
        if not variant.sellable:
            result[variant.id] = UnitPrice(status="inactive", currency=currency)
            continue
        if variant.price is None:
            result[variant.id] = UnitPrice(status="no_price", currency=currency)
            continue
        # Only the rules that cover the variant can change a one-unit basket of it; the
        # others would each be tried and skipped (a page prices 150 variants).
        item = _item(variant, 1)
        mine = index.covering(item)
        # What the engine charges depends on nothing else than these rules (fixed under
        # one revision token), the price and the VAT rate: many variants of a page share
        # them, and the next page of the same shop does too.
        key = (token, database, currency, variant.price, variant.vat_rate, *(r.id for r in mine))
        unit = _unit_cache.get(key)
        if unit is None:
            priced = domain.price_basket([item], mine, currency=currency, priced_at=at)
            line = priced.lines[0]
            unit = UnitPrice(
                status="priced",
                currency=currency,
                price=line.unit_price,
                final=line.line_total,
                discounts=line.discounts,
            )
            if len(_unit_cache) >= UNIT_CACHE_SIZE:
                _unit_cache.clear()
            _unit_cache[key] = unit
        result[variant.id] = unit
    return result


# --- feeds --------------------------------------------------------------------------


def prices_upcoming(*, variant_ids: Iterable[int], at: datetime | None = None) -> dict[int, list]:
    """variant id → the default price list's prices not ended at `at` (the one in effect,
    with its end, and those starting later), earliest first: a till that sells offline
    switches from one to the next itself when their time comes."""
    at = at or timezone.now()
    price_list = price_list_default()
    if price_list is None:
        return {}
    result: dict[int, list] = {}
    rows = (
        Price.objects.filter(price_list=price_list, variant_id__in=set(variant_ids))
        .filter(Q(valid_until__isnull=True) | Q(valid_until__gt=at))
        .order_by("variant_id", "valid_from")
    )
    for price in rows:
        result.setdefault(price.variant_id, []).append(price)
    return result


def promotion_ids_after(*, after: int, limit: int, at: datetime | None = None) -> list[int]:
    """Ids of promotions that are or will be live (active, not ended), above `after`."""
    at = at or timezone.now()
    return list(
        Promotion.objects.filter(pk__gt=after, is_active=True)
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=at))
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )


def promotions_for_feed(*, ids: Iterable[int]) -> dict[int, Promotion]:
    """Promotions by id with their scopes and coupons (codes included: for terminals only)."""
    return {
        p.pk: p
        for p in Promotion.objects.filter(pk__in=set(ids)).prefetch_related(
            Prefetch("variants", queryset=Variant.objects.only("id")),
            Prefetch("products", queryset=Product.objects.only("id")),
            Prefetch("categories", queryset=Category.objects.only("id")),
            "coupons",
        )
    }


def currency_default() -> str:
    """The currency every channel sells in: the default price list's."""
    default = price_list_default()
    return default.currency if default else settings.DEFAULT_CURRENCY


@dataclass(frozen=True)
class BasketRequest:
    """One basket to price at its own instant (a till sale at the time it happened)."""

    lines: tuple[tuple[str, int], ...]  # (sku, quantity)
    at: datetime
    customer_id: int | None = None
    coupon: str = ""


def _pricing_boundaries(start: datetime, end: datetime) -> list[datetime]:
    """Instants in (start, end] where a price or promotion starts or ends."""
    instants: set[datetime] = set()
    for field in ("valid_from", "valid_until"):
        instants.update(
            Price.objects.filter(**{f"{field}__gt": start, f"{field}__lte": end}).values_list(
                field, flat=True
            )
        )
    for field in ("starts_at", "ends_at"):
        instants.update(
            Promotion.objects.filter(**{f"{field}__gt": start, f"{field}__lte": end}).values_list(
                field, flat=True
            )
        )
    return sorted(instants)


def quote_many(requests: Sequence[BasketRequest]) -> list[domain.Quote | None]:
    """Price many baskets, each at its own instant, with the engine of `quote`.

    The price book and promotions are read once per stretch of time in which nothing
    starts or ends (usually one for a till's batch), not once per basket; each basket is
    then priced in pure code. A basket the engine cannot price (unknown or unpriced SKU)
    gives None. Coupons are checked per basket.
    """
    if not requests:
        return []
    start = min(r.at for r in requests)
    boundaries = _pricing_boundaries(start, max(r.at for r in requests))

    def stretch(at: datetime) -> int:
        return sum(1 for b in boundaries if b <= at)

    groups: dict[int, list[int]] = {}
    for index, request in enumerate(requests):
        groups.setdefault(stretch(request.at), []).append(index)
    results: list[domain.Quote | None] = [None] * len(requests)
    for indexes in groups.values():
        at = min(requests[i].at for i in indexes)
        skus = {sku for i in indexes for sku, _q in requests[i].lines}
        found, token, _coupon = _variants_pricing(at=at, skus=skus)
        variants = {v.sku: v for v in found}
        rules = promotion_rules_at(at=at, token=token)
        currency = _currency(variants.values())
        for i in indexes:
            request = requests[i]
            if any(
                (v := variants.get(sku)) is None or not v.sellable or v.price is None
                for sku, _q in request.lines
            ):
                continue
            checked = None
            if request.coupon:
                try:
                    checked = coupon_check(
                        code=request.coupon, customer_id=request.customer_id, at=request.at
                    )
                except CouponNotFound:
                    checked = None  # the till's typo: priced without it
            items = [_item(variants[sku], quantity) for sku, quantity in request.lines]
            results[i] = domain.price_basket(
                items, rules, currency=currency, coupon=checked, priced_at=request.at
            )
    return results
