"""The catalog admin as store staff use it: search and tree filter, products with variants
and barcodes inline (written through the services, bad barcodes refused as form errors),
and the CSV/XLSX import and export pages."""

import csv
import io

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from catalog.domain import make_gtin
from catalog.models import Barcode, Category, Product, Variant
from catalog.resources import COLUMNS
from tests.factories.catalog import (
    BarcodeFactory,
    CategoryFactory,
    ProductFactory,
    VariantFactory,
)
from tests.factories.customers import UserFactory

pytestmark = pytest.mark.django_db

GOOD = make_gtin("400000000001")
GOOD_2 = make_gtin("400000000002")
BAD_CHECK_DIGIT = GOOD[:-1] + str((int(GOOD[-1]) + 1) % 10)


@pytest.fixture
def admin(staff_user) -> Client:
    client = Client()
    client.force_login(staff_user)
    return client


def _management(prefix: str, total: int, initial: int = 0) -> dict[str, str]:
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def _product_form(category, **overrides) -> dict[str, str]:
    return {
        "name": "Linen shirt",
        "slug": "linen-shirt",
        "category": str(category.pk),
        "brand": "Northwind",
        "description": "",
        "is_active": "on",
    } | overrides


def _variant_row(index: int, **values) -> dict[str, str]:
    base = {
        "sku": "",
        "name": "",
        "options": "",
        "vat_rate": "20",
        "barcodes": "",
        "is_active": "on",
        "position": "0",
    }
    return {f"variants-{index}-{key}": value for key, value in (base | values).items()}


def test_product_changelist_finds_by_sku_and_barcode_and_filters_by_category_subtree(admin):
    apparel = CategoryFactory(name="Apparel")
    dresses = CategoryFactory(name="Dresses", parent=CategoryFactory(name="Women", parent=apparel))
    phones = CategoryFactory(name="Phones")
    dress = ProductFactory(name="Wrap dress", category=dresses)
    phone = ProductFactory(name="X5 phone", category=phones)
    VariantFactory(product=dress, sku="WDR-0001-M")
    scanned = BarcodeFactory(variant=VariantFactory(product=phone))
    url = "/admin/catalog/product/"

    def listed(params) -> set[int]:
        response = admin.get(url, params)
        assert response.status_code == 200
        return {p.pk for p in response.context["cl"].result_list}

    assert listed({"q": "WDR-0001"}) == {dress.pk}
    assert listed({"q": scanned.code}) == {phone.pk}
    assert listed({"category": str(apparel.pk)}) == {dress.pk}
    assert listed({"category": str(phones.pk)}) == {phone.pk}
    assert listed({"is_active__exact": "1"}) == {dress.pk, phone.pk}
    page = admin.get(url).content.decode()
    assert "— — Dresses" in page  # the filter offers the tree, indented


def test_adding_a_product_with_variants_and_barcodes_inline_saves_them_all(admin):
    category = CategoryFactory()
    data = (
        _product_form(category)
        | _management("variants", 2)
        | _variant_row(0, sku="SHIRT-M", name="M", options="size=M; colour=Blue", barcodes=GOOD)
        | _variant_row(1, sku="SHIRT-L", name="L", options="size=L", vat_rate="10")
    )

    response = admin.post("/admin/catalog/product/add/", data)

    assert response.status_code == 302, response.context["errors"]
    product = Product.objects.get(slug="linen-shirt")
    medium = product.variants.get(sku="SHIRT-M")
    assert medium.options == {"size": "M", "colour": "Blue"}
    assert list(medium.barcodes.values_list("code", "kind")) == [(GOOD, "EAN-13")]
    assert str(product.variants.get(sku="SHIRT-L").vat_rate) == "10.00"


def test_a_bad_check_digit_in_the_variant_inline_is_a_form_error_and_nothing_is_saved(admin):
    category = CategoryFactory()
    data = (
        _product_form(category)
        | _management("variants", 1)
        | _variant_row(0, sku="SHIRT-M", barcodes=BAD_CHECK_DIGIT)
    )

    response = admin.post("/admin/catalog/product/add/", data)

    assert response.status_code == 200
    assert "the check digit is wrong" in response.content.decode()
    assert not Product.objects.exists() and not Variant.objects.exists()


def test_a_barcode_of_another_variant_is_refused_in_the_variant_inline(admin):
    taken = BarcodeFactory(code=GOOD)
    data = (
        _product_form(CategoryFactory())
        | _management("variants", 1)
        | _variant_row(0, sku="SHIRT-M", barcodes=GOOD)
    )

    response = admin.post("/admin/catalog/product/add/", data)

    assert response.status_code == 200
    assert f"already belongs to variant {taken.variant.sku}" in response.content.decode()
    assert Barcode.objects.get(code=GOOD).variant == taken.variant


