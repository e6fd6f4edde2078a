"""Factories for the catalog: categories, products, variants with valid GTIN barcodes."""

from decimal import Decimal

import factory

from catalog.domain import make_gtin
from catalog.models import Barcode, Category, Product, Variant


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category

    name = factory.Sequence(lambda n: f"Category {n}")
    slug = factory.Sequence(lambda n: f"category-{n}")
    parent = None


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    name = factory.Sequence(lambda n: f"Product {n}")
    slug = factory.Sequence(lambda n: f"product-{n}")
    brand = "Acme"
    category = factory.SubFactory(CategoryFactory)
    is_active = True


class VariantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Variant

    product = factory.SubFactory(ProductFactory)
    sku = factory.Sequence(lambda n: f"SKU-{n:06d}")
    name = factory.LazyAttribute(lambda o: f"{o.product.name} variant")
    options = factory.LazyFunction(lambda: {"size": "M"})
    vat_rate = Decimal("20.00")
    is_active = True


class BarcodeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Barcode

    variant = factory.SubFactory(VariantFactory)
    code = factory.Sequence(lambda n: make_gtin(f"400{n:09d}"))
    kind = "EAN-13"
