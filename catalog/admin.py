"""Catalog admin for store staff: categories, products with variants inline."""

from django.contrib import admin

from catalog.models import Barcode, Category, Product, Variant


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "parent", "position")
    list_filter = ("parent",)
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}


class VariantInline(admin.TabularInline):
    model = Variant
    extra = 0
    fields = ("sku", "name", "options", "vat_rate", "is_active", "position")
    show_change_link = True


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("name", "brand", "category", "is_active", "updated_at")
    list_filter = ("is_active", "category")
    search_fields = ("name", "brand", "variants__sku", "variants__barcodes__code")
    list_select_related = ("category",)
    inlines = [VariantInline]
    prepopulated_fields = {"slug": ("name",)}


class BarcodeInline(admin.TabularInline):
    model = Barcode
    extra = 0


@admin.register(Variant)
class VariantAdmin(admin.ModelAdmin):
    list_display = ("sku", "name", "product", "vat_rate", "is_active")
    list_filter = ("is_active", "vat_rate")
    search_fields = ("sku", "name", "barcodes__code", "product__name")
    list_select_related = ("product",)
    inlines = [BarcodeInline]
