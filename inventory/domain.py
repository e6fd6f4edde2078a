"""Pure inventory rules: line validation, shortfalls, distances, opening hours, count-file rows.

Nothing here touches the database, so the rules are tested without one and shared by
services, selectors, the API and the admin import.
"""

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils.translation import gettext as _

from inventory.errors import InvalidNear, InvalidQuantity

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
EARTH_RADIUS_KM = 6371.0088
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")


def _as_int(value) -> int | None:
    # bool is an int subclass; True is never a quantity.
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def merge_lines(
    lines: Iterable[tuple[int, int]], *, allow_zero: bool = False, allow_negative: bool = False
) -> dict[int, int]:
    """Sum (variant_id, quantity) lines per variant, sorted by variant id.

    Raises InvalidQuantity listing every bad line: a quantity must be a whole number above
    zero (or zero / any sign where the operation allows it). Duplicate variants are summed so
    a level is locked and written once.
    """
    merged: dict[int, int] = {}
    bad: list[dict] = []
    for line in lines:
        try:
            variant_id, quantity = line
        except (TypeError, ValueError):
            bad.append({"line": repr(line)})
            continue
        vid, qty = _as_int(variant_id), _as_int(quantity)
        if vid is None or qty is None:
            bad.append({"variant_id": variant_id, "quantity": quantity})
            continue
        if (qty == 0 and not allow_zero) or (qty < 0 and not allow_negative):
            bad.append({"variant_id": vid, "quantity": qty})
            continue
        merged[vid] = merged.get(vid, 0) + qty
    if bad:
        raise InvalidQuantity(details={"lines": bad})
    if not merged:
        raise InvalidQuantity(_("At least one line is needed."), details={"lines": []})
    return dict(sorted(merged.items()))


@dataclass(frozen=True)
class Shortfall:
    variant_id: int
    requested: int
    available: int


def shortfalls(requested: Mapping[int, int], available: Mapping[int, int]) -> list[Shortfall]:
    """Every line whose requested quantity exceeds what is available (missing = 0)."""
    short = []
    for variant_id, quantity in requested.items():
        have = max(available.get(variant_id, 0), 0)
        if quantity > have:
            short.append(Shortfall(variant_id, quantity, have))
    return short


def needs_attention(*, on_hand: int, reserved: int) -> bool:
    """A level needs staff when it holds less than nothing or less than it promised."""
    return on_hand < 0 or on_hand < reserved


def haversine_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in kilometres (good to ~0.5% — plenty to sort stores)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def parse_near(text: str) -> tuple[float, float]:
    """`"52.52,13.40"` → (52.52, 13.40); raises InvalidNear for anything else."""
    parts = [p.strip() for p in (text or "").split(",")]
    try:
        if len(parts) != 2:
            raise ValueError
        lat, lng = float(parts[0]), float(parts[1])
    except ValueError as exc:
        raise InvalidNear(details={"near": text}) from exc
    if not (math.isfinite(lat) and math.isfinite(lng)) or abs(lat) > 90 or abs(lng) > 180:
        raise InvalidNear(details={"near": text})
    return lat, lng


def is_valid_time_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        return False
    return True


def _parse_hhmm(text: str) -> time | None:
    if text == "24:00":
        return time.max
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def opening_hours_problems(hours) -> list[str]:
    """Why `hours` is not `{"mon": [["09:00", "20:00"], …], …}`; empty when it is fine.

    Days are mon…sun; a missing day or an empty list means closed; intervals are
    HH:MM–HH:MM on the same day (close may be 24:00), in order and not overlapping.
    """
    if not isinstance(hours, dict):
        return [_("Opening hours must be an object keyed by weekday (mon…sun).")]
    problems = []
    for day, intervals in hours.items():
        if day not in WEEKDAYS:
            problems.append(_("Unknown weekday %(day)s.") % {"day": day})
            continue
        if not isinstance(intervals, list):
            problems.append(_("%(day)s: a list of [open, close] pairs is expected.") % {"day": day})
            continue
        previous_close = None
        for interval in intervals:
            if (
                not isinstance(interval, list | tuple)
                or len(interval) != 2
                or not all(isinstance(t, str) and _HHMM.match(t) for t in interval)
            ):
                problems.append(
                    _("%(day)s: %(value)s is not [HH:MM, HH:MM].") % {"day": day, "value": interval}
                )
                continue
            opens, closes = _parse_hhmm(interval[0]), _parse_hhmm(interval[1])
            if opens >= closes or (previous_close is not None and opens < previous_close):
                problems.append(
                    _("%(day)s: intervals must be in order and not overlap.") % {"day": day}
                )
            previous_close = closes
    return problems


