"""Inventory reads: locations (by code, for pickup, for delivery, for a staff user) and
available quantities, each in a constant number of queries however many SKUs or stores.

Customers never see negative availability: a level below zero shows as 0.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Exists, F, OuterRef, Q, QuerySet, Sum, Value
from django.db.models.functions import Greatest

from catalog.models import Barcode, Variant
from catalog.selectors import variants_by_barcode, variants_by_sku
from core.db import any_of, columns_of, select_models, select_rows
from inventory.domain import haversine_km, merge_lines
from inventory.errors import LocationNotFound, TransferNotFound
from inventory.models import (
    Location,
    LocationStaff,
    Reservation,
    StockLevel,
    StockMovement,
    Transfer,
    TransferLeadTime,
)

OPERATE_ANY_LOCATION = "inventory.operate_any_location"


def location_list(
    *,
    is_pickup_point: bool | None = None,
    ships_online: bool | None = None,
    kind: str | None = None,
    include_inactive: bool = False,
) -> QuerySet[Location]:
    qs = Location.objects.all().order_by("code")
    if not include_inactive:
        qs = qs.filter(is_active=True)
    if is_pickup_point is not None:
        qs = qs.filter(is_pickup_point=is_pickup_point)
    if ships_online is not None:
        qs = qs.filter(ships_online=ships_online)
    if kind:
        qs = qs.filter(kind=kind)
    return qs


@dataclass(frozen=True)
class LocationDistance:
    location: Location
    distance_km: float | None


def locations_by_distance(
    locations: Iterable[Location], *, lat: float, lng: float
) -> list[LocationDistance]:
    """Nearest first (haversine, in Python: a retailer has hundreds of stores, not millions);
    locations without coordinates go last, by code."""
    rows = []
    for location in locations:
        distance = None
        if location.latitude is not None and location.longitude is not None:
            distance = haversine_km(lat, lng, float(location.latitude), float(location.longitude))
        rows.append(LocationDistance(location, distance))
    rows.sort(key=lambda r: (r.distance_km is None, r.distance_km or 0.0, r.location.code))
    return rows


def location_get(*, code_or_id: str | int, include_inactive: bool = True) -> Location:
    """A location by code (codes are upper case; any case matches) or numeric id.

    Raises LocationNotFound (404). A code wins over an id that happens to look like it.
    """
    text = str(code_or_id).strip().upper()
    condition, params = 'l."code" = %s', [text]
    # '²'.isdigit() is true and int('²') raises; ids beyond a bigint name no location.
    if text.isascii() and text.isdigit() and int(text) < 2**63:
        condition, params = f'({condition} OR l."id" = %s)', [text, int(text)]
    if not include_inactive:
        condition, params = f'{condition} AND l."is_active" = %s', [*params, True]
    # Hand-written: every checkout asks for its store (the ORM would compile the OR anew).
    rows = select_models(
        f'SELECT {columns_of(Location, "l")} FROM "{Location._meta.db_table}" l WHERE {condition}',
        params,
        Location,
    )
    found = sorted((location for (location,) in rows), key=lambda loc: loc.code != text)
    if not found:
        raise LocationNotFound(details={"location": text})
    return found[0]


def locations_by_codes(*, codes: Iterable[str]) -> dict[str, Location]:
    """Upper-cased code → location for the given codes (one query); unknown codes are absent."""
    wanted = {c.strip().upper() for c in codes if c and c.strip()}
    return {loc.code: loc for loc in Location.objects.filter(code__in=wanted)}


def pickup_locations() -> QuerySet[Location]:
    return location_list(is_pickup_point=True)


def locations_for_staff(*, user) -> QuerySet[Location]:
    """The active locations a user works at; every location for superusers and holders of
    `inventory.operate_any_location` (integration accounts, area managers)."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return Location.objects.none()
    if user.is_superuser or user.has_perm(OPERATE_ANY_LOCATION):
        return location_list()
    return location_list().filter(
        pk__in=LocationStaff.objects.filter(user=user).values("location_id")
    )


def user_can_operate_at(*, user, location: Location) -> bool:
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if not user.is_staff:
        return False
    if user.is_superuser or user.has_perm(OPERATE_ANY_LOCATION):
        return True
    return LocationStaff.objects.filter(user=user, location=location).exists()


def _available():
    """available, never below zero, as a database expression."""
    return Greatest(F("on_hand") - F("reserved"), Value(0))


def availability(
    *, variant_ids: Iterable[int], location_ids: Iterable[int] | None = None
) -> dict[int, dict[int, int]]:
    """variant id → {location id → available units ≥ 0} over active locations (all of them,
    or the given ones); a location without a level shows 0. Two queries."""
    ids = sorted(set(variant_ids))
    locations = location_list()
    if location_ids is not None:
        locations = locations.filter(pk__in=set(location_ids))
    location_pks = list(locations.values_list("pk", flat=True))
    result = {vid: dict.fromkeys(location_pks, 0) for vid in ids}
    if not ids or not location_pks:
        return result
    levels = StockLevel.objects.filter(variant_id__in=ids, location_id__in=location_pks)
    for vid, lid, on_hand, reserved in levels.values_list(
        "variant_id", "location_id", "on_hand", "reserved"
    ):
        result[vid][lid] = max(on_hand - reserved, 0)
    return result


