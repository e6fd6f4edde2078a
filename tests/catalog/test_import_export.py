"""Bulk CSV/XLSX import and export of products and variants: all-or-nothing, every bad row
reported with its number and reason, and an exported file re-imports unchanged."""

import csv
import io
import threading
from decimal import Decimal

import openpyxl
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from import_export.formats import base_formats

from catalog.domain import make_gtin
from catalog.errors import DuplicateSku, InvalidBarcode
from catalog.models import Barcode, Product, Variant
from catalog.resources import COLUMNS, CatalogRowResource, options_format, options_parse
from catalog.services import variant_barcodes_set, variant_upsert
from tests.factories.catalog import (
    BarcodeFactory,
    CategoryFactory,
    ProductFactory,
    VariantFactory,
)

pytestmark = pytest.mark.django_db

TEE_M = make_gtin("400000000001")
TEE_L = make_gtin("400000000002")
PHONE = make_gtin("690000000001")
PHONE_UPC = make_gtin("01234500001")


def _row(**values: str) -> dict[str, str]:
    base = {
        "sku": "",
        "product": "",
        "product_name": "",
        "category": "",
        "brand": "",
        "variant_name": "",
        "options": "",
        "vat_rate": "20",
        "barcodes": "",
        "is_active": "1",
    }
    return base | values


