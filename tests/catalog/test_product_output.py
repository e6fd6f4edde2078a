"""The product list and page build their output with plain functions; it must be exactly
what the documented serializer (`ProductSerializer`, the OpenAPI schema) gives."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIRequestFactory

from catalog.api.enrichment import variant_extras
from catalog.api.serializers import ProductSerializer
from catalog.selectors import product_list
from tests.factories.catalog import (
    BarcodeFactory,
    CategoryFactory,
    ProductFactory,
    VariantFactory,
)
from tests.factories.pricing import PriceFactory, PromotionFactory

pytestmark = pytest.mark.django_db


def _expected(product_id: int, request) -> dict:
    product = product_list().get(pk=product_id)
    context = {"request": request, "variant_extras": variant_extras([product], request)}
    return dict(ProductSerializer(product, context=context).data)


def test_the_list_and_the_page_show_exactly_what_the_product_serializer_gives(api_client):
    parent = CategoryFactory()
    product = ProductFactory(category=CategoryFactory(parent=parent), description="Soft.")
    for position, (vat, options) in enumerate(
        [(Decimal("19"), {"size": "M"}), (Decimal("7.5"), {}), (Decimal("0"), {"a": [1]})]
    ):
        variant = VariantFactory(
            product=product, vat_rate=vat, options=options, position=2 - position
        )
        BarcodeFactory(variant=variant)
        BarcodeFactory(variant=variant)
        if position:
            PriceFactory(variant=variant, amount=Decimal("12.30"))
    VariantFactory(product=product, is_active=False, name="Retired")
    PromotionFactory(scope="categories", categories=[parent])
    PromotionFactory(starts_at=timezone.now() + timedelta(days=1))

    listed = api_client.get("/api/v1/catalog/products/").json()["results"]
    page = api_client.get(f"/api/v1/catalog/products/{product.pk}/").json()

    factory = APIRequestFactory()
    list_request = factory.get("/api/v1/catalog/products/")
    list_request.resolver_match = type("Match", (), {"url_name": "catalog-products"})()
    detail_request = factory.get(f"/api/v1/catalog/products/{product.pk}/")
    assert listed == [_expected(product.pk, list_request)]
    assert page == _expected(product.pk, detail_request)
    assert [v["price"]["status"] for v in page["variants"]].count("priced") == 2
    assert len({v["id"] for v in page["variants"]}) == 4
