"""Reading stock count files (CSV/XLSX) through django-import-export's format classes.

Only the file → (headers, rows) step lives here; which rows are valid is decided by
`domain.parse_count_rows` and `services.stock_count_import`, so nothing is applied
unless the whole file is good.
"""

from django.utils.translation import gettext as _
from import_export.formats.base_formats import CSV, XLSX

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
