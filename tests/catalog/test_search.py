"""Catalog search at any size: what `?search=` and the admin lists find, in how many
queries, and (on PostgreSQL) that the indexes of catalog 0002 serve the SQL Django writes."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog import selectors
from catalog.domain import make_gtin
from catalog.models import Barcode, Product, Variant
from tests.factories.catalog import BarcodeFactory, ProductFactory, VariantFactory
from tests.factories.inventory import StockLevelFactory
from tests.staff import conftest as staff_fixtures

pytestmark = pytest.mark.django_db

PRODUCTS = "/api/v1/catalog/products/"

shop = staff_fixtures.shop
member = staff_fixtures.member


def _ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [p["id"] for p in response.json()["results"]]


@pytest.fixture
def boots():
    product = ProductFactory(name="Alpine Trail Boots", brand="Bergsteiger")
    variant = VariantFactory(product=product, sku="BOOT-TR-42", name="EU 42")
    BarcodeFactory(variant=variant, code=make_gtin("401234500001"))
    return product


# --- the product API's ?search= -------------------------------------------------------------


def test_search_finds_a_word_of_the_name_or_brand_in_any_case(api_client, boots):
    ProductFactory(name="Rain jacket", brand="Nordwand")
    assert _ids(api_client.get(PRODUCTS, {"search": "TRAIL"})) == [boots.pk]
    assert _ids(api_client.get(PRODUCTS, {"search": "rail bo"})) == [boots.pk]
    assert _ids(api_client.get(PRODUCTS, {"search": "bergSTEIGER"})) == [boots.pk]


def test_search_finds_an_exact_sku_in_any_case_or_an_exact_barcode_but_not_a_part(
    api_client, boots
):
    code = Barcode.objects.get(variant__product=boots).code
    assert _ids(api_client.get(PRODUCTS, {"search": "boot-tr-42"})) == [boots.pk]
    assert _ids(api_client.get(PRODUCTS, {"search": f"  {code} "})) == [boots.pk]
    assert _ids(api_client.get(PRODUCTS, {"search": "BOOT-TR"})) == []
    assert _ids(api_client.get(PRODUCTS, {"search": code[:8]})) == []


def test_a_product_found_by_its_name_and_its_sku_is_listed_once(api_client):
    both = ProductFactory(name="The SKU-77 gift set")
    VariantFactory(product=both, sku="sku-77")
    VariantFactory(product=both, sku="SKU-77-B")
    other = ProductFactory(name="Plain mug")
    VariantFactory(product=other, sku="SKU-77X")

    assert _ids(api_client.get(PRODUCTS, {"search": "SKU-77"})) == [both.pk]


def test_search_combines_with_the_other_filters(api_client, boots):
    hidden = ProductFactory(name="Trail socks", is_active=False)
    assert _ids(api_client.get(PRODUCTS, {"search": "trail"})) == [hidden.pk, boots.pk]
    assert _ids(api_client.get(PRODUCTS, {"search": "trail", "active": "true"})) == [boots.pk]
    assert _ids(api_client.get(PRODUCTS, {"search": "BOOT-TR-42", "active": "false"})) == []


def test_a_search_costs_the_same_queries_for_three_matches_as_for_thirty(api_client):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert api_client.get(PRODUCTS, {"search": "lantern"}).status_code == 200
        return len(captured)

    for n in range(3):
        VariantFactory(product=ProductFactory(name=f"Camping lantern {n}"))
    few = queries()
    for n in range(27):
        VariantFactory(product=ProductFactory(name=f"Storm lantern {n}"))
    assert queries() == few


# --- the admin lists -------------------------------------------------------------------------


def _rows(browser, url: str, term: str) -> list:
    response = browser.get(url, {"q": term})
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


def test_the_variant_list_finds_each_word_in_sku_name_product_or_barcode_once(shop, member):
    boots = VariantFactory(
        sku="BOOT-TR-42", name="EU 42", product=ProductFactory(name="Alpine Trail Boots")
    )
    BarcodeFactory(variant=boots, code="4006381333931")
    BarcodeFactory(variant=boots, code="4006381333948")
    VariantFactory(sku="MUG-7", name="Trail mug", product=ProductFactory(name="Enamel mug"))
    browser = member("head_office")
    url = "/admin/catalog/variant/"

    assert [v.sku for v in _rows(browser, url, "4006381")] == ["BOOT-TR-42"]  # two codes hold it
    assert {v.sku for v in _rows(browser, url, "trail")} == {"BOOT-TR-42", "MUG-7"}
    assert [v.sku for v in _rows(browser, url, "trail 333931")] == ["BOOT-TR-42"]
    assert [v.sku for v in _rows(browser, url, "alpine eu")] == ["BOOT-TR-42"]
    assert [v.sku for v in _rows(browser, url, '"enamel mug"')] == ["MUG-7"]
    assert _rows(browser, url, "mug boot") == []


def test_the_product_and_barcode_lists_find_by_part_of_a_sku_or_barcode(shop, member):
    boots = VariantFactory(sku="BOOT-TR-42", product=ProductFactory(name="Alpine Trail Boots"))
    BarcodeFactory(variant=boots, code="4006381333931")
    BarcodeFactory(variant=boots, code="4006381333948")
    browser = member("head_office")

    products = _rows(browser, "/admin/catalog/product/", "400638133")
    assert [p.pk for p in products] == [boots.product_id]
    assert [p.pk for p in _rows(browser, "/admin/catalog/product/", "tr-4")] == [boots.product_id]
    codes = {b.code for b in _rows(browser, "/admin/catalog/barcode/", "boot-tr")}
    assert codes == {"4006381333931", "4006381333948"}
    assert [b.code for b in _rows(browser, "/admin/catalog/barcode/", "3948")] == ["4006381333948"]


def test_the_stock_list_finds_a_store_or_a_variant_within_the_users_stores(shop, member):
    boots = VariantFactory(sku="BOOT-TR-42", product=ProductFactory(name="Alpine Trail Boots"))
    BarcodeFactory(variant=boots, code="4006381333931")
    mug = VariantFactory(sku="MUG-7")
    for variant in (boots, mug):
        for location in (shop.store, shop.other_store):
            StockLevelFactory(variant=variant, location=location, on_hand=3)
    url = "/admin/inventory/stocklevel/"
    head_office = member("head_office")
    associate = member("store_associate", shop.store)

    def found(browser, term):
        return {(lv.variant.sku, lv.location.code) for lv in _rows(browser, url, term)}

    assert found(head_office, "333931") == {("BOOT-TR-42", "BER-MITTE"), ("BOOT-TR-42", "HAM-01")}
    assert found(head_office, "ham-01") == {("BOOT-TR-42", "HAM-01"), ("MUG-7", "HAM-01")}
    assert found(head_office, "alpine ham") == {("BOOT-TR-42", "HAM-01")}
    assert found(associate, "alpine") == {("BOOT-TR-42", "BER-MITTE")}
    assert found(associate, "ham-01") == set()


@pytest.mark.parametrize(
    ("url", "term"),
    [
        ("/admin/catalog/variant/", "400638"),
        ("/admin/catalog/product/", "400638"),
        ("/admin/inventory/stocklevel/", "400638"),
    ],
)
def test_a_searched_list_is_counted_once(shop, member, url, term):
    for n in range(3):
        variant = VariantFactory()
        BarcodeFactory(variant=variant, code=make_gtin(f"40063800000{n}"))
        StockLevelFactory(variant=variant, location=shop.store, on_hand=1)
    browser = member("head_office")
    browser.get(url, {"q": term})  # warm caches

    with CaptureQueriesContext(connection) as captured:
        rows = _rows(browser, url, term)

    counts = [q["sql"] for q in captured if "COUNT(" in q["sql"].upper()]
    assert len(rows) == 3
    assert len(counts) == 1, counts


# --- PostgreSQL: the indexes serve the SQL Django writes -------------------------------------


def _plan(queryset) -> str:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        # A tiny test table is cheaper to read whole: forbid that to see what is usable.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.postgres
def test_the_trigram_and_upper_sku_indexes_serve_the_searches(boots):
    from django.db import transaction

    with transaction.atomic():
        by_name = _plan(Product.objects.filter(name__icontains="trail"))
        by_brand = _plan(Product.objects.filter(brand__icontains="steiger"))
        sku = _plan(Variant.objects.filter(sku__iexact="boot-tr-42"))
        sku_part = _plan(Variant.objects.filter(sku__icontains="tr-4"))
        variant_name = _plan(Variant.objects.filter(name__icontains="eu 4"))
        code_part = _plan(Barcode.objects.filter(code__contains="12345"))
        search = _plan(
            Product.objects.filter(selectors.product_search_condition(term="BOOT-TR-42"))
        )

    assert "product_name_trgm_idx" in by_name
    assert "product_brand_trgm_idx" in by_brand
    assert "variant_sku_upper_idx" in sku
    assert "variant_sku_trgm_idx" in sku_part
    assert "variant_name_trgm_idx" in variant_name
    assert "barcode_code_trgm_idx" in code_part
    # The exact SKU's product id, the name and the brand: three index scans OR-ed.
    assert "BitmapOr" in search
    for index in ("catalog_product_pkey", "product_name_trgm_idx", "product_brand_trgm_idx"):
        assert index in search


def test_the_variant_list_offers_and_filters_the_vat_rates_in_use(shop, member):
    from decimal import Decimal

    books = [VariantFactory(vat_rate=Decimal("7.00")) for _ in range(2)]
    VariantFactory(vat_rate=Decimal("19.00"))
    in_use = Variant.objects.order_by("vat_rate").values_list("vat_rate", flat=True).distinct()
    # The hand-written loose index scan (PostgreSQL) answers as the ORM's DISTINCT does.
    assert selectors.variant_vat_rates() == list(in_use) == [Decimal("7.00"), Decimal("19.00")]
    browser = member("head_office")
    url = "/admin/catalog/variant/"

    page = browser.get(url)
    choices = [c["display"] for c in _filter_choices(page, "VAT rate, %")]
    assert {"7.00", "19.00"} <= set(choices)
    reduced = browser.get(url, {"vat_rate__exact": "7.00"})
    assert {v.pk for v in reduced.context["cl"].result_list} == {v.pk for v in books}
    for bad in ("abc", "1e999", "-1", "NaN"):
        response = browser.get(url, {"vat_rate__exact": bad})
        assert response.status_code == 200, bad
        assert list(response.context["cl"].result_list) == [], bad


def _filter_choices(page, title: str) -> list[dict]:
    for spec in page.context["cl"].filter_specs:
        if str(spec.title) == title:
            return list(spec.choices(page.context["cl"]))
    raise AssertionError(f"no filter {title!r}")
