"""Catalog writes: one function per operation, atomic, raising catalog domain errors.

The product's `updated_at` is bumped whenever one of its variants or barcodes changes, so
the `updated_since` feed (and POS terminals that pull it) see every change.
"""

from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from catalog.domain import InvalidBarcodeError, gtin_kind, is_valid_vat_rate
from catalog.errors import (
    CategoryCycle,
    DuplicateBarcode,
    DuplicateSku,
    InvalidBarcode,
    InvalidVatRate,
)
from catalog.models import Barcode, Category, Product, Variant
from catalog.selectors import category_descendant_ids


def _unique_slug(model, base: str, *, exclude_pk: int | None = None) -> str:
    base = slugify(base)[:180] or "item"
    slug, n = base, 1
    qs = model.objects.all()
    if exclude_pk:
        qs = qs.exclude(pk=exclude_pk)
    while qs.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def _vat(rate: Any) -> Decimal:
    try:
        value = Decimal(str(rate))
    except (InvalidOperation, ValueError) as exc:
        raise InvalidVatRate(details={"vat_rate": str(rate)}) from exc
    if not is_valid_vat_rate(value):
        raise InvalidVatRate(details={"vat_rate": str(rate)})
    return value


def barcode_validate(*, code: str) -> str:
    """Return the GTIN kind of a code or raise InvalidBarcode with the reason."""
    code = (code or "").strip()
    try:
        return gtin_kind(code)
    except InvalidBarcodeError as exc:
        raise InvalidBarcode(details={"barcode": code, "reason": str(exc)}) from exc


@transaction.atomic
def category_create(
    *, name: str, parent: Category | None = None, slug: str | None = None, position: int = 0
) -> Category:
    return Category.objects.create(
        name=name,
        parent=parent,
        slug=slug or _unique_slug(Category, f"{parent.slug}-{name}" if parent else name),
        position=position,
    )


@transaction.atomic
def category_move(*, category: Category, parent: Category | None) -> Category:
    """Re-parent a category; refuses to create a cycle."""
    if parent is not None and parent.pk in category_descendant_ids(category_id=category.pk):
        raise CategoryCycle(details={"category": category.pk, "parent": parent.pk})
    category.parent = parent
    category.save(update_fields=["parent"])
    return category


@transaction.atomic
def product_create(
    *,
    name: str,
    category: Category,
    brand: str = "",
    description: str = "",
    slug: str | None = None,
    is_active: bool = True,
) -> Product:
    return Product.objects.create(
        name=name,
        category=category,
        brand=brand,
        description=description,
        slug=slug or _unique_slug(Product, name),
        is_active=is_active,
    )


@transaction.atomic
def product_update(*, product: Product, **fields: Any) -> Product:
    allowed = {"name", "category", "brand", "description", "is_active"}
    unknown = set(fields) - allowed
    if unknown:
        raise TypeError(f"product_update does not change {sorted(unknown)}")
    for name, value in fields.items():
        setattr(product, name, value)
    product.save(update_fields=[*fields, "updated_at"])
    return product


def _touch_product(product_id: int) -> None:
    Product.objects.filter(pk=product_id).update(updated_at=timezone.now())


@transaction.atomic
def variant_create(
    *,
    product: Product,
    sku: str,
    vat_rate: Any,
    name: str = "",
    options: dict[str, str] | None = None,
    barcodes: list[str] | tuple[str, ...] = (),
    is_active: bool = True,
    position: int = 0,
) -> Variant:
    """Create a variant with its barcodes. Raises DuplicateSku, InvalidBarcode, DuplicateBarcode."""
    sku = sku.strip()
    if Variant.objects.filter(sku=sku).exists():
        raise DuplicateSku(details={"sku": sku})
    variant = Variant.objects.create(
        product=product,
        sku=sku,
        name=name,
        options=options or {},
        vat_rate=_vat(vat_rate),
        is_active=is_active,
        position=position,
    )
    for code in barcodes:
        barcode_add(variant=variant, code=code)
    _touch_product(product.pk)
    return variant


@transaction.atomic
def variant_update(*, variant: Variant, **fields: Any) -> Variant:
    allowed = {"name", "options", "vat_rate", "is_active", "position"}
    unknown = set(fields) - allowed
    if unknown:
        raise TypeError(f"variant_update does not change {sorted(unknown)}")
    if "vat_rate" in fields:
        fields["vat_rate"] = _vat(fields["vat_rate"])
    for name, value in fields.items():
        setattr(variant, name, value)
    variant.save(update_fields=[*fields, "updated_at"])
    _touch_product(variant.product_id)
    return variant


@transaction.atomic
def barcode_add(*, variant: Variant, code: str) -> Barcode:
    code = (code or "").strip()
    kind = barcode_validate(code=code)
    owner = Barcode.objects.filter(code=code).values_list("variant__sku", flat=True).first()
    if owner is not None:
        if owner == variant.sku:
            return Barcode.objects.get(code=code)
        raise DuplicateBarcode(details={"barcode": code, "sku": owner})
    barcode = Barcode.objects.create(variant=variant, code=code, kind=kind)
    _touch_product(variant.product_id)
    return barcode


@transaction.atomic
def barcode_remove(*, barcode: Barcode) -> None:
    product_id = barcode.variant.product_id
    barcode.delete()
    _touch_product(product_id)
