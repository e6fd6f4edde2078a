"""Query-string filter types shared by the API's list endpoints.

`IsoDateTimeFilter` is django-filter's, plus one check: the instant must exist in UTC.
`0001-01-01T00:00:00+01:00` and `9999-12-31T23:59:59-01:00` parse, but fall outside
Python's datetime range once converted to UTC, which the database adapter does (SQLite
raised OverflowError, a 500). Such a value is a 400 `validation_error` like any other
malformed timestamp.
"""

from datetime import UTC

import django_filters
from django import forms
from django.utils.translation import gettext_lazy as _
from django_filters.fields import IsoDateTimeField as _IsoDateTimeField


class IsoDateTimeField(_IsoDateTimeField):
    default_error_messages = {"out_of_range": _("The timestamp is out of range.")}

    def to_python(self, value):
        result = super().to_python(value)
        if result is not None:
            try:
                result.astimezone(UTC)
            except (OverflowError, ValueError) as exc:
                raise forms.ValidationError(
                    self.error_messages["out_of_range"], code="out_of_range"
                ) from exc
        return result


class IsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = IsoDateTimeField
