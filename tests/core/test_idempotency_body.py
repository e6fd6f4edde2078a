"""The response kept for an Idempotency-Key's replays is the JSON `json.dumps(data,
default=str)` writes — whether orjson or the json module writes it."""

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from rest_framework.utils.serializer_helpers import ReturnDict

from core.api.idempotency import _body_json


@dataclass
class Point:
    x: int


@pytest.mark.parametrize(
    "data",
    [
        {"total": "104.87", "lines": [{"sku": "A", "qty": 2, "unit": "4.99"}], "ok": True},
        {"amount": Decimal("10.50"), "at": datetime(2026, 12, 1, 17, 7, 11, 913741, tzinfo=UTC)},
        {"day": date(2026, 12, 1), "id": uuid.UUID(int=7), "none": None, "f": 0.1},
        ReturnDict({"nested": {"ü": "«Nord» 🧦 \u2028"}}, serializer=None),
        {"point": Point(3), "big": 2**70},  # a dataclass as its str(); past 64 bits: json
        {1: "an integer key", "s": "x"},  # keys json turns into text: the json module
        [],
    ],
)
def test_the_kept_body_is_what_the_json_module_writes(data):
    assert json.loads(_body_json(data)) == json.loads(json.dumps(data, default=str))
