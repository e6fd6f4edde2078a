"""Reading stock input: count files (CSV/XLSX, through django-import-export's format
classes) and the scanned lists of the receipt and count pages.

Only the file → (headers, rows) step, the check that every row is at one of the
importing user's stores, and the text → (code, units) step of a scan list live here;
which rows are valid is decided by `domain.parse_count_rows` and
`services.stock_count_import`, and which codes exist by the catalog, so nothing is
applied unless the whole input is good.
"""

import re
from dataclasses import dataclass

from django.utils.translation import gettext as _
from import_export.formats.base_formats import CSV, XLSX

from inventory.domain import parse_count_rows
from inventory.errors import ImportRejected

FORMATS = {".csv": CSV, ".xlsx": XLSX}

# Units one line of a scan list may name: a typo such as "× 10000000" must not book a
# warehouse's worth of stock.
SCAN_UNITS_MAX = 100_000
# "CODE", or "CODE × 3" / "CODE*3" / "CODE x 3" (an "x" only after a space, so SKUs with
# an x in them stay whole).
_SCAN_LINE = re.compile(r"^(?P<code>.+?)(?:\s*[×*]\s*|\s+[xX]\s*)(?P<units>\d+)$")


def read_count_file(*, name: str, content: bytes) -> tuple[list[str], list[list]]:
    """Headers and data rows of an uploaded .csv (UTF-8, BOM tolerated) or .xlsx file."""
    suffix = name.lower()[name.lower().rfind(".") :] if "." in name else ""
    fmt = FORMATS.get(suffix)
    if fmt is None:
        raise ImportRejected(details={"errors": [_("Upload a .csv or .xlsx file.")]})
    try:
        if fmt is CSV:
            dataset = CSV().create_dataset(content.decode("utf-8-sig"))
        else:
            dataset = XLSX().create_dataset(content)
    except Exception as exc:  # noqa: BLE001 - any parser failure means an unreadable file
        raise ImportRejected(
            details={"errors": [_("The file cannot be read: %s") % exc.__class__.__name__]}
        ) from exc
    headers = [str(h) if h is not None else "" for h in (dataset.headers or [])]
    return headers, [list(row) for row in dataset]


def count_rows_outside(
    *, headers: list[str], rows: list[list], default_location: str, allowed_codes: set[str]
) -> list[str]:
    """One message per row of a count file whose location is not one of `allowed_codes`
    (the importing user's stores), so a file can only count stock where its user works.

    Rows are read the way the import reads them (`domain.parse_count_rows`); rows that are
    broken otherwise are left to the import's own checks.
    """
    parsed, _errors = parse_count_rows(headers, rows, default_location=default_location)
    return [
        _("Row %(row)d: %(loc)s is not one of your stores.")
        % {"row": row.row, "loc": row.location.upper()}
        for row in parsed
        if row.location.upper() not in allowed_codes
    ]


@dataclass(frozen=True)
class ScanList:
    """A scan list read into code → units (codes in the order first scanned) and errors."""

    units: dict[str, int]
    errors: list[str]


def read_scans(text: str) -> ScanList:
    """Read a scan list: one code per line (a barcode or a SKU), each line adding one unit,
    or "code × n" adding n. Blank lines are skipped; the same code on several lines adds up.

    A line whose count is zero or above `SCAN_UNITS_MAX` is an error naming its line.
    """
    units: dict[str, int] = {}
    errors: list[str] = []
    for number, raw in enumerate((text or "").splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        match = _SCAN_LINE.match(line)
        code, count = (match["code"].strip(), int(match["units"])) if match else (line, 1)
        if not 1 <= count <= SCAN_UNITS_MAX:
            errors.append(
                _("Line %(line)d: %(code)s × %(count)d — a line adds 1 to %(max)d units.")
                % {"line": number, "code": code, "count": count, "max": SCAN_UNITS_MAX}
            )
            continue
        units[code] = units.get(code, 0) + count
    return ScanList(units=units, errors=errors)
