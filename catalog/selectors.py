"""Catalog reads: the category tree, product lists with their variants, barcode lookups.

Selectors own the prefetching so that a page of products costs a constant number of
queries however many products, variants and barcodes it holds.
"""

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet

from catalog.errors import BarcodeNotFound
from catalog.models import Barcode, CatalogRevision, Category, Product, Variant
from core.db import any_of, select_rows


def category_list() -> QuerySet[Category]:
    return Category.objects.all().order_by("parent_id", "position", "name")


def category_descendant_ids(*, category_id: int) -> set[int]:
    """The category and every category below it (one query: the whole tree is small)."""
    children: dict[int | None, list[int]] = defaultdict(list)
    for pk, parent_id in Category.objects.values_list("id", "parent_id"):
        children[parent_id].append(pk)
    found, stack = set(), [category_id]
    while stack:
        current = stack.pop()
        if current in found:
            continue
        found.add(current)
        stack.extend(children.get(current, ()))
    return found


def category_ancestor_map() -> dict[int, list[int]]:
    """For every category id, its own id followed by its ancestors' ids up to the root."""
    parents = dict(Category.objects.values_list("id", "parent_id"))
    result: dict[int, list[int]] = {}
    for pk in parents:
        chain, current, seen = [], pk, set()
        while current is not None and current not in seen:
            seen.add(current)
            chain.append(current)
            current = parents.get(current)
        result[pk] = chain
    return result


def _variants_prefetch(active_only: bool = False) -> Prefetch:
    variants = Variant.objects.prefetch_related("barcodes").order_by("position", "id")
    if active_only:
        variants = variants.filter(is_active=True)
    return Prefetch("variants", queryset=variants)


