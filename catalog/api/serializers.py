"""Output serializers of the catalog API (read-only: the catalog is written in the admin).

The serializer classes describe the output (the OpenAPI schema, the barcode lookup); the
product list and product page build the same dicts with plain functions
(`product_data`), which do not build a tree of fields per object — a page of 50 products
has 150 variants. A test holds the two to the same output.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from django.utils import timezone
from rest_framework import serializers

from catalog.models import Barcode, Category, Product, Variant
from catalog.selectors import VariantRow


class CategorySerializer(serializers.ModelSerializer):
    class Meta:
        model = Category
        fields = ["id", "name", "slug", "parent", "position"]


class BarcodeSerializer(serializers.ModelSerializer):
    class Meta:
        model = Barcode
        fields = ["code", "kind"]


class VariantSerializer(serializers.ModelSerializer):
    barcodes = serializers.SerializerMethodField()

    class Meta:
        model = Variant
        fields = [
            "id",
            "sku",
            "name",
            "options",
            "vat_rate",
            "is_active",
            "barcodes",
            "updated_at",
        ]

    def get_barcodes(self, variant: Variant) -> list[str]:
        return [b.code for b in variant.barcodes.all()]

    def to_representation(self, variant: Variant):
        data = super().to_representation(variant)
        data.update(self.context.get("variant_extras", {}).get(variant.pk, {}))
        return data


class ProductSerializer(serializers.ModelSerializer):
    category = CategorySerializer(read_only=True)
    variants = VariantSerializer(many=True, read_only=True)

    class Meta:
        model = Product
        fields = [
            "id",
            "name",
            "slug",
            "brand",
            "description",
            "category",
            "is_active",
            "created_at",
            "updated_at",
            "variants",
        ]


class BarcodeLookupSerializer(VariantSerializer):
    product = serializers.SerializerMethodField()

    class Meta(VariantSerializer.Meta):
        fields = [*VariantSerializer.Meta.fields, "product"]

    def get_product(self, variant: Variant) -> dict:
        product = variant.product
        return {
            "id": product.pk,
            "name": product.name,
            "slug": product.slug,
            "brand": product.brand,
            "category": product.category_id,
            "is_active": product.is_active,
        }


# --- the product list and page, without a field tree per object -------------------------

# Field instances used as formatters only, so values are rendered exactly as the
# serializers above render them (decimal places).
_VAT_RATE = serializers.DecimalField(
    max_digits=Variant._meta.get_field("vat_rate").max_digits,
    decimal_places=Variant._meta.get_field("vat_rate").decimal_places,
)
_VAT_TEXT: dict[Any, str] = {}


def _datetime(value, zone) -> str | None:
    """A timestamp as DRF's DateTimeField renders it (in `zone`, the current time zone; ISO
    8601, "Z" for UTC), without the field's per-call machinery: a page has hundreds."""
    if value is None:
        return None
    text = value.astimezone(zone).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _vat_rate(value) -> str:
    """A VAT rate as the serializer renders it; a catalog has a handful, each made once."""
    text = _VAT_TEXT.get(value)
    if text is None:
        text = _VAT_TEXT.setdefault(value, _VAT_RATE.to_representation(value))
    return text


def category_data(category: Category) -> dict[str, Any]:
    return {
        "id": category.pk,
        "name": category.name,
        "slug": category.slug,
        "parent": category.parent_id,
        "position": category.position,
    }


SHOWN_CACHE_SIZE = 60_000  # variants
_SHOWN: dict[tuple[VariantRow, Any], dict[str, Any]] = {}


def _variant_shown(variant: VariantRow, zone) -> dict[str, Any]:
    """The variant's own fields as shown in `zone`, made once per row: the selector hands
    out the same row until the catalog changes, so a page seen before costs a lookup."""
    key = (variant, zone)
    shown = _SHOWN.get(key)
    if shown is None:
        shown = {
            "id": variant.pk,
            "sku": variant.sku,
            "name": variant.name,
            "options": variant.options,
            "vat_rate": _vat_rate(variant.vat_rate),
            "is_active": variant.is_active,
            "barcodes": None,
            "updated_at": _datetime(variant.updated_at, zone),
        }
        if len(_SHOWN) >= SHOWN_CACHE_SIZE:
            _SHOWN.clear()
        _SHOWN[key] = shown
    return shown


def variant_data(
    variant: VariantRow, extras: Mapping[str, Any] | None, zone=None
) -> dict[str, Any]:
    data = dict(_variant_shown(variant, zone or timezone.get_current_timezone()))
    data["barcodes"] = list(variant.barcodes)
    if extras:
        data.update(extras)
    return data


def product_data(
    product: Product,
    variants: Sequence[VariantRow],
    extras: Mapping[int, Mapping[str, Any]],
    categories: dict[int, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """What ProductSerializer gives for `product` (its category selected with it), with
    `variants` in place of the related ones and each variant's `extras` merged in.
    `categories` caches the category dicts of one page (many products share one)."""
    category = None
    if categories is not None:
        category = categories.get(product.category_id)
    if category is None:
        category = category_data(product.category)
        if categories is not None:
            categories[product.category_id] = category
    zone = timezone.get_current_timezone()
    return {
        "id": product.pk,
        "name": product.name,
        "slug": product.slug,
        "brand": product.brand,
        "description": product.description,
        "category": dict(category),
        "is_active": product.is_active,
        "created_at": _datetime(product.created_at, zone),
        "updated_at": _datetime(product.updated_at, zone),
        "variants": [variant_data(v, extras.get(v.pk), zone) for v in variants],
    }
