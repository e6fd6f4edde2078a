"""Output without a field tree per response.

DRF builds a serializer's fields (a deep copy of every declared field, nested serializers
included) each time one is made: for an order with its lines, tenders and transitions that
is most of the time spent showing it. An output serializer that reads nothing from its
context shows every object the same way, so one bound instance per class can show them all.
"""

from functools import cache
from typing import Any

from rest_framework.serializers import BaseSerializer
from rest_framework.utils.serializer_helpers import ReturnDict, ReturnList


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