def variant_vat_rates() -> list:
    """The VAT rates variants carry, in order (for the admin's filter).

    On PostgreSQL a loose index scan: one probe of `variant_vat_rate_idx` per rate
    instead of reading 100,000 variants to find the two or three rates they use.
    """
    if connection.vendor != "postgresql":
        return list(
            Variant.objects.order_by("vat_rate").values_list("vat_rate", flat=True).distinct()
        )
    table = Variant._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH RECURSIVE rates(rate) AS (
                (SELECT vat_rate FROM {table} ORDER BY vat_rate LIMIT 1)
                UNION ALL
                SELECT (
                    SELECT vat_rate FROM {table} WHERE vat_rate > rates.rate
                    ORDER BY vat_rate LIMIT 1
                )
                FROM rates WHERE rates.rate IS NOT NULL
            )
            SELECT rate FROM rates WHERE rate IS NOT NULL
            """
        )
        return [rate for (rate,) in cursor.fetchall()]


def product_ids_by_code(*, term: str) -> list[int]:
    """Products holding a variant whose SKU is `term` (any case) or a barcode equal to it.

    Two indexed equality lookups (`variant_sku_upper_idx`, the barcode's unique index) in
    one query, run before the product list so that the list's condition carries plain ids.
    """
    skus = Variant.objects.filter(sku__iexact=term).order_by().values_list("product_id")
    codes = Barcode.objects.filter(code=term).order_by().values_list("variant__product_id")
    return sorted({pk for (pk,) in skus.union(codes)})


def product_search_condition(*, term: str) -> Q:
    """What `?search=` matches: a part of the product's name or brand (any case), its exact
    SKU (any case) or barcode.

    The exact codes are looked up first (one query) and enter the condition as ids: an OR
    of `pk IN (…)` and the two `icontains` lets PostgreSQL combine three index scans (the
    primary key and the trigram indexes of migration catalog 0002 on `UPPER(name)` and
    `UPPER(brand)`, the expressions Django's `icontains` compiles to), where an OR with
    `EXISTS` subqueries read every product and variant. Other databases compare the same
    way without the indexes.
    """
    term = term.strip()
    condition = Q(name__icontains=term) | Q(brand__icontains=term)
    ids = product_ids_by_code(term=term) if term else []
    if ids:
        condition |= Q(pk__in=ids)
    return condition


def variant_ids_containing(*, text: str) -> QuerySet:
    """Ids of the variants whose SKU, name or product name holds `text` (any case), or one
    of whose barcodes holds it (a scanned code, or the digits still readable on it).

    A subquery for `pk__in`/`variant_id__in`: a UNION of one lookup per column, each served
    by its own trigram index on PostgreSQL, where an OR across the joined tables read every
    variant, product and barcode and then had to drop the duplicates the join made.
    """
    term = text.strip()
    return (
        Variant.objects.filter(sku__icontains=term)
        .order_by()
        .values("pk")
        .union(
            Variant.objects.filter(name__icontains=term).order_by().values("pk"),
            Variant.objects.filter(product__name__icontains=term).order_by().values("pk"),
            Barcode.objects.filter(code__contains=term).order_by().values("variant_id"),
        )
    )


def product_ids_containing(*, text: str) -> QuerySet:
    """Ids of the products whose name or brand holds `text` (any case), or with a variant
    whose SKU or barcode holds it: a UNION of indexed lookups, as `variant_ids_containing`."""
    term = text.strip()
    return (
        Product.objects.filter(Q(name__icontains=term) | Q(brand__icontains=term))
        .order_by()
        .values("pk")
        .union(
            Variant.objects.filter(sku__icontains=term).order_by().values("product_id"),
            Barcode.objects.filter(code__contains=term).order_by().values("variant__product_id"),
        )
    )


def barcode_ids_containing(*, text: str) -> QuerySet:
    """Ids of the barcodes that hold `text`, or of a variant whose SKU holds it (any case)."""
    term = text.strip()
    return (
        Barcode.objects.filter(code__contains=term)
        .order_by()
        .values("pk")
        .union(Barcode.objects.filter(variant__sku__icontains=term).order_by().values("pk"))
    )


def product_list(
    *,
    category_id: int | None = None,
    search: str | None = None,
    barcode: str | None = None,
    is_active: bool | None = None,
    updated_since: datetime | None = None,
) -> QuerySet[Product]:
    """Products with their variants and barcodes prefetched, filtered as the API allows."""
    qs = Product.objects.select_related("category").prefetch_related(_variants_prefetch())
    if category_id is not None:
        qs = qs.filter(category_id__in=category_descendant_ids(category_id=category_id))
    if search:
        qs = qs.filter(product_search_condition(term=search))
    if barcode:
        qs = qs.filter(
            Exists(Barcode.objects.filter(variant__product=OuterRef("pk"), code=barcode.strip()))
        )
    if is_active is not None:
        qs = qs.filter(is_active=is_active)
    if updated_since is not None:
        qs = qs.filter(updated_at__gte=updated_since)
    return qs


def product_get(*, product_id: int) -> Product:
    return product_list().get(pk=product_id)


def variant_get_by_barcode(*, code: str) -> Variant:
    variant = (
        Variant.objects.select_related("product", "product__category")
        .prefetch_related("barcodes")
        .filter(barcodes__code=code.strip())
        .first()
    )
    if variant is None:
        raise BarcodeNotFound(details={"barcode": code})
    return variant


def variants_by_sku(*, skus: Iterable[str]) -> dict[str, Variant]:
    """SKU → variant (with product) for the given SKUs, in one query; unknown SKUs are absent."""
    qs = Variant.objects.select_related("product").filter(sku__in=set(skus))
    return {v.sku: v for v in qs}


def variants_by_id(*, ids: Iterable[int]) -> dict[int, Variant]:
    qs = Variant.objects.select_related("product").filter(pk__in=set(ids))
    return {v.pk: v for v in qs}


def variant_ids_after(*, after: int, limit: int) -> list[int]:
    """Ids of sellable variants (active, of an active product) above `after`, in id order."""
    return list(
        Variant.objects.filter(pk__gt=after, is_active=True, product__is_active=True)
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )


def variants_for_feed(*, ids: Iterable[int]) -> dict[int, Variant]:
    """Variants by id with product and barcodes, for feeds (inactive ones included)."""
    return {
        v.pk: v
        for v in Variant.objects.filter(pk__in=set(ids))
        .select_related("product")
        .prefetch_related("barcodes")
    }


def variants_by_barcode(*, codes: Iterable[str]) -> dict[str, Variant]:
    """Barcode → variant (with product) for the given codes, in one query."""
    barcodes = Barcode.objects.select_related("variant__product").filter(code__in=set(codes))
    return {b.code: b.variant for b in barcodes}


# --- the product API's variants, as plain values ----------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class VariantRow:
    """A variant as the product API shows it, read as plain values (no model instance:
    a page of 50 products holds 150 variants and their barcodes).

    Compared and hashed by identity: a row read once is shared by the requests that show
    it while the catalog is unchanged (`variant_rows`), and what is made from it can be
    kept by it (`catalog.api.serializers.variant_data`).
    """

    pk: int
    product_id: int
    sku: str
    name: str
    options: Any
    vat_rate: Decimal
    is_active: bool
    updated_at: datetime
    barcodes: tuple[str, ...]


_VARIANT = Variant._meta.db_table
_BARCODE = Barcode._meta.db_table
_REVISION = CatalogRevision._meta.db_table


def _variant_rows_sql(vendor: str, wanted: str, missing: str) -> str:
    """The catalog revision token, and the variants of the `wanted` products that are
    `missing` from the cache or all of them when the token is not the cache's (%s), in
    one statement: one row even without variants, for the token."""
    # A variant's barcodes in id order as one value: an array on PostgreSQL, a JSON array
    # elsewhere (the inner ORDER BY sets the order SQLite aggregates in).
    if vendor == "postgresql":
        codes = f"ARRAY(SELECT b.code FROM {_BARCODE} b WHERE b.variant_id = v.id ORDER BY b.id)"
    else:
        codes = (
            f"(SELECT json_group_array(code) FROM (SELECT b.code FROM {_BARCODE} b "
            "WHERE b.variant_id = v.id ORDER BY b.id))"
        )
    return (
        "SELECT revision.token, v.id, v.product_id, v.sku, v.name, v.options, v.vat_rate, "
        f"v.is_active, v.updated_at, {codes} "
        f"FROM (SELECT (SELECT token FROM {_REVISION} WHERE id = 1) AS token) revision "
        f"LEFT JOIN {_VARIANT} v ON {wanted} "
        f"AND ({missing} OR revision.token IS NULL OR revision.token <> %s) "
        "ORDER BY v.position, v.id"
    )


_VARIANT_ROW_FIELDS = [
    None,
    None,
    None,
    None,
    None,
    Variant._meta.get_field("options"),
    Variant._meta.get_field("vat_rate"),
    Variant._meta.get_field("is_active"),
    Variant._meta.get_field("updated_at"),
    None,
]


@dataclass(frozen=True, slots=True)
class _RowsCache:
    """The variants read under one catalog revision token, by product id."""

    token: Any
    database: str
    products: dict[int, tuple[VariantRow, ...]]


ROWS_CACHE_SIZE = 20_000  # products
_rows_cache: _RowsCache | None = None


def variant_rows_cache_clear() -> None:
    """Forget the variants read (tests, benchmarks of the cold path)."""
    global _rows_cache
    _rows_cache = None


def variant_rows(*, product_ids: Iterable[int]) -> dict[int, list[VariantRow]]:
    """product id → its variants in display order (position, id) with their barcodes (in
    id order), for any number of products in one query.

    The variants are kept per process under the catalog revision token
    (`catalog.models.CatalogRevision`), which every write to a variant or barcode changes
    in its own transaction. The statement reads the token and the variants of the products
    not kept — of all of them when the token is not the kept one — so what it returns is
    always what the database holds at that statement: a stale variant is impossible, and
    a page read before costs one short statement. Hand-written SQL converted by the ORM's
    own field converters (`core.db.select_rows`). The rows are shared between requests:
    never change them.
    """
    global _rows_cache
    ids = sorted(set(product_ids))
    if not ids:
        return {}
    database = connection.settings_dict["NAME"]
    cache = _rows_cache
    if cache is None or cache.database != database or cache.token is None:
        cache = None
    kept = cache.products if cache is not None else {}
    missing_ids = [pk for pk in ids if pk not in kept]
    wanted, params = any_of("v.product_id", ids)
    missing, missing_params = any_of("v.product_id", missing_ids)
    params += missing_params
    params.append(cache.token if cache is not None else 0)
    sql = _variant_rows_sql(connection.vendor, wanted, missing)
    rows = select_rows(sql, params, _VARIANT_ROW_FIELDS)
    token = rows[0][0]
    fresh = cache is None or token != cache.token
    if fresh:
        missing_ids = ids
        cache = _RowsCache(token=token, database=database, products={})
        _rows_cache = cache
    read: dict[int, list[VariantRow]] = {pk: [] for pk in missing_ids}
    as_list = connection.vendor != "postgresql"
    for _token, pk, product_id, sku, name, options, vat, active, updated_at, codes in rows:
        if pk is None:
            continue  # no variant: the row of the token alone
        if as_list:
            codes = json.loads(codes) if codes else ()
        read[product_id].append(
            VariantRow(
                pk=pk,
                product_id=product_id,
                sku=sku,
                name=name,
                options=options,
                vat_rate=vat,
                is_active=active,
                updated_at=updated_at,
                barcodes=tuple(codes),
            )
        )
    if token is not None:
        if len(cache.products) + len(read) > ROWS_CACHE_SIZE:
            cache.products.clear()
        cache.products.update((pk, tuple(variants)) for pk, variants in read.items())
    return {pk: read[pk] if pk in read else list(kept[pk]) for pk in ids}
