"""The product API keeps the variants it read per catalog revision, and is never stale.

Every write to a variant or a barcode changes the catalog revision token in its own
transaction (database triggers), and the list reads the token in the statement that
reads the variants it does not hold. So the request after any write — through a service,
an ORM `update()` past the services or a factory's plain insert — shows the change, and a
page with no change in between reads no variant at all.
"""

import threading

import pytest
from django.db import connection, transaction

from catalog import selectors, services
from catalog.domain import make_gtin
from catalog.models import Barcode, Variant
from tests.factories.catalog import BarcodeFactory, ProductFactory, VariantFactory

pytestmark = pytest.mark.django_db

PRODUCTS = "/api/v1/catalog/products/"


def _variants(api_client, product_id: int) -> list[dict]:
    response = api_client.get(PRODUCTS, {"page_size": 50})
    assert response.status_code == 200
    (product,) = [p for p in response.json()["results"] if p["id"] == product_id]
    return [
        {"sku": v["sku"], "name": v["name"], "barcodes": v["barcodes"]} for v in product["variants"]
    ]


def test_a_page_with_no_catalog_change_reads_no_variant_again():
    product = ProductFactory()
    BarcodeFactory(variant=VariantFactory(product=product))

    (first,) = selectors.variant_rows(product_ids=[product.pk])[product.pk]
    (again,) = selectors.variant_rows(product_ids=[product.pk])[product.pk]

    assert again is first


def test_the_list_shows_a_changed_variant_or_barcode_in_the_next_request(api_client):
    product, other = ProductFactory(), ProductFactory()
    variant = VariantFactory(product=product, sku="MUG-1", name="Mug", position=0)
    barcode = BarcodeFactory(variant=variant, code=make_gtin("400638000001"))
    assert _variants(api_client, product.pk) == [
        {"sku": "MUG-1", "name": "Mug", "barcodes": [barcode.code]}
    ]

    services.variant_update(variant=variant, name="Big mug")
    assert _variants(api_client, product.pk)[0]["name"] == "Big mug"

    Variant.objects.filter(pk=variant.pk).update(name="Huge mug")  # past the services
    assert _variants(api_client, product.pk)[0]["name"] == "Huge mug"

    added = services.barcode_add(variant=variant, code=make_gtin("400638000002"))
    assert _variants(api_client, product.pk)[0]["barcodes"] == [barcode.code, added.code]

    Barcode.objects.filter(pk=barcode.pk).update(code=make_gtin("400638000003"))
    services.barcode_remove(barcode=added)
    assert _variants(api_client, product.pk)[0]["barcodes"] == [make_gtin("400638000003")]

    VariantFactory(product=product, sku="MUG-2", name="Cup", position=1)
    assert [v["sku"] for v in _variants(api_client, product.pk)] == ["MUG-1", "MUG-2"]

    Variant.objects.filter(pk=variant.pk).update(product=other)
    assert [v["sku"] for v in _variants(api_client, product.pk)] == ["MUG-2"]
    assert [v["sku"] for v in _variants(api_client, other.pk)] == ["MUG-1"]


def test_variants_read_inside_a_transaction_that_rolled_back_are_never_served(api_client):
    product = ProductFactory()
    variant = VariantFactory(product=product, name="Mug")
    assert _variants(api_client, product.pk)[0]["name"] == "Mug"

    with pytest.raises(RuntimeError), transaction.atomic():
        Variant.objects.filter(pk=variant.pk).update(name="Uncommitted")
        assert _variants(api_client, product.pk)[0]["name"] == "Uncommitted"
        raise RuntimeError("roll back")

    assert _variants(api_client, product.pk)[0]["name"] == "Mug"
    Variant.objects.filter(pk=variant.pk).update(name="Committed")
    assert _variants(api_client, product.pk)[0]["name"] == "Committed"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_variant_changed_on_another_connection_shows_in_this_process_at_once(api_client):
    """Two connections, one process (one cache): a change committed by one is in the very
    next list of the other."""
    product = ProductFactory()
    variant = VariantFactory(product=product, name="Mug")
    assert _variants(api_client, product.pk)[0]["name"] == "Mug"  # fills the cache
    errors: list[BaseException] = []

    def other_connection() -> None:
        try:
            services.variant_update(variant=variant, name="Renamed elsewhere")
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    writer = threading.Thread(target=other_connection)
    writer.start()
    writer.join()

    assert not errors
    assert _variants(api_client, product.pk)[0]["name"] == "Renamed elsewhere"
