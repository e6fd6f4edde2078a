"""Catalog writes: one function per operation, atomic, raising catalog domain errors.

The product's `updated_at` is bumped whenever one of its variants or barcodes changes, so
the `updated_since` feed (and POS terminals that pull it) see every change.
"""

from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.db.models import ProtectedError, RestrictedError
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

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
from core.changelog import changes_record
from core.errors import Conflict


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
    if not value.is_finite() or not is_valid_vat_rate(value):  # NaN cannot even be compared
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
    # The variants below now sit in another branch (category-scoped promotions follow).
    below = category_descendant_ids(category_id=category.pk)
    changes_record(
        topic="variant",
        keys=Variant.objects.filter(product__category_id__in=below).values_list("pk", flat=True),
    )
    return category


@transaction.atomic
def category_update(*, category: Category, **fields: Any) -> Category:
    """Rename or reorder a category; re-parenting goes through `category_move` (cycle check)."""
    allowed = {"name", "position"}
    unknown = set(fields) - allowed
    if unknown:
        raise TypeError(f"category_update does not change {sorted(unknown)}")
    for name, value in fields.items():
        setattr(category, name, value)
    if fields:
        category.save(update_fields=list(fields))
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
    changes_record(topic="variant", keys=product.variants.values_list("pk", flat=True))
    return product


def _touch_product(product_id: int, *, variant_ids: list[int] | None = None) -> None:
    """Bump the product's `updated_at` and log its variants as changed (POS feeds)."""
    Product.objects.filter(pk=product_id).update(updated_at=timezone.now())
    ids = Variant.objects.filter(product_id=product_id).values_list("pk", flat=True)
    changes_record(topic="variant", keys=[*ids, *(variant_ids or [])])


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


@transaction.atomic
def variant_delete(*, variant: Variant) -> None:
    """Delete a variant and its barcodes.

    Raises Conflict (`variant_in_use`) when other rows (order lines, stock levels…) still
    point at it with a protecting foreign key: such a variant is deactivated, not deleted.
    """
    product_id, variant_id = variant.product_id, variant.pk
    try:
        variant.delete()
    except (ProtectedError, RestrictedError) as exc:
        raise Conflict(
            _("The variant is referenced by other records; deactivate it instead."),
            code="variant_in_use",
            details={"sku": variant.sku},
        ) from exc
    _touch_product(product_id, variant_ids=[variant_id])  # a tombstone for the feed


def _barcodes_replace(*, variant: Variant, codes: list[str] | tuple[str, ...], new: bool) -> bool:
    """Make `codes` exactly the variant's barcodes in a few set-based statements; True when
    anything changed. Validates everything before it writes; callers own the transaction."""
    wanted = list(dict.fromkeys(code.strip() for code in codes if code and code.strip()))
    kinds = {code: barcode_validate(code=code) for code in wanted}
    current = {} if new else {b.code: b for b in Barcode.objects.filter(variant=variant)}
    missing = [code for code in wanted if code not in current]
    if missing:
        taken = Barcode.objects.filter(code__in=missing).values_list("code", "variant__sku")
        owner = taken.first()
        if owner is not None:
            raise DuplicateBarcode(details={"barcode": owner[0], "sku": owner[1]})
    stale = [barcode.pk for code, barcode in current.items() if code not in wanted]
    if stale:
        Barcode.objects.filter(pk__in=stale).delete()
    if missing:
        Barcode.objects.bulk_create(
            [Barcode(variant=variant, code=code, kind=kinds[code]) for code in missing]
        )
    return bool(stale or missing)


@transaction.atomic
def variant_barcodes_set(*, variant: Variant, codes: list[str] | tuple[str, ...]) -> list[Barcode]:
    """Make `codes` exactly the variant's barcodes: add the missing ones, remove the others.

    Blank codes and repeats are ignored. Raises InvalidBarcode or DuplicateBarcode (a code
    that belongs to another variant) before writing anything. Locks nothing: the unique
    constraint on the code decides between two concurrent writers (IntegrityError for the
    loser). Returns the variant's barcodes in the order they were added.
    """
    if _barcodes_replace(variant=variant, codes=codes, new=False):
        _touch_product(variant.product_id)
    return list(Barcode.objects.filter(variant=variant).order_by("id"))


@transaction.atomic
def variant_upsert(
    *,
    sku: str,
    product_slug: str,
    product_name: str,
    category: Category,
    vat_rate: Any,
    brand: str = "",
    variant_name: str = "",
    options: dict[str, str] | None = None,
    barcodes: list[str] | tuple[str, ...] = (),
    is_active: bool = True,
) -> tuple[Variant, bool]:
    """Create or update one variant and its product from a flat catalog row (bulk import).

    The product is found by slug and created when new; its name, category and brand are
    updated when they differ. The variant is found by SKU and created, or updated in place;
    its barcodes become exactly `barcodes`. Locks the product row, then the variant row
    (select_for_update, always in that order), so two imports touching the same rows apply
    one after the other; two imports creating the same new row meet at the unique
    constraints (IntegrityError for the second). Raises DuplicateSku when the SKU belongs to
    a variant of another product (a variant never moves between products), InvalidVatRate,
    InvalidBarcode and DuplicateBarcode, all before anything is written. Bumps the
    product's `updated_at` when anything changed. Returns (variant, created).

    Bulk imports call this once per row, so new rows are inserted directly (the slug and
    SKU are given and were just looked up) instead of through `product_create` and
    `variant_create`, saving their savepoints and re-checks.
    """
    sku = sku.strip()
    vat = _vat(vat_rate)
    product = (
        Product.objects.select_for_update(of=("self",))
        .select_related("category")
        .filter(slug=product_slug)
        .first()
    )
    product_created = product is None
    if product is None:
        product = Product.objects.create(
            name=product_name, category=category, brand=brand, slug=product_slug
        )
    else:
        changes = {
            name: value
            for name, value in (("name", product_name), ("brand", brand))
            if getattr(product, name) != value
        }
        if product.category_id != category.pk:
            changes["category"] = category
        if changes:
            product_update(product=product, **changes)

    variant = Variant.objects.select_for_update(of=("self",)).filter(sku=sku).first()
    created = variant is None
    if variant is None:
        variant = Variant.objects.create(
            product=product,
            sku=sku,
            name=variant_name,
            options=options or {},
            vat_rate=vat,
            is_active=is_active,
        )
    else:
        if variant.product_id != product.pk:
            owner = Product.objects.filter(pk=variant.product_id).values_list("slug", flat=True)
            raise DuplicateSku(
                _("The SKU belongs to a variant of another product (%(product)s).")
                % {"product": owner.first()},
                details={"sku": sku, "product": owner.first()},
            )
        variant.product = product
        wanted = {
            "name": variant_name,
            "options": options or {},
            "vat_rate": vat,
            "is_active": is_active,
        }
        changes = {k: v for k, v in wanted.items() if getattr(variant, k) != v}
        if changes:
            variant_update(variant=variant, **changes)
    barcodes_changed = _barcodes_replace(variant=variant, codes=barcodes, new=created)
    if (created or barcodes_changed) and not product_created:
        _touch_product(product.pk)
    elif created:
        changes_record(topic="variant", keys=[variant.pk])
    return variant, created
