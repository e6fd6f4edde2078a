"""The variant page as staff use it: the price now and the promotion price from the one
engine, the promotions live for the variant, stock at every location (zero included),
links to the price history and the stock ledger; search by SKU or part of a barcode."""

import re
from decimal import Decimal
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from pricing.models import Promotion
from tests.factories.catalog import BarcodeFactory, CategoryFactory, ProductFactory, VariantFactory
from tests.factories.inventory import StockLevelFactory
from tests.factories.pricing import PriceFactory, PromotionFactory
from tests.staff import conftest as staff_fixtures

pytestmark = pytest.mark.django_db

# The staff tests' fixtures: a shop of three locations, members of staff in their roles.
shop = staff_fixtures.shop
member = staff_fixtures.member


@pytest.fixture
def tee(shop):
    """A T-shirt at 20.00, 25% off its category, 7 in the Berlin store, 3 in the warehouse,
    none in Hamburg; a basket threshold promotion that one unit does not reach."""
    apparel = CategoryFactory(name="Apparel")
    shirts = CategoryFactory(name="Shirts", parent=apparel)
    variant = VariantFactory(sku="TEE-001-M", product=ProductFactory(category=shirts))
    PriceFactory(variant=variant, amount=Decimal("20.00"))
    PromotionFactory(
        name="Summer apparel",
        scope=Promotion.Scope.CATEGORIES,
        categories=[apparel],
        value=Decimal("25"),
    )
    PromotionFactory(
        name="50 off 500",
        kind=Promotion.Kind.BASKET_THRESHOLD,
        value=Decimal("10"),
        threshold=Decimal("500"),
    )
    PromotionFactory(
        name="Phones only", scope=Promotion.Scope.VARIANTS, variants=[VariantFactory()]
    )
    StockLevelFactory(variant=variant, location=shop.store, on_hand=7)
    StockLevelFactory(variant=variant, location=shop.warehouse, on_hand=3)
    return variant


def _stock_rows(html: str) -> dict[str, list[str]]:
    table = html.split('id="variant-stock"', 1)[1].split("</table>", 1)[0]
    rows = {}
    for code, cells in re.findall(r'<tr data-location="([^"]+)">(.*?)</tr>', table, re.S):
        rows[code] = re.findall(r"<td>([^<]*)</td>", cells)[-3:]
    return rows


