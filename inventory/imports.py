"""Reading stock count files (CSV/XLSX) through django-import-export's format classes.

Only the file → (headers, rows) step and the check that every row is at one of the
importing user's stores live here; which rows are valid is decided by
`domain.parse_count_rows` and `services.stock_count_import`, so nothing is applied
unless the whole file is good.
"""

from django.utils.translation import gettext as _
from import_export.formats.base_formats import CSV, XLSX

from inventory.domain import parse_count_rows
from inventory.errors import ImportRejected

FORMATS = {".csv": CSV, ".xlsx": XLSX}


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
