"""Pure catalog rules: GTIN barcode validation (EAN-8, UPC-A, EAN-13, GTIN-14) and VAT rates."""

from decimal import Decimal

GTIN_KINDS = {8: "EAN-8", 12: "UPC-A", 13: "EAN-13", 14: "GTIN-14"}


class InvalidBarcodeError(ValueError):
    """Raised with a human reason when a code is not a valid GTIN."""


def gtin_check_digit(body: str) -> int:
    """The GS1 mod-10 check digit for the digits before it (weights 3,1,3,… from the right)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def gtin_kind(code: str) -> str:
    """Return the GTIN kind of `code` or raise InvalidBarcodeError saying why not."""
    if not code.isdigit() or not code.isascii():
        raise InvalidBarcodeError("a barcode has digits only")
    kind = GTIN_KINDS.get(len(code))
    if kind is None:
        raise InvalidBarcodeError("a barcode has 8, 12, 13 or 14 digits")
    if gtin_check_digit(code[:-1]) != int(code[-1]):
        raise InvalidBarcodeError("the check digit is wrong")
    return kind


def is_valid_gtin(code: str) -> bool:
    try:
        gtin_kind(code)
    except InvalidBarcodeError:
        return False
    return True


def make_gtin(body: str) -> str:
    """Append the check digit to a 7/11/12/13-digit body (demo data and tests)."""
    return body + str(gtin_check_digit(body))


def is_valid_vat_rate(rate: Decimal) -> bool:
    return Decimal("0") <= rate < Decimal("100")