def test_editing_a_product_updates_its_variants_and_replaces_their_barcodes(admin):
    variant = VariantFactory(sku="SHIRT-M", options={"size": "M"})
    BarcodeFactory(variant=variant, code=GOOD)
    product = variant.product
    data = (
        _product_form(product.category, name="Renamed shirt", slug=product.slug)
        | _management("variants", 1, initial=1)
        | _variant_row(0, id=str(variant.pk), product=str(product.pk), name="Medium",
                       options="size=M", barcodes=GOOD_2)
    )  # fmt: skip

    response = admin.post(f"/admin/catalog/product/{product.pk}/change/", data)

    assert response.status_code == 302, response.context["errors"]
    product.refresh_from_db()
    variant.refresh_from_db()
    assert product.name == "Renamed shirt"
    assert variant.name == "Medium" and variant.sku == "SHIRT-M"
    assert list(variant.barcodes.values_list("code", flat=True)) == [GOOD_2]


def test_the_variant_page_adds_barcodes_and_refuses_a_bad_check_digit(admin):
    variant = VariantFactory()
    url = f"/admin/catalog/variant/{variant.pk}/change/"
    form = {
        "name": variant.name,
        "options": "size=M",
        "vat_rate": "20.00",
        "is_active": "on",
        "position": "0",
    }

    bad = admin.post(url, form | _management("barcodes", 1) | {"barcodes-0-code": BAD_CHECK_DIGIT})
    assert bad.status_code == 200
    assert "the check digit is wrong" in bad.content.decode()
    assert not variant.barcodes.exists()

    good = admin.post(url, form | _management("barcodes", 1) | {"barcodes-0-code": GOOD})
    assert good.status_code == 302
    assert list(variant.barcodes.values_list("code", "kind")) == [(GOOD, "EAN-13")]


def _upload(rows: list[dict[str, str]]) -> SimpleUploadedFile:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(COLUMNS))
    writer.writeheader()
    writer.writerows(rows)
    return SimpleUploadedFile("catalog.csv", out.getvalue().encode(), content_type="text/csv")


def _csv_row(sku: str, product: str, category: str, barcodes: str = "") -> dict[str, str]:
    return {
        "sku": sku,
        "product": product,
        "product_name": product.replace("-", " ").title(),
        "category": category,
        "brand": "Northwind",
        "variant_name": "",
        "options": "size=M",
        "vat_rate": "20",
        "barcodes": barcodes,
        "is_active": "1",
    }


def test_the_admin_import_page_reports_the_bad_rows_and_saves_nothing(admin):
    CategoryFactory(slug="shirts")
    page = admin.get("/admin/catalog/variant/import/")
    assert page.status_code == 200
    upload = _upload(
        [
            _csv_row("SHIRT-M", "linen-shirt", "shirts", GOOD),
            _csv_row("SHIRT-L", "linen-shirt", "shirts", BAD_CHECK_DIGIT),
            _csv_row("SHIRT-M", "linen-shirt", "shirts"),
            _csv_row("SHIRT-XL", "linen-shirt", "no-such-category"),
        ]
    )

    response = admin.post(
        "/admin/catalog/variant/import/", {"import_file": upload, "format": "0", "resource": "0"}
    )

    assert response.status_code == 200
    result = response.context["result"]
    assert {row.number for row in result.invalid_rows} == {1, 2, 3, 4}
    assert "confirm_form" not in response.context  # no way to load a bad file
    html = response.content.decode()
    assert "Some rows failed to validate" in html
    assert "the check digit is wrong" in html
    assert "appears more than once in the file (rows 1, 3)" in html
    assert "Unknown category no-such-category" in html
    assert not Product.objects.exists() and not Variant.objects.exists()


def test_the_admin_import_previews_a_good_file_and_loads_it_on_confirm(admin):
    CategoryFactory(slug="shirts")
    upload = _upload(
        [
            _csv_row("SHIRT-M", "linen-shirt", "shirts", GOOD),
            _csv_row("SHIRT-L", "linen-shirt", "shirts", GOOD_2),
        ]
    )

    preview = admin.post(
        "/admin/catalog/product/import/", {"import_file": upload, "format": "0", "resource": "0"}
    )
    assert preview.status_code == 200
    assert not Variant.objects.exists()  # the preview is a dry run
    confirm = preview.context["confirm_form"]

    done = admin.post("/admin/catalog/product/process_import/", confirm.initial)

    assert done.status_code == 302
    assert sorted(Variant.objects.values_list("sku", flat=True)) == ["SHIRT-L", "SHIRT-M"]
    assert Barcode.objects.get(code=GOOD_2).variant.sku == "SHIRT-L"


