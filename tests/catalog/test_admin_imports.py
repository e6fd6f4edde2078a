"""Catalog imports staff understand: the format recognised from the file, errors by the line
the spreadsheet shows with a CSV report, a preview of the changed rows only, and a warning
for variants the file leaves without a price or without stock."""

import csv
import io
import re
from html import unescape

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.domain import make_gtin
from catalog.models import Variant
from catalog.resources import COLUMNS
from tests.factories.catalog import CategoryFactory, ProductFactory, VariantFactory
from tests.factories.inventory import StockLevelFactory
from tests.factories.pricing import PriceFactory
from tests.staff import conftest as staff_fixtures

pytestmark = pytest.mark.django_db

shop = staff_fixtures.shop
member = staff_fixtures.member

GOOD = make_gtin("400638133393")
BAD_CHECK_DIGIT = GOOD[:-1] + str((int(GOOD[-1]) + 1) % 10)
URL = "/admin/catalog/variant/import/"


def _row(sku: str, barcodes: str = "", vat_rate: str = "20") -> list[str]:
    return [sku, "linen-shirt", "Linen shirt", "shirts", "Northwind", "", "size=M", vat_rate,
            barcodes, "1"]  # fmt: skip


def _csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    return out.getvalue().encode()


def _xlsx(rows: list[list[str]]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(list(COLUMNS))
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _upload(browser, content: bytes, name: str = "catalog.csv"):
    # No format field: the page has none, the file says what it is.
    return browser.post(URL, {"import_file": SimpleUploadedFile(name, content), "resource": "0"})


@pytest.fixture
def merchandiser(db, member):
    CategoryFactory(slug="shirts")
    return member("merchandiser")


def test_a_bad_row_is_shown_on_the_spreadsheet_line_and_in_the_error_report(merchandiser):
    response = _upload(
        merchandiser, _csv([_row("SHIRT-S", GOOD), _row("SHIRT-M", BAD_CHECK_DIGIT)])
    )

    assert response.status_code == 200
    html = response.content.decode()
    problems = html.split('id="import-problems"', 1)[1].split("</table>", 1)[0]
    # header on line 1, SHIRT-S on line 2, SHIRT-M on line 3
    line = re.search(r'<tr data-line="(\d+)">\s*<td>\d+</td>\s*<td>(\w+)</td>', problems)
    assert (line[1], line[2]) == ("3", "barcodes")
    assert "the check digit is wrong" in problems
    report = unescape(re.search(r'name="report" value="([^"]+)"', html)[1])

    download = merchandiser.post("/admin/catalog/variant/import/errors.csv", {"report": report})

    assert download.status_code == 200
    assert download["Content-Disposition"] == 'attachment; filename="import-errors.csv"'
    rows = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig"))))
    assert rows[0] == ["line", "column", "error"]
    assert [(r[0], r[1]) for r in rows[1:]] == [("3", "barcodes")]
    assert BAD_CHECK_DIGIT in rows[1][2] and "check digit" in rows[1][2]
    assert not Variant.objects.exists()


def test_a_forged_or_tampered_error_report_is_refused(merchandiser):
    response = merchandiser.post(
        "/admin/catalog/variant/import/errors.csv", {"report": '[[2,"sku","=1+1"]]'}
    )
    assert response.status_code == 400


def test_the_report_neutralises_cells_a_spreadsheet_would_run_as_formulas(merchandiser):
    response = _upload(merchandiser, _csv([_row("SHIRT-S")[:9] + ["=1+1"]]))
    report = unescape(re.search(r'name="report" value="([^"]+)"', response.content.decode())[1])

    download = merchandiser.post("/admin/catalog/variant/import/errors.csv", {"report": report})

    rows = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig"))))
    assert rows[1][:2] == ["2", "is_active"]
    assert not rows[1][2].startswith("=")


def test_the_preview_shows_only_changed_rows_and_counts_the_unchanged(merchandiser):
    _upload_and_confirm(merchandiser, _csv([_row("SHIRT-S"), _row("SHIRT-M")]))

    response = _upload(
        merchandiser, _csv([_row("SHIRT-S"), _row("SHIRT-M", vat_rate="10"), _row("SHIRT-L")])
    )

    html = response.content.decode()
    changes = html.split('id="import-changes"', 1)[1].split("</table>", 1)[0]
    assert re.findall(r'<tr class="(\w+)" data-line="(\d+)">', changes) == [
        ("update", "3"),
        ("new", "4"),
    ]
    assert "SHIRT-S" not in changes
    summary = html.split('id="import-summary"', 1)[1].split("</p>", 1)[0]
    assert "1 new variant" in summary and "1 changed" in summary
    assert "1 unchanged line hidden" in summary
    assert "confirm_form" in response.context


def _upload_and_confirm(browser, content: bytes) -> None:
    preview = _upload(browser, content)
    done = browser.post(
        "/admin/catalog/variant/process_import/", preview.context["confirm_form"].initial
    )
    assert done.status_code == 302


def test_new_variants_without_a_price_or_stock_are_named_in_the_preview_and_after_loading(
    merchandiser, shop
):
    priced = VariantFactory(sku="SHIRT-S", product=ProductFactory(slug="linen-shirt"))
    PriceFactory(variant=priced)
    StockLevelFactory(variant=priced, location=shop.store, on_hand=4)
    content = _csv([_row("SHIRT-S", vat_rate="10"), _row("SHIRT-NEW")])

    preview = _upload(merchandiser, content)

    warnings = preview.content.decode().split('id="import-warnings"', 1)[1].split("</ul>")[0]
    assert "1 variant(s) will have no price" in warnings and "SHIRT-NEW" in warnings
    assert "1 variant(s) will have no stock at any location" in warnings
    assert "SHIRT-S" not in warnings
    done = merchandiser.post(
        "/admin/catalog/variant/process_import/", preview.context["confirm_form"].initial
    )
    shown = [str(m) for m in done.wsgi_request._messages]
    assert any("will have no price" in m and "SHIRT-NEW" in m for m in shown)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("catalog.csv", _csv([_row("SHIRT-S")])),
        ("catalog.xlsx", _xlsx([_row("SHIRT-S")])),
        ("export from the shop", _xlsx([_row("SHIRT-S")])),  # no extension: the content says
    ],
)
def test_the_format_is_recognised_from_the_file(merchandiser, name, content):
    response = _upload(merchandiser, content, name)

    assert response.status_code == 200
    assert response.context["confirm_form"] is not None
    expected = "xlsx" if content.startswith(b"PK") else "csv"
    assert response.context["detected_format"] == expected
    assert 'data-line="2"' in response.content.decode()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "old Excel workbook"),
        ("catalog.xlsx", _csv([_row("SHIRT-S")]), "is not an Excel workbook"),
        ("catalog.csv", "sku;Hemd größe\n".encode("cp1252"), "CSV UTF-8"),
    ],
)
def test_a_file_that_is_neither_xlsx_nor_utf8_csv_is_refused_with_a_reason(
    merchandiser, name, content, message
):
    response = _upload(merchandiser, content, name)

    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors["import_file"])
    assert "result" not in response.context


def test_opening_the_import_page_writes_nothing(merchandiser):
    merchandiser.get(URL)
    with CaptureQueriesContext(connection) as queries:
        assert merchandiser.get(URL).status_code == 200
        assert merchandiser.get("/admin/catalog/product/import/").status_code == 200
    assert not [
        q for q in queries if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
    ]


def test_a_role_without_the_catalog_permissions_cannot_import_or_download_a_report(
    merchandiser, shop, member
):
    response = _upload(merchandiser, _csv([_row("SHIRT-M", BAD_CHECK_DIGIT)]))
    report = unescape(re.search(r'name="report" value="([^"]+)"', response.content.decode())[1])
    for role in ("store_associate", "store_manager"):
        browser = member(role, shop.store)

        assert browser.get(URL).status_code == 403
        assert _upload(browser, _csv([_row("SHIRT-X")])).status_code == 403
        refused = browser.post("/admin/catalog/variant/import/errors.csv", {"report": report})
        assert refused.status_code == 403
    assert not Variant.objects.exists()
