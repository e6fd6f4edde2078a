"""`?format=csv`: a report as a spreadsheet-ready CSV (the rows, then a "total" line)."""

import csv
import io

from rest_framework.renderers import BaseRenderer

# A cell starting with one of these is read as a formula by spreadsheets: prefixed with '.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value) -> str:
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_START) and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class ReportCSVRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        rows = data.get("rows", [])
        totals = data.get("totals", {})
        columns: list[str] = []
        for row in rows:
            columns.extend(key for key in row if key not in columns)
        columns.extend(key for key in totals if key not in columns)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_cell(row.get(key)) for key in columns])
        if totals:
            group = columns[0] if columns else ""
            writer.writerow(
                [
                    "total" if key == group and key not in totals else _cell(totals.get(key))
                    for key in columns
                ]
            )
        return out.getvalue().encode(self.charset)
