"""Output serializers of the catalog API (read-only: the catalog is written in the admin)."""

from rest_framework import serializers

from catalog.models import Barcode, Category, Product, Variant


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