def test_the_variant_page_shows_price_promotion_price_promotions_and_stock_everywhere(
    tee, shop, member
):
    head_office = member("head_office")

    response = head_office.get(f"/admin/catalog/variant/{tee.pk}/change/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "<strong>20.00 EUR</strong>" in html
    assert '<strong id="variant-promotion-price">15.00 EUR</strong>' in html
    promotions = html.split('id="variant-promotions"', 1)[1].split("</table>", 1)[0]
    assert "Summer apparel" in promotions and "−5.00 EUR" in promotions
    assert "50 off 500" in promotions and "only in a larger basket" in promotions
    assert "Phones only" not in promotions
    # on hand, reserved, available at every location, Hamburg with none at all
    assert _stock_rows(html) == {
        "BER-MITTE": ["7", "0", "7"],
        "HAM-01": ["0", "0", "0"],
        "WH-BER": ["3", "0", "3"],
    }
    assert f'href="/admin/pricing/price/variant/{tee.pk}/history/"' in html


def test_the_stock_ledger_link_opens_the_movements_of_this_variant_only(tee, shop, member):
    other = VariantFactory()
    StockLevelFactory(variant=other, location=shop.store, on_hand=5)
    head_office = member("head_office")
    page = head_office.get(f"/admin/catalog/variant/{tee.pk}/change/").content.decode()
    link = unescape(re.search(r'<a href="([^"]+)" id="variant-stock-ledger">', page)[1])

    ledger = head_office.get(link)

    assert ledger.status_code == 200  # the admin accepts the filter (no ?e=1 redirect)
    movements = ledger.context["cl"].result_list
    assert sorted((m.level.location.code, m.quantity) for m in movements) == [
        ("BER-MITTE", 7),
        ("WH-BER", 3),
    ]


def test_a_store_associate_sees_every_location_and_their_own_marked(tee, shop, member):
    associate = member("store_associate", shop.other_store)

    html = associate.get(f"/admin/catalog/variant/{tee.pk}/change/").content.decode()

    assert set(_stock_rows(html)) == {"BER-MITTE", "HAM-01", "WH-BER"}
    hamburg = html.split('data-location="HAM-01"', 1)[1].split("</tr>", 1)[0]
    assert "(your store)" in hamburg
    assert "(your store)" not in html.split('data-location="BER-MITTE"', 1)[1].split("</tr>")[0]


def test_a_merchandiser_sees_prices_but_no_store_data(tee, member):
    merchandiser = member("merchandiser")

    html = merchandiser.get(f"/admin/catalog/variant/{tee.pk}/change/").content.decode()

    assert "<strong>20.00 EUR</strong>" in html
    assert 'id="variant-stock"' not in html and "variant-stock-ledger" not in html


def test_a_variant_without_a_price_says_it_cannot_be_sold(shop, member):
    variant = VariantFactory()

    html = member("head_office").get(f"/admin/catalog/variant/{variant.pk}/change/")

    assert "cannot be sold in any channel" in html.content.decode()
    assert "variant-stock-ledger" not in html.content.decode()  # no movements to show


def test_the_variant_page_costs_the_same_queries_for_three_or_thirty_locations(tee, member):
    from tests.factories.inventory import LocationFactory

    browser = member("head_office")
    url = f"/admin/catalog/variant/{tee.pk}/change/"
    browser.get(url)
    with CaptureQueriesContext(connection) as few:
        browser.get(url)
    for _ in range(27):
        LocationFactory()
    with CaptureQueriesContext(connection) as many:
        browser.get(url)

    assert len(many) == len(few)


def test_opening_the_variant_page_and_searching_write_nothing(tee, member):
    browser = member("head_office")
    browser.get(f"/admin/catalog/variant/{tee.pk}/change/")  # warm the session

    with CaptureQueriesContext(connection) as queries:
        browser.get(f"/admin/catalog/variant/{tee.pk}/change/")
        browser.get("/admin/catalog/variant/", {"q": "TEE"})
        browser.get("/admin/catalog/barcode/", {"q": "400"})

    writes = [
        q["sql"]
        for q in queries
        if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
    ]
    assert writes == []


@pytest.mark.parametrize(
    "url", ["/admin/catalog/variant/", "/admin/catalog/product/", "/admin/catalog/barcode/"]
)
def test_search_by_part_of_a_barcode_or_the_sku_finds_the_variant(url, member):
    wanted = VariantFactory(sku="TEE-001-M")
    BarcodeFactory(variant=wanted, code="4006381333931")
    other = VariantFactory(sku="MUG-7")
    BarcodeFactory(variant=other, code="5901234123457")
    browser = member("head_office")

    def found(term: str) -> set[str]:
        response = browser.get(url, {"q": term})
        assert response.status_code == 200
        rows = response.context["cl"].result_list
        if url.endswith("/product/"):
            return {v.sku for p in rows for v in p.variants.all()}
        if url.endswith("/barcode/"):
            return {b.variant.sku for b in rows}
        return {v.sku for v in rows}

    assert found("4006381") == {"TEE-001-M"}
    assert found("333931") == {"TEE-001-M"}
    assert found("TEE-001") == {"TEE-001-M"}
    assert found("9999999") == set()


def test_a_store_associate_opens_the_variant_page_but_not_the_barcode_list(tee, shop, member):
    browser = member("store_associate", shop.store)
    assert browser.get(f"/admin/catalog/variant/{tee.pk}/change/").status_code == 200
    assert browser.get("/admin/catalog/barcode/").status_code == 403
