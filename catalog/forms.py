"""The catalog import form: staff pick a file, the format is recognised from the file itself.

Staff should not have to know whether their spreadsheet is "CSV" or "XLSX": an Excel
workbook is a zip archive (it starts with the bytes `PK\\x03\\x04`), anything else must be
UTF-8 text, read as CSV. The file's extension only sharpens the message when the content
does not match it (an `.xlsx` that is not a workbook, an old binary `.xls`). The import
itself stays django-import-export's: the form only fills in the `format` choice its admin
view expects.
"""

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from import_export.formats import base_formats
from import_export.forms import ImportForm

_ZIP_MAGIC = b"PK\x03\x04"
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the binary .xls of Excel 97-2003
_HEAD_BYTES = 4096


def import_format_detect(*, name: str, head: bytes) -> type[base_formats.Format]:
    """The format of an uploaded file from its first bytes (and its name, for the message).

    Raises ValueError with a sentence for staff when the file is neither an XLSX workbook
    nor UTF-8 text.
    """
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if head.startswith(_ZIP_MAGIC):
        return base_formats.XLSX
    if head.startswith(_OLE2_MAGIC) or extension == "xls":
        raise ValueError(
            _(
                "This is an old Excel workbook (.xls). Save it as an Excel workbook (.xlsx) "
                "or as CSV (UTF-8) and upload it again."
            )
        )
    if extension == "xlsx":
        raise ValueError(_("This file is named .xlsx but is not an Excel workbook."))
    if b"\x00" in head or not _is_utf8(head):
        raise ValueError(
            _(
                "This file is neither an Excel workbook (.xlsx) nor CSV text in UTF-8. In "
                'Excel choose "Save as" and "CSV UTF-8" or "Excel workbook".'
            )
        )
    return base_formats.CSV


def _is_utf8(head: bytes) -> bool:
    # The head may end inside a multi-byte character: allow up to three cut-off bytes.
    for cut in range(4):
        try:
            head[: len(head) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
        return True
    return False


class CatalogImportForm(ImportForm):
    """django-import-export's import form with the format detected instead of chosen."""

    def __init__(self, formats, resources, **kwargs):
        super().__init__(formats, resources, **kwargs)
        self._formats = list(formats)
        self.fields["format"].required = False
        self.fields["format"].widget = forms.HiddenInput()
        self.fields["import_file"].help_text = gettext_lazy(
            "A CSV file (UTF-8) or an Excel workbook (.xlsx): the format is recognised from "
            "the file. Line 1 is the header with the column names."
        )

    @property
    def media(self):
        # The library's script guesses the format dropdown from the extension; there is none.
        return forms.Media()

    def clean(self):
        cleaned = super().clean()
        upload = cleaned.get("import_file")
        if upload is None:
            return cleaned
        upload.seek(0)
        head = upload.read(_HEAD_BYTES)
        upload.seek(0)
        try:
            detected = import_format_detect(name=upload.name or "", head=head)
        except ValueError as exc:
            self.add_error("import_file", str(exc))
            return cleaned
        if detected not in self._formats:
            self.add_error("import_file", _("This file format cannot be imported here."))
            return cleaned
        cleaned["format"] = str(self._formats.index(detected))
        # The format error of a posted value that does not match is moot now.
        self.errors.pop("format", None)
        return cleaned

    def detected_format_title(self) -> str:
        index = self.cleaned_data.get("format") if hasattr(self, "cleaned_data") else None
        if index in (None, ""):
            return ""
        return self._formats[int(index)]().get_title()