def test_a_confirm_after_the_catalog_changed_loads_nothing_and_says_so(admin):
    CategoryFactory(slug="shirts")
    upload = _upload(
        [
            _csv_row("SHIRT-M", "linen-shirt", "shirts", GOOD),
            _csv_row("SHIRT-L", "linen-shirt", "shirts", GOOD_2),
        ]
    )
    preview = admin.post(
        "/admin/catalog/variant/import/", {"import_file": upload, "format": "0", "resource": "0"}
    )
    # Between preview and confirm, someone gives SHIRT-L's barcode to another variant.
    BarcodeFactory(code=GOOD_2)

    done = admin.post(
        "/admin/catalog/variant/process_import/", preview.context["confirm_form"].initial
    )

    assert done.status_code == 302
    assert done["Location"] == "/admin/catalog/variant/import/"
    assert not Variant.objects.filter(sku__startswith="SHIRT").exists()
    shown = [str(m) for m in get_messages(done.wsgi_request)]
    assert any("Nothing was imported" in m for m in shown)


def test_the_product_export_downloads_one_row_per_variant_of_the_listed_products(admin):
    shirts, phones = CategoryFactory(), CategoryFactory()
    BarcodeFactory(variant=VariantFactory(sku="SHIRT-M", product=ProductFactory(category=shirts)))
    VariantFactory(sku="PHONE-1", product=ProductFactory(category=phones))

    response = admin.post(f"/admin/catalog/product/export/?category={shirts.pk}", {"format": "0"})

    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert tuple(rows[0]) == COLUMNS
    assert [row["sku"] for row in rows] == ["SHIRT-M"]


def test_staff_without_catalog_permissions_cannot_import(db):
    clerk = UserFactory(is_staff=True)
    client = Client()
    client.force_login(clerk)

    assert client.get("/admin/catalog/variant/import/").status_code == 403


def test_every_catalog_admin_page_opens(admin):
    variant = VariantFactory()
    BarcodeFactory(variant=variant)
    pages = [
        "/admin/catalog/category/",
        "/admin/catalog/category/add/",
        f"/admin/catalog/category/{variant.product.category_id}/change/",
        "/admin/catalog/product/",
        "/admin/catalog/product/add/",
        f"/admin/catalog/product/{variant.product_id}/change/",
        "/admin/catalog/product/import/",
        "/admin/catalog/product/export/",
        "/admin/catalog/variant/",
        "/admin/catalog/variant/add/",
        f"/admin/catalog/variant/{variant.pk}/change/",
        "/admin/catalog/variant/export/",
    ]
    for url in pages:
        assert admin.get(url).status_code == 200, url


def test_categories_are_created_and_moved_through_the_services_and_never_into_a_cycle(admin):
    response = admin.post(
        "/admin/catalog/category/add/", {"name": "Apparel", "slug": "apparel", "position": "0"}
    )
    assert response.status_code == 302
    apparel = Category.objects.get(slug="apparel")
    women = CategoryFactory(name="Women", parent=apparel)
    url = f"/admin/catalog/category/{apparel.pk}/change/"

    cycle = admin.post(url, {"name": "Apparel", "parent": str(women.pk), "position": "0"})
    assert cycle.status_code == 200
    assert "cannot be placed under itself" in cycle.content.decode()

    renamed = admin.post(url, {"name": "Clothing", "parent": "", "position": "3"})
    assert renamed.status_code == 302
    apparel.refresh_from_db()
    assert (apparel.name, apparel.position, apparel.parent, apparel.slug) == (
        "Clothing",
        3,
        None,
        "apparel",
    )


def test_deleting_a_variant_inline_removes_it_and_its_barcodes(admin):
    keep, drop = VariantFactory(sku="KEEP-1"), None
    product = keep.product
    drop = VariantFactory(product=product, sku="DROP-1")
    BarcodeFactory(variant=drop, code=GOOD)
    rows = {}
    for index, variant in enumerate([keep, drop]):
        rows |= _variant_row(index, id=str(variant.pk), product=str(product.pk),
                             name=variant.name, options="size=M")  # fmt: skip
    rows["variants-1-DELETE"] = "on"
    data = _product_form(product.category, name=product.name, slug=product.slug)
    data |= _management("variants", 2, initial=2) | rows

    response = admin.post(f"/admin/catalog/product/{product.pk}/change/", data)

    assert response.status_code == 302, response.context["errors"]
    assert list(product.variants.values_list("sku", flat=True)) == ["KEEP-1"]
    assert not Barcode.objects.filter(code=GOOD).exists()
