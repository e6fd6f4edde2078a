"""Barcode validation: GTIN lengths and the GS1 check digit."""

import pytest

from catalog.domain import InvalidBarcodeError, gtin_check_digit, gtin_kind, make_gtin
from catalog.errors import DuplicateBarcode, InvalidBarcode
from catalog.services import barcode_add
from tests.factories.catalog import VariantFactory


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("4006381333931", "EAN-13"),
        ("96385074", "EAN-8"),
        ("036000291452", "UPC-A"),
        ("10012345678902", "GTIN-14"),
    ],
)
def test_valid_gtins_are_accepted_with_their_kind(code, kind):
    assert gtin_kind(code) == kind


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("4006381333932", "check digit"),
        ("96385075", "check digit"),
        ("036000291453", "check digit"),
        ("123456789", "8, 12, 13 or 14"),
        ("40063813339X1", "digits only"),
        ("", "digits only"),
        ("４００６３８１３３３９３１", "digits only"),
    ],
)
def test_invalid_gtins_are_rejected_with_the_reason(code, reason):
    with pytest.raises(InvalidBarcodeError, match=reason):
        gtin_kind(code)


def test_make_gtin_appends_the_check_digit_that_validation_expects():
    assert gtin_check_digit("400638133393") == 1
    assert make_gtin("400638133393") == "4006381333931"


def test_barcode_add_refuses_a_bad_check_digit_and_stores_nothing(db):
    variant = VariantFactory()
    with pytest.raises(InvalidBarcode) as exc:
        barcode_add(variant=variant, code="4006381333932")
    assert exc.value.details["reason"] == "the check digit is wrong"
    assert variant.barcodes.count() == 0


def test_a_barcode_belongs_to_one_variant_only(db):
    first, second = VariantFactory(), VariantFactory()
    barcode_add(variant=first, code="4006381333931")
    with pytest.raises(DuplicateBarcode):
        barcode_add(variant=second, code="4006381333931")
    assert second.barcodes.count() == 0
