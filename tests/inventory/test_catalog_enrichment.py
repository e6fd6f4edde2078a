"""Availability inside the catalog product API, through settings.CATALOG_VARIANT_ENRICHERS."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from inventory import services
from tests.factories.catalog import ProductFactory, VariantFactory
from tests.factories.inventory import LocationFactory, StockLevelFactory, WarehouseFactory

pytestmark = pytest.mark.django_db

ENRICHER = "inventory.api.enrichment.variant_availability"


@pytest.fixture(autouse=True)
def availability_enricher(settings):
    if ENRICHER not in settings.CATALOG_VARIANT_ENRICHERS:
        settings.CATALOG_VARIANT_ENRICHERS = [*settings.CATALOG_VARIANT_ENRICHERS, ENRICHER]


def _variant(data, variant_id):
    return next(v for v in data["variants"] if v["id"] == variant_id)


def test_the_product_detail_shows_every_pickup_store_and_delivery(api_client):
    berlin, hamburg = LocationFactory(code="BER", name="Berlin"), LocationFactory(code="HAM")
    LocationFactory(code="NOPICK", is_pickup_point=False)
    warehouse = WarehouseFactory(code="WH")
    product = ProductFactory()
    variant = VariantFactory(product=product)
    StockLevelFactory(variant=variant, location=berlin, on_hand=2)
    StockLevelFactory(variant=variant, location=warehouse, on_hand=30)
    services.stock_reserve(lines=[(variant.pk, 1)], location=warehouse, reference="order:1")

    response = api_client.get(f"/api/v1/catalog/products/{product.pk}/")
    assert response.status_code == 200
    availability = _variant(response.json(), variant.pk)["availability"]
    assert availability["delivery"] == 29
    assert [(s["location"], s["available"]) for s in availability["pickup"]] == [
        ("BER", 2),
        ("HAM", 0),
    ]
    assert availability["pickup"][0]["name"] == "Berlin"
    assert hamburg.code == "HAM"


def test_the_product_list_shows_a_summary_in_constant_queries(api_client):
    store, warehouse = LocationFactory(), WarehouseFactory()

    def make_products(n):
        for _ in range(n):
            variant = VariantFactory(product=ProductFactory())
            StockLevelFactory(variant=variant, location=store, on_hand=1)
            StockLevelFactory(variant=variant, location=warehouse, on_hand=4)

    def queries() -> tuple[int, dict]:
        with CaptureQueriesContext(connection) as ctx:
            response = api_client.get("/api/v1/catalog/products/")
        assert response.status_code == 200
        return len(ctx.captured_queries), response.json()

    make_products(2)
    few, _ = queries()
    make_products(8)
    many, data = queries()
    assert few == many
    first = data["results"][0]["variants"][0]["availability"]
    assert first == {"delivery": 4, "pickup_stores": 1}


def test_the_product_detail_costs_the_same_queries_with_more_stores(api_client):
    product = ProductFactory()
    variants = [VariantFactory(product=product) for _ in range(3)]

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert api_client.get(f"/api/v1/catalog/products/{product.pk}/").status_code == 200
        return len(ctx.captured_queries)

    LocationFactory()
    queries()  # the first also reads the promotion rule book
    before = queries()
    for _ in range(4):
        store = LocationFactory()
        for variant in variants:
            StockLevelFactory(variant=variant, location=store, on_hand=1)
    assert queries() == before
