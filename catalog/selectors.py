"""Catalog reads: the category tree, product lists with their variants, barcode lookups.

Selectors own the prefetching so that a page of products costs a constant number of
queries however many products, variants and barcodes it holds.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet

from catalog.errors import BarcodeNotFound
from catalog.models import Barcode, Category, Product, Variant


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
        term = search.strip()
        qs = qs.filter(
            Q(name__icontains=term)
            | Q(brand__icontains=term)
            | Exists(Variant.objects.filter(product=OuterRef("pk"), sku__iexact=term))
            | Exists(Barcode.objects.filter(variant__product=OuterRef("pk"), code=term))
        )
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


@dataclass(frozen=True, slots=True)
class VariantRow:
    """A variant as the product API shows it, read as plain values (no model instance:
    a page of 50 products holds 150 variants and their barcodes)."""

    pk: int
    product_id: int
    sku: str
    name: str
    options: Any
    vat_rate: Decimal
    is_active: bool
    updated_at: datetime
    barcodes: tuple[str, ...]


_VARIANT_ROW_FIELDS = ("pk", "product_id", "sku", "name", "options", "vat_rate", "is_active")


def variant_rows(*, product_ids: Iterable[int]) -> dict[int, list[VariantRow]]:
    """product id → its variants in display order (position, id) with their barcodes, for
    any number of products in two queries."""
    ids = set(product_ids)
    result: dict[int, list[VariantRow]] = {pk: [] for pk in ids}
    if not ids:
        return result
    rows = list(
        Variant.objects.filter(product_id__in=ids)
        .order_by("position", "id")
        .values_list(*_VARIANT_ROW_FIELDS, "updated_at")
    )
    codes: dict[int, list[str]] = defaultdict(list)
    for variant_id, code in (
        Barcode.objects.filter(variant_id__in=[row[0] for row in rows])
        .order_by("id")
        .values_list("variant_id", "code")
    ):
        codes[variant_id].append(code)
    for pk, product_id, sku, name, options, vat_rate, is_active, updated_at in rows:
        result[product_id].append(
            VariantRow(
                pk=pk,
                product_id=product_id,
                sku=sku,
                name=name,
                options=options,
                vat_rate=vat_rate,
                is_active=is_active,
                updated_at=updated_at,
                barcodes=tuple(codes.get(pk, ())),
            )
        )
    return result
