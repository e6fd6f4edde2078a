"""Serializers without a field tree per request.

DRF builds a serializer's fields (a deep copy of every declared field, nested serializers
included) each time one is made: for an order with its lines, tenders and transitions that
is most of the time spent showing it, and a checkout's body with its nested parts costs
the same to read. A serializer that reads nothing from its context shows, and checks,
every object the same way, so one bound instance per class can serve every request (it
keeps no state between calls: `to_representation` and `run_validation` return their
result).
"""

from functools import cache
from typing import Any

from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.serializers import BaseSerializer
from rest_framework.settings import api_settings
from rest_framework.utils.serializer_helpers import ReturnDict, ReturnList

_NO_DATA = "No data provided"


@cache
def _bound(serializer_class: type[BaseSerializer]) -> BaseSerializer:
    serializer = serializer_class()
    serializer.fields  # noqa: B018 — build the field tree once, here
    return serializer


def represent(serializer_class: type[BaseSerializer], instance: Any) -> ReturnDict:
    """What `serializer_class(instance).data` gives, for a context-free output serializer."""
    serializer = _bound(serializer_class)
    return ReturnDict(serializer.to_representation(instance), serializer=serializer)


def represent_many(serializer_class: type[BaseSerializer], instances) -> ReturnList:
    """What `serializer_class(instances, many=True).data` gives (context-free)."""
    serializer = _bound(serializer_class)
    return ReturnList(
        [serializer.to_representation(instance) for instance in instances], serializer=serializer
    )


def validated(serializer_class: type[BaseSerializer], data: Any) -> dict[str, Any]:
    """What `serializer_class(data=data)` gives as `validated_data` after
    `is_valid(raise_exception=True)` — the same ValidationError (400) when it is not valid —
    for a context-free input serializer."""
    try:
        return _bound(serializer_class).run_validation(data)
    except ValidationError as exc:
        detail = exc.detail
        if (
            isinstance(detail, list)
            and len(detail) == 1
            and getattr(detail[0], "code", "") == "null"
        ):
            # As `Serializer.errors` words a body that is JSON null.
            detail = {api_settings.NON_FIELD_ERRORS_KEY: [ErrorDetail(_NO_DATA, code="null")]}
        raise ValidationError(detail) from None
