"""Cursor (keyset) pagination: stable pages under concurrent inserts, no COUNT(*).

A cursor is opaque to clients but arrives as untrusted input: anything that is not a
cursor this API could have handed out (bad base64, non-ASCII, a position that is not a
value of the ordering column, an id past the column's range, a NUL byte) answers 400
`invalid_cursor` in the error shape, never a 404 or a database error.
"""

import binascii
from base64 import b64decode
from urllib import parse

from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connection, models
from django.utils.translation import gettext_lazy as _
from rest_framework import pagination

from core.errors import ValidationFailed


class InvalidCursor(ValidationFailed):
    code = "invalid_cursor"
    message = _("The cursor is not valid; start again from the first page.")


class CursorPagination(pagination.CursorPagination):
    ordering = "-id"
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100
    _model: type[models.Model] | None = None  # of the queryset being paged

    def paginate_queryset(self, queryset, request, view=None):
        self._model = getattr(queryset, "model", None)
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request):
        """DRF's decoding, strict: only base64 of the querystring `encode_cursor` writes."""
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded is None:
            return None
        try:
            querystring = b64decode(encoded.encode("ascii"), validate=True).decode("ascii")
            tokens = parse.parse_qs(querystring, keep_blank_values=True, strict_parsing=True)
            offset = pagination._positive_int(tokens.get("o", ["0"])[0], cutoff=self.offset_cutoff)
            reverse = tokens.get("r", ["0"])[0]
            position = tokens.get("p", [None])[0]
        except (TypeError, ValueError, binascii.Error) as exc:  # UnicodeError is a ValueError
            raise InvalidCursor() from exc
        if reverse not in ("0", "1"):
            raise InvalidCursor()
        if position is not None and not self._position_is_valid(position):
            raise InvalidCursor()
        return pagination.Cursor(offset=offset, reverse=reverse == "1", position=position)

    def _position_is_valid(self, position: str) -> bool:
        """Whether `position` is a value the first ordering column can hold."""
        if "\x00" in position:
            return False
        field = self._ordering_field()
        if field is None:
            return True  # an ordering across a relation: left to the database
        try:
            value = field.to_python(position)
        except (DjangoValidationError, ValueError, TypeError, OverflowError):
            return False
        if isinstance(field, models.IntegerField | models.AutoField) and value is not None:
            low, high = connection.ops.integer_field_range(field.get_internal_type())
            return (low is None or value >= low) and (high is None or value <= high)
        return True

    def _ordering_field(self) -> models.Field | None:
        if self._model is None:
            return None
        name = self.ordering[0].lstrip("-")
        if name == "pk":
            return self._model._meta.pk
        try:
            return self._model._meta.get_field(name)
        except FieldDoesNotExist:
            return None
