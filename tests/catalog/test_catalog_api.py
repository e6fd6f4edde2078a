"""Catalog read API: tree filter, search, cursor pagination, error shape, query counts."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.domain import make_gtin
from catalog.models import Product
from tests.factories.catalog import BarcodeFactory, CategoryFactory, ProductFactory, VariantFactory

pytestmark = pytest.mark.django_db

PRODUCTS = "/api/v1/catalog/products/"


def _ids(response) -> set[int]:
    return {p["id"] for p in response.json()["results"]}


def test_category_filter_includes_products_of_every_subcategory(api_client):
    apparel = CategoryFactory(name="Apparel")
    women = CategoryFactory(name="Women", parent=apparel)
    dresses = CategoryFactory(name="Dresses", parent=women)
    electronics = CategoryFactory(name="Electronics")
    in_root = ProductFactory(category=apparel)
    in_child = ProductFactory(category=women)
    in_grandchild = ProductFactory(category=dresses)
    elsewhere = ProductFactory(category=electronics)

    response = api_client.get(PRODUCTS, {"category": apparel.pk})
    assert response.status_code == 200
    assert _ids(response) == {in_root.pk, in_child.pk, in_grandchild.pk}

    response = api_client.get(PRODUCTS, {"category": women.pk})
    assert _ids(response) == {in_child.pk, in_grandchild.pk}
    assert elsewhere.pk not in _ids(api_client.get(PRODUCTS, {"category": dresses.pk}))


def test_search_matches_name_sku_and_barcode(api_client):
    boots = ProductFactory(name="Trail boots")
    jacket = ProductFactory(name="Rain jacket")
    VariantFactory(product=jacket, sku="JKT-RAIN-42")
    scanned = BarcodeFactory(code=make_gtin("401234567890"))

    assert _ids(api_client.get(PRODUCTS, {"search": "trail"})) == {boots.pk}
    assert _ids(api_client.get(PRODUCTS, {"search": "jkt-rain-42"})) == {jacket.pk}
    by_code = api_client.get(PRODUCTS, {"search": scanned.code})
    assert _ids(by_code) == {scanned.variant.product_id}
    assert _ids(api_client.get(PRODUCTS, {"barcode": scanned.code})) == {scanned.variant.product_id}


def test_active_and_updated_since_filters(api_client):
    live = ProductFactory(is_active=True)
    hidden = ProductFactory(is_active=False)
    assert _ids(api_client.get(PRODUCTS, {"active": "true"})) == {live.pk}
    assert _ids(api_client.get(PRODUCTS, {"active": "false"})) == {hidden.pk}
    # `live` was last changed a day ago; only `hidden` changed since the client's last sync.
    Product.objects.filter(pk=live.pk).update(updated_at=hidden.updated_at - timedelta(days=1))
    since = hidden.updated_at.isoformat()
    assert _ids(api_client.get(PRODUCTS, {"updated_since": since})) == {hidden.pk}


def test_cursor_pagination_is_stable_when_products_are_added_between_pages(api_client):
    products = [ProductFactory() for _ in range(7)]
    first = api_client.get(PRODUCTS, {"page_size": 3}).json()
    assert [p["id"] for p in first["results"]] == [p.pk for p in reversed(products)][:3]
    ProductFactory()  # a new product arrives while the client pages
    seen = [p["id"] for p in first["results"]]
    url = first["next"]
    while url:
        page = api_client.get(url).json()
        seen.extend(p["id"] for p in page["results"])
        url = page["next"]
    assert seen == [p.pk for p in reversed(products)]


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"category": "not-a-number"}, 400, "validation_error"),
        ({"category": "999999"}, 400, "validation_error"),
        ({"active": "maybe"}, 400, "validation_error"),
        ({"updated_since": "yesterday"}, 400, "validation_error"),
        # A cursor the API never handed out is bad input, not a missing page.
        ({"cursor": "garbage"}, 400, "invalid_cursor"),
    ],
)
def test_bad_query_input_is_refused_in_the_error_shape(api_client, params, status, code):
    response = api_client.get(PRODUCTS, params)
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code


def test_unknown_barcode_is_a_404_in_the_error_shape(api_client):
    response = api_client.get("/api/v1/catalog/barcodes/4006381333931/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "barcode_not_found"


def test_barcode_lookup_returns_the_variant_and_its_product(api_client):
    barcode = BarcodeFactory()
    response = api_client.get(f"/api/v1/catalog/barcodes/{barcode.code}/")
    assert response.status_code == 200
    body = response.json()
    assert body["sku"] == barcode.variant.sku
    assert body["product"]["id"] == barcode.variant.product_id
    assert barcode.code in body["barcodes"]


def test_unknown_product_is_a_404_in_the_error_shape(api_client):
    response = api_client.get(f"{PRODUCTS}424242/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_unknown_url_keeps_the_error_shape(client):
    response = client.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def _make_products(count: int) -> None:
    category = CategoryFactory()
    for _ in range(count):
        product = ProductFactory(category=category)
        for _ in range(3):
            BarcodeFactory(variant=VariantFactory(product=product))


def _queries_for_page(api_client, size: int) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = api_client.get(PRODUCTS, {"page_size": size})
    assert response.status_code == 200
    assert len(response.json()["results"]) == size
    return len(ctx.captured_queries)


def test_product_list_uses_the_same_number_of_queries_for_5_or_50_products(api_client):
    _make_products(50)
    _queries_for_page(api_client, 5)  # the first reads the promotion rule book too
    assert _queries_for_page(api_client, 5) == _queries_for_page(api_client, 50)