def is_open_at(hours: Mapping[str, Sequence[Sequence[str]]], local: datetime) -> bool:
    """Whether a location with these (valid) opening hours is open at a local wall-clock time."""
    now = local.time().replace(tzinfo=None)
    for opens, closes in hours.get(WEEKDAYS[local.weekday()], ()):
        if _parse_hhmm(opens) <= now < _parse_hhmm(closes):
            return True
    return False


def location_rule_problems(
    *, kind: str, is_pickup_point: bool, latitude, longitude
) -> dict[str, list[str]]:
    """Rules across a location's fields: a warehouse is no pickup point; coordinates in pairs."""
    problems: dict[str, list[str]] = {}
    if (latitude is None) != (longitude is None):
        problems["latitude"] = [_("Give both latitude and longitude, or neither.")]
    if kind == "warehouse" and is_pickup_point:
        problems["is_pickup_point"] = [_("A warehouse is not a pickup point.")]
    return problems


# --- stock count files -----------------------------------------------------------------

COUNT_COLUMN_ALIASES = {
    "location": ("location", "location_code", "store", "warehouse"),
    "sku": ("sku", "variant", "variant_sku"),
    "counted": ("counted", "count", "quantity", "on_hand"),
}


@dataclass(frozen=True)
class CountRow:
    row: int  # 1-based data row number as the user sees it in the sheet (header is row 1)
    location: str
    sku: str
    counted: int


def _column_index(headers: Sequence[str]) -> dict[str, int]:
    normalized = [str(h or "").strip().lower() for h in headers]
    found = {}
    for column, aliases in COUNT_COLUMN_ALIASES.items():
        for alias in aliases:
            if alias in normalized:
                found[column] = normalized.index(alias)
                break
    return found


def parse_count_rows(
    headers: Sequence[str], rows: Iterable[Sequence], *, default_location: str = ""
) -> tuple[list[CountRow], list[str]]:
    """Read count-file rows into CountRows, collecting every problem instead of stopping.

    Columns (any order, case-insensitive): location (optional when a default location is
    given), sku, counted. A count is a whole number ≥ 0; "12.0" from a spreadsheet is 12.
    The same location+SKU twice is an error: which count would win is not obvious.
    """
    columns = _column_index(headers)
    errors: list[str] = []
    missing = [c for c in ("sku", "counted") if c not in columns]
    if "location" not in columns and not default_location:
        missing.insert(0, "location")
    if missing:
        return [], [_("Missing column(s): %(cols)s.") % {"cols": ", ".join(missing)}]
    parsed: list[CountRow] = []
    seen: dict[tuple[str, str], int] = {}
    for number, row in enumerate(rows, start=2):

        def cell(column: str, row=row) -> str:
            index = columns.get(column)
            if index is None or index >= len(row) or row[index] is None:
                return ""
            return str(row[index]).strip()

        location = (cell("location") or default_location).upper()  # codes are upper case
        sku, raw = cell("sku"), cell("counted")
        if not (location or sku or raw):
            continue  # blank spreadsheet rows
        if not location or not sku:
            errors.append(_("Row %(row)d: location and SKU are required.") % {"row": number})
            continue
        try:
            as_float = float(raw)
            if not as_float.is_integer():
                raise ValueError
            counted = int(as_float)
        except ValueError:
            errors.append(
                _("Row %(row)d: count %(value)r is not a whole number.")
                % {"row": number, "value": raw}
            )
            continue
        if counted < 0:
            errors.append(_("Row %(row)d: a count cannot be negative.") % {"row": number})
            continue
        key = (location, sku)
        if key in seen:
            errors.append(
                _("Row %(row)d: %(sku)s at %(loc)s was already counted in row %(first)d.")
                % {"row": number, "sku": sku, "loc": location, "first": seen[key]}
            )
            continue
        seen[key] = number
        parsed.append(CountRow(number, location, sku, counted))
    if not parsed and not errors:
        errors.append(_("The file has no rows."))
    return parsed, errors


def lead_time_problems(
    *, source_id: int | None, destination_id: int | None, destination_is_pickup: bool
) -> dict[str, list[str]]:
    """What is wrong with a ship-to-store route (field → problems; empty when none): goods
    go from one location to another, and only to a store that hands orders over."""
    problems: dict[str, list[str]] = {}
    if source_id is not None and source_id == destination_id:
        problems["source"] = [_("A route goes from one location to another.")]
    if destination_id is not None and not destination_is_pickup:
        problems["destination"] = [_("Goods are sent to a pickup store.")]
    return problems