def delivery_available(*, variant_ids: Iterable[int]) -> dict[int, int]:
    """variant id → units available for delivery: the sum over active locations that ship
    online (each counted ≥ 0). One query."""
    ids = sorted(set(variant_ids))
    result = dict.fromkeys(ids, 0)
    rows = (
        StockLevel.objects.filter(
            variant_id__in=ids, location__is_active=True, location__ships_online=True
        )
        .order_by()
        .values("variant_id")
        .annotate(total=Sum(_available()))
    )
    for row in rows:
        result[row["variant_id"]] = row["total"] or 0
    return result


def location_for_delivery(*, lines: Iterable[tuple[int, int]]) -> Location | None:
    """The active ships-online location that can fulfil every line on its own, or None.

    Deterministic: the lowest `fulfilment_priority`, then the code. Two queries.
    """
    wanted = merge_lines(lines)
    candidates = {
        loc.pk: loc
        for loc in location_list(ships_online=True).order_by("fulfilment_priority", "code")
    }
    if not candidates:
        return None
    covered: dict[int, int] = dict.fromkeys(candidates, 0)
    levels = StockLevel.objects.filter(
        variant_id__in=list(wanted), location_id__in=list(candidates)
    )
    for lid, vid, on_hand, reserved in levels.values_list(
        "location_id", "variant_id", "on_hand", "reserved"
    ):
        if on_hand - reserved >= wanted[vid]:
            covered[lid] += 1
    for lid, location in candidates.items():
        if covered[lid] == len(wanted):
            return location
    return None


def _summary_sql(where: str) -> str:
    # available = on_hand - reserved, never below zero; a store counts when it has some.
    return (
        "SELECT s.variant_id, "
        "SUM(CASE WHEN l.ships_online THEN "
        "CASE WHEN s.on_hand > s.reserved THEN s.on_hand - s.reserved ELSE 0 END END), "
        "SUM(CASE WHEN l.is_pickup_point AND s.on_hand > s.reserved THEN 1 END) "
        f"FROM {StockLevel._meta.db_table} s "
        f"JOIN {Location._meta.db_table} l ON l.id = s.location_id "
        f"WHERE {where} AND l.is_active AND (l.ships_online OR l.is_pickup_point) "
        "GROUP BY s.variant_id"
    )