def _csv(rows: list[dict[str, str]], columns=COLUMNS) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _xlsx(rows: list[list]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _import(data, file_format=base_formats.CSV, dry_run: bool = False):
    dataset = file_format().create_dataset(data)
    return CatalogRowResource().import_data(dataset, dry_run=dry_run)


def _errors(result) -> dict[int, dict[str, list[str]]]:
    """Row number -> column -> messages, as the admin shows them."""
    return {row.number: row.error_dict for row in result.invalid_rows}


def _snapshot() -> list[tuple]:
    """Everything an import can change, in a comparable form."""
    return [
        (
            v.sku,
            v.product.slug,
            v.product.name,
            v.product.category.slug,
            v.product.brand,
            v.name,
            v.options,
            v.vat_rate,
            v.is_active,
            sorted(b.code for b in v.barcodes.all()),
        )
        for v in Variant.objects.select_related("product__category")
        .prefetch_related("barcodes")
        .order_by("sku")
    ]


@pytest.fixture
def categories():
    apparel = CategoryFactory(name="Apparel", slug="apparel")
    return {
        "tees": CategoryFactory(name="T-shirts", slug="apparel-t-shirts", parent=apparel),
        "phones": CategoryFactory(name="Phones", slug="phones"),
    }


def _good_rows() -> list[dict[str, str]]:
    return [
        _row(
            sku="TEE-001-M",
            product="basic-tee",
            product_name="Basic tee",
            category="apparel-t-shirts",
            brand="Northwind",
            variant_name="Red / M",
            options="colour=Red; size=M",
            barcodes=TEE_M,
        ),
        _row(
            sku="TEE-001-L",
            product="basic-tee",
            product_name="Basic tee",
            category="apparel-t-shirts",
            brand="Northwind",
            variant_name="Red / L",
            options="colour=Red; size=L",
            barcodes=TEE_L,
            is_active="0",
        ),
        _row(
            sku="PHN-100-128",
            product="x5-phone",
            product_name="X5 phone",
            category="phones",
            brand="Novatek",
            options="storage=128 GB",
            vat_rate="20.00",
            barcodes=f"{PHONE}|{PHONE_UPC}",
        ),
    ]


def test_a_good_csv_creates_products_variants_and_barcodes(categories):
    result = _import(_csv(_good_rows()))

    assert not result.has_errors() and not result.has_validation_errors()
    assert result.totals["new"] == 3
    tee = Product.objects.get(slug="basic-tee")
    assert (tee.name, tee.brand, tee.category) == ("Basic tee", "Northwind", categories["tees"])
    medium = Variant.objects.get(sku="TEE-001-M")
    assert medium.product == tee
    assert medium.options == {"colour": "Red", "size": "M"}
    assert medium.vat_rate == Decimal("20.00")
    assert medium.is_active is True
    assert Variant.objects.get(sku="TEE-001-L").is_active is False
    phone = Variant.objects.get(sku="PHN-100-128")
    assert list(phone.barcodes.order_by("id").values_list("code", "kind")) == [
        (PHONE, "EAN-13"),
        (PHONE_UPC, "UPC-A"),
    ]


def test_a_good_xlsx_loads_even_with_numbers_typed_into_cells(categories):
    data = _xlsx(
        [
            list(COLUMNS),
            # Excel users type barcodes and VAT rates as numbers; booleans as TRUE/FALSE.
            ["SHOE-1-42", "trail-shoe", "Trail shoe", "apparel-t-shirts", "Stride", "EU 42",
             "size=EU 42", 20, int(TEE_M), True],
            ["SHOE-1-43", "trail-shoe", "Trail shoe", "apparel-t-shirts", "Stride", "EU 43",
             "size=EU 43", 20.0, float(TEE_L), False],
        ]
    )  # fmt: skip

    result = _import(data, file_format=base_formats.XLSX)

    assert not result.has_errors() and not result.has_validation_errors(), _errors(result)
    assert Variant.objects.get(sku="SHOE-1-42").barcodes.get().code == TEE_M
    late = Variant.objects.get(sku="SHOE-1-43")
    assert (late.vat_rate, late.is_active, late.barcodes.get().code) == (
        Decimal("20.00"),
        False,
        TEE_L,
    )


def test_a_file_with_bad_rows_is_rejected_whole_and_every_bad_row_is_reported(categories):
    other_product = ProductFactory(slug="someone-elses", category=categories["phones"])
    taken = BarcodeFactory(
        variant=VariantFactory(product=other_product, sku="OTHER-1"), code=make_gtin("500000000009")
    )
    before = _snapshot()
    bad_check_digit = TEE_M[:-1] + str((int(TEE_M[-1]) + 1) % 10)
    rows = [
        *_good_rows(),  # rows 1-3 are fine on their own
        _row(sku="TEE-001-M", product="basic-tee", product_name="Basic tee",
             category="apparel-t-shirts", brand="Northwind"),  # 4: SKU of row 1 again
        _row(sku="BAD-1", product="p-1", product_name="P1", category="phones",
             barcodes=bad_check_digit),  # 5
        _row(sku="BAD-2", product="p-2", product_name="P2", category="phones",
             barcodes=taken.code),  # 6: barcode of another variant
        _row(sku="BAD-3", product="p-3", product_name="P3", category="no-such-category"),  # 7
        _row(sku="BAD-4", product="p-4", product_name="P4", category="phones",
             vat_rate="120"),  # 8
        _row(sku="BAD-5", product="p-5", product_name="P5", category="phones",
             vat_rate="twenty"),  # 9
        _row(sku="OTHER-1", product="p-6", product_name="P6", category="phones"),  # 10
        _row(sku="BAD-7", product="p-7", product_name="P7", category="phones",
             options="size M"),  # 11
        _row(sku="", product="p-8", product_name="", category="phones"),  # 12
    ]  # fmt: skip

    result = _import(_csv(rows))

    errors = _errors(result)
    assert set(errors) == {1, 4, 5, 6, 7, 8, 9, 10, 11, 12}
    assert "appears more than once" in errors[1]["sku"][0]
    assert "rows 1, 4" in errors[4]["sku"][0]
    assert "check digit is wrong" in errors[5]["barcodes"][0]
    assert "belongs to variant OTHER-1" in errors[6]["barcodes"][0]
    assert "Unknown category no-such-category" in errors[7]["category"][0]
    assert "0 to 99.99" in errors[8]["vat_rate"][0]
    assert "not a number" in errors[9]["vat_rate"][0]
    assert "belongs to product someone-elses" in errors[10]["sku"][0]
    assert "name=value" in errors[11]["options"][0]
    assert set(errors[12]) == {"sku", "product_name"}
    # Nothing at all was loaded, not even the good rows 2 and 3.
    assert _snapshot() == before
    assert not Product.objects.filter(slug__in=["basic-tee", "x5-phone"]).exists()


def test_rows_of_one_product_must_agree_on_its_name_category_and_brand(categories):
    first, second = _good_rows()[:2]
    second |= {"product_name": "Basic T-shirt", "brand": "Other brand"}

    result = _import(_csv([first, second]))

    errors = _errors(result)
    assert set(errors) == {2}
    assert set(errors[2]) == {"product_name", "brand"}
    assert "row 1" in errors[2]["product_name"][0]
    assert not Variant.objects.exists()


def test_a_sku_differing_from_an_existing_one_only_in_letter_case_is_refused(categories):
    VariantFactory(sku="TEE-001-M")
    row = _good_rows()[0] | {"sku": "tee-001-m", "barcodes": ""}

    errors = _errors(_import(_csv([row])))

    assert "only in letter case" in errors[1]["sku"][0]
    assert Variant.objects.count() == 1


def test_a_barcode_given_to_two_rows_is_reported_on_both(categories):
    first, second = _good_rows()[:2]
    second["barcodes"] = first["barcodes"]

    errors = _errors(_import(_csv([first, second])))

    assert set(errors) == {1, 2}
    assert all("more than one row" in errors[n]["barcodes"][0] for n in (1, 2))


def test_a_file_without_a_required_column_is_refused_as_a_whole(categories):
    columns = [c for c in COLUMNS if c != "category"]

    result = _import(_csv(_good_rows(), columns=columns))

    assert result.has_errors()
    assert "no category column" in str(result.base_errors[0].error)
    assert not Variant.objects.exists()


def test_import_updates_existing_variants_and_makes_their_barcodes_exactly_the_listed_ones(
    categories,
):
    _import(_csv(_good_rows()))
    new_code = make_gtin("400000000099")
    rows = _good_rows()
    rows[0] |= {"variant_name": "Red / Medium", "vat_rate": "10", "barcodes": new_code}
    rows[2] |= {"product_name": "X5 phone (2025)", "barcodes": PHONE}

    result = _import(_csv(rows))

    assert not result.has_validation_errors(), _errors(result)
    assert (result.totals["new"], result.totals["update"], result.totals["skip"]) == (0, 2, 1)
    medium = Variant.objects.get(sku="TEE-001-M")
    assert (medium.name, medium.vat_rate) == ("Red / Medium", Decimal("10.00"))
    assert list(medium.barcodes.values_list("code", flat=True)) == [new_code]
    assert not Barcode.objects.filter(code__in=[TEE_M, PHONE_UPC]).exists()
    assert Product.objects.get(slug="x5-phone").name == "X5 phone (2025)"


def test_columns_left_out_of_the_file_keep_their_current_values(categories):
    _import(_csv(_good_rows()))
    slim = ["sku", "product", "product_name", "category", "vat_rate"]
    rows = [r | {"vat_rate": "10"} for r in _good_rows()]

    result = _import(_csv(rows, columns=slim))

    assert not result.has_validation_errors(), _errors(result)
    phone = Variant.objects.get(sku="PHN-100-128")
    assert phone.vat_rate == Decimal("10.00")
    assert sorted(phone.barcodes.values_list("code", flat=True)) == sorted([PHONE, PHONE_UPC])
    assert phone.options == {"storage": "128 GB"}
    assert Variant.objects.get(sku="TEE-001-L").is_active is False
    assert Product.objects.get(slug="basic-tee").brand == "Northwind"


def test_a_dry_run_reports_what_would_happen_and_changes_nothing(categories):
    result = _import(_csv(_good_rows()), dry_run=True)

    assert result.totals["new"] == 3
    assert not Variant.objects.exists() and not Product.objects.exists()


@pytest.mark.parametrize("file_format", [base_formats.CSV, base_formats.XLSX])
def test_an_exported_file_reimports_unchanged_here_and_rebuilds_the_same_catalog_elsewhere(
    categories, file_format
):
    _import(_csv(_good_rows()))
    VariantFactory(
        product=ProductFactory(slug="odd-one", brand="", category=categories["phones"]),
        sku="ODD-1",
        options={},
        vat_rate=Decimal("7.50"),
    )
    before = _snapshot()
    exported = file_format().export_data(CatalogRowResource().export())

    again = _import(exported, file_format=file_format)
    assert not again.has_errors() and not again.has_validation_errors(), _errors(again)
    assert again.totals["skip"] == len(before) and again.totals["update"] == 0
    assert _snapshot() == before

    Product.objects.all().delete()  # a fresh shop with the same categories
    rebuilt = _import(exported, file_format=file_format)
    assert rebuilt.totals["new"] == len(before), _errors(rebuilt)
    assert _snapshot() == before


def test_export_has_the_import_columns_and_one_row_per_variant(categories):
    _import(_csv(_good_rows()))

    dataset = CatalogRowResource().export()

    assert tuple(dataset.headers) == COLUMNS
    by_sku = {row[0]: dict(zip(COLUMNS, row, strict=True)) for row in dataset}
    assert set(by_sku) == {"TEE-001-M", "TEE-001-L", "PHN-100-128"}
    assert by_sku["PHN-100-128"]["barcodes"] == f"{PHONE}|{PHONE_UPC}"
    assert by_sku["TEE-001-M"]["options"] == "colour=Red; size=M"
    assert by_sku["TEE-001-M"]["vat_rate"] == "20.00"
    assert by_sku["TEE-001-L"]["is_active"] == "0"


def _export_queries() -> int:
    with CaptureQueriesContext(connection) as ctx:
        CatalogRowResource().export()
    return len(ctx.captured_queries)


def test_export_queries_do_not_grow_with_the_number_of_variants(categories):
    product = ProductFactory(category=categories["phones"])
    for _ in range(3):
        BarcodeFactory(variant=VariantFactory(product=product))
    few = _export_queries()
    for _ in range(40):
        BarcodeFactory(variant=VariantFactory(product=ProductFactory()))
    assert _export_queries() == few


def test_options_text_round_trips():
    assert options_parse(" size = M ;colour=Dark red; ") == {"size": "M", "colour": "Dark red"}
    assert options_format({"size": "M", "colour": "Dark red"}) == "colour=Dark red; size=M"
    for bad in ("size", "size=", "=M", "size=M; size=L"):
        with pytest.raises(ValueError):
            options_parse(bad)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_imports_of_the_same_file_load_it_once_and_never_half():
    CategoryFactory(slug="apparel-t-shirts")
    CategoryFactory(slug="phones")
    text = _csv(_good_rows())
    barrier = threading.Barrier(2)
    results, failures = [], []

    def run() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(_import(text))
        except Exception as exc:  # a crash is what this test looks for
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert failures == []
    assert len(results) == 2
    # Each import either loaded the whole file, found it already loaded, or was refused
    # whole; the catalog holds the file's rows exactly once.
    for result in results:
        refused = result.has_errors() or result.has_validation_errors()
        assert refused or result.totals["new"] + result.totals["skip"] == 3
    assert sorted(Variant.objects.values_list("sku", flat=True)) == sorted(
        row["sku"] for row in _good_rows()
    )
    assert Barcode.objects.count() == 4
    assert Product.objects.count() == 2


def test_variant_upsert_never_moves_a_variant_to_another_product(categories):
    variant = VariantFactory(sku="TEE-001-M")

    with pytest.raises(DuplicateSku) as exc:
        variant_upsert(
            sku="TEE-001-M",
            product_slug="another-product",
            product_name="Another",
            category=categories["tees"],
            vat_rate="20",
        )

    assert exc.value.details["product"] == variant.product.slug
    assert not Product.objects.filter(slug="another-product").exists()  # rolled back


def test_variant_barcodes_set_changes_nothing_when_one_code_is_bad():
    variant = VariantFactory()
    BarcodeFactory(variant=variant, code=TEE_M)

    with pytest.raises(InvalidBarcode):
        variant_barcodes_set(variant=variant, codes=[TEE_L, "4006381333932"])

    assert list(variant.barcodes.values_list("code", flat=True)) == [TEE_M]