def variant_availability_summary(*, variant_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """variant id → {"delivery": units, "pickup_stores": stores with stock} in one query
    (for product lists, where per-store detail would be too much).

    Hand-written SQL (a page of products asks for 150 variants, and compiling the
    equivalent queryset cost more than running it); a test holds it to the ORM's answer.
    """
    ids = sorted(set(variant_ids))
    result = {vid: {"delivery": 0, "pickup_stores": 0} for vid in ids}
    if not ids:
        return result
    where, params = any_of("s.variant_id", ids)
    for vid, delivery, pickup_stores in select_rows(_summary_sql(where), params, ()):
        result[vid] = {"delivery": int(delivery or 0), "pickup_stores": int(pickup_stores or 0)}
    return result


def stock_levels(
    *, location_ids: Iterable[int] | None = None, variant_ids: Iterable[int] | None = None
) -> QuerySet[StockLevel]:
    qs = StockLevel.objects.select_related("variant", "location").order_by(
        "location_id", "variant_id"
    )
    if location_ids is not None:
        qs = qs.filter(location_id__in=set(location_ids))
    if variant_ids is not None:
        qs = qs.filter(variant_id__in=set(variant_ids))
    return qs


def movement_history(*, level: StockLevel) -> QuerySet[StockMovement]:
    return StockMovement.objects.filter(level=level).select_related("actor").order_by("-pk")


def reservations_for_reference(*, reference: str) -> QuerySet[Reservation]:
    return (
        Reservation.objects.filter(reference=reference)
        .select_related("level", "level__variant", "level__location")
        .order_by("pk")
    )


def transfer_get(*, number: str) -> Transfer:
    transfer = (
        Transfer.objects.select_related("source", "destination")
        .prefetch_related("lines__variant")
        .filter(number__iexact=number.strip())
        .first()
    )
    if transfer is None:
        raise TransferNotFound(details={"number": number})
    return transfer


@dataclass(frozen=True)
class Route:
    """A ship-to-store route into a pickup store: where from, how many days, and what kind
    of location sends (warehouses are preferred to stores, then `fulfilment_priority`)."""

    source_id: int
    source_code: str
    days: int
    is_warehouse: bool
    priority: int


def transfer_routes_into(*, destination_id: int) -> list[Route]:
    """The routes head office opened into this pickup store from active locations. One
    query."""
    rows = (
        TransferLeadTime.objects.filter(destination_id=destination_id, source__is_active=True)
        .select_related("source")
        .order_by("days", "source_id")
    )
    return [
        Route(
            source_id=row.source_id,
            source_code=row.source.code,
            days=row.days,
            is_warehouse=row.source.kind == Location.Kind.WAREHOUSE,
            priority=row.source.fulfilment_priority,
        )
        for row in rows
    ]


def transfers_for_reference(*, reference: str) -> list[Transfer]:
    """The transfers sent for a cause such as "order:A1B2", with their lines (two queries)."""
    return list(
        Transfer.objects.filter(reference=reference)
        .select_related("source", "destination")
        .prefetch_related("lines")
        .order_by("pk")
    )


def variant_availability_detail(
    *, variant_ids: Iterable[int]
) -> tuple[list[Location], dict[int, dict]]:
    """Every active pickup point, and per variant {"delivery": units, "pickup": {location id:
    units}} (0 where the store has none) — for a product page. Two queries."""
    ids = sorted(set(variant_ids))
    stores = list(pickup_locations())
    result = {vid: {"delivery": 0, "pickup": {loc.pk: 0 for loc in stores}} for vid in ids}
    rows = (
        StockLevel.objects.filter(variant_id__in=ids, location__is_active=True)
        .filter(Q(location__ships_online=True) | Q(location__is_pickup_point=True))
        .values_list(
            "variant_id",
            "location_id",
            "on_hand",
            "reserved",
            "location__ships_online",
            "location__is_pickup_point",
        )
    )
    for vid, lid, on_hand, reserved, ships_online, is_pickup in rows:
        available = max(on_hand - reserved, 0)
        if ships_online:
            result[vid]["delivery"] += available
        if is_pickup:
            result[vid]["pickup"][lid] = available
    return stores, result


def reservations_left_short(*, levels: Iterable[tuple[int, int]]) -> dict[str, int]:
    """For levels given as (variant id, location id): reference → units its open
    reservations there are no longer covered by, the oldest reservation served first.

    A till sale can take units an online order had reserved; the order that reserved
    earliest keeps its units, the later ones are short.
    """
    short: dict[str, int] = {}
    for variant_id, location_id in set(levels):
        level = StockLevel.objects.filter(variant_id=variant_id, location_id=location_id).first()
        if level is None:
            continue
        left = max(level.on_hand, 0)
        for reservation in Reservation.objects.filter(
            level=level, status=Reservation.Status.OPEN
        ).order_by("created_at", "pk"):
            covered = min(left, reservation.quantity)
            left -= covered
            if covered < reservation.quantity:
                short[reservation.reference] = (
                    short.get(reservation.reference, 0) + reservation.quantity - covered
                )
    return short


def variants_by_code(*, codes: Iterable[str]) -> dict[str, Variant]:
    """Scanned or typed code → variant, for codes that are a barcode or a SKU (two queries).

    A barcode wins over a SKU spelled the same; unknown codes are absent.
    """
    wanted = {code for code in codes if code}
    found = variants_by_barcode(codes=wanted)
    rest = wanted - set(found)
    if rest:
        found.update(variants_by_sku(skus=rest))
    return found


def stocked_variant_ids(*, location: Location, variant_ids: Iterable[int]) -> set[int]:
    """The variants among these that already have a stock level at the location."""
    return set(
        StockLevel.objects.filter(location=location, variant_id__in=set(variant_ids)).values_list(
            "variant_id", flat=True
        )
    )


# The most lines one count sheet lists; a bigger store counts by aisle, brand or search.
COUNT_SHEET_ROWS = 500


@dataclass(frozen=True)
class CountSheetRow:
    """A line of a blind count sheet: what to count, never how many the system holds."""

    level_id: int
    variant_id: int
    sku: str
    name: str


def count_sheet(
    *,
    location: Location,
    search: str = "",
    level_ids: Iterable[int] | None = None,
    limit: int = COUNT_SHEET_ROWS,
) -> list[CountSheetRow]:
    """The levels at a location to count blind, by SKU (one query; balances not even read).

    `search` narrows to SKUs or names containing it, or barcodes containing it;
    `level_ids` to these levels (those of a submitted sheet; others' are ignored).
    """
    levels = StockLevel.objects.filter(location=location)
    if level_ids is not None:
        levels = levels.filter(pk__in=set(level_ids))
    term = (search or "").strip()
    if term:
        levels = levels.filter(
            Q(variant__sku__icontains=term)
            | Q(variant__name__icontains=term)
            | Exists(
                Barcode.objects.filter(variant_id=OuterRef("variant_id"), code__icontains=term)
            )
        )
    rows = levels.order_by("variant__sku").values_list(
        "pk", "variant_id", "variant__sku", "variant__name"
    )[:limit]
    return [CountSheetRow(*row) for row in rows]
