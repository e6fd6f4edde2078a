"""Inventory writes: every stock operation, atomic, ledgered, and never overselling.

Each public function changes stock levels and writes their `StockMovement` rows in one
transaction. Locking discipline (the same in every function, so operations never
deadlock each other):

1. missing levels are inserted first (`INSERT … ON CONFLICT DO NOTHING`, sorted), before
   any lock is held;
2. the levels an operation touches are locked with `SELECT … FOR UPDATE` ordered by
   primary key — one location per call;
3. reservation rows are only changed while holding their level's lock, so the level lock
   also serialises everything done to its reservations.

Callers that combine several calls in one outer transaction should pass all lines of a
location in one call rather than lock levels piecemeal.
"""

import json
import secrets
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F, IntegerField, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from catalog.models import Variant
from catalog.selectors import variants_by_id, variants_by_sku
from core.changelog import changes_record_many
from core.db import any_of, atomic_service, insert_many, loaded, new, select_rows, write_now
from core.errors import ValidationFailed
from inventory import hooks
from inventory.domain import (
    lead_time_problems,
    location_rule_problems,
    merge_lines,
    needs_attention,
    parse_count_rows,
    shortfalls,
)
from inventory.errors import (
    ImportRejected,
    InsufficientStock,
    InvalidLocation,
    InvalidQuantity,
    LocationInactive,
    LocationNotFound,
    NegativeStock,
    ReasonRequired,
    ReservationNotOpen,
    SameLocationTransfer,
    StockLimitExceeded,
    UnknownVariant,
    VariantNotSellable,
)
from inventory.models import (
    STOCK_UNITS_MAX,
    Location,
    LocationStaff,
    Reservation,
    StockLevel,
    StockMovement,
    Transfer,
    TransferDiscrepancy,
    TransferLeadTime,
    TransferLine,
)
from ops import metrics as ops_metrics

Kind = StockMovement.Kind
LEVEL_BALANCE_FIELDS = ["on_hand", "reserved", "needs_attention", "attention_note", "updated_at"]
Lines = Iterable[tuple[int, int]]


# --- helpers ------------------------------------------------------------------------------


def _actor(actor):
    """Only a real, saved user is recorded (an API's AnonymousUser is not)."""
    if actor is None or not getattr(actor, "is_authenticated", False) or actor.pk is None:
        return None
    return actor


def _location(location: Location | int) -> Location:
    if isinstance(location, Location):
        return location
    found = Location.objects.filter(pk=location).first()
    if found is None:
        raise LocationNotFound(details={"location": location})
    return found


def _require_active(*locations: Location) -> None:
    for location in locations:
        if not location.is_active:
            raise LocationInactive(details={"location": location.code})


def _reference(reference: str, *, required: bool) -> str:
    reference = (reference or "").strip()
    if required and not reference:
        raise ValidationFailed(_("A reference is required."), code="reference_required")
    if len(reference) > 100:
        raise ValidationFailed(_("A reference has at most 100 characters."))
    return reference


def _reason(reason: str, *, required: bool) -> str:
    reason = (reason or "").strip()
    if required and not reason:
        raise ReasonRequired()
    return reason[:255]


def _variants(variant_ids: Iterable[int]) -> dict[int, Variant]:
    ids = set(variant_ids)
    found = variants_by_id(ids=ids)
    unknown = sorted(ids - set(found))
    if unknown:
        raise UnknownVariant(details={"variant_ids": unknown})
    return found


class _Sellable(NamedTuple):
    """What a reservation needs of a variant: whether it is sold, and its SKU for errors."""

    sku: str
    is_active: bool


def _lock_levels(
    location: Location,
    variant_ids: Iterable[int],
    *,
    create: bool,
    sellable: dict[int, _Sellable] | None = None,
) -> dict[int, StockLevel]:
    """Lock the levels of these variants at a location in pk order; variant id → level.

    With `create`, missing levels are inserted first — before any lock is taken, sorted,
    and ignoring conflicts — so two transactions creating the same levels cannot deadlock.
    With `sellable`, a dict, it is filled in the same query with each leveled variant's
    SKU and whether it is sold (their rows unlocked).
    """
    ids = sorted(set(variant_ids))
    if create:
        existing = set(
            StockLevel.objects.filter(location=location, variant_id__in=ids).values_list(
                "variant_id", flat=True
            )
        )
        missing = [vid for vid in ids if vid not in existing]
        if missing:
            StockLevel.objects.bulk_create(
                [StockLevel(location=location, variant_id=vid) for vid in missing],
                ignore_conflicts=True,
            )
    result = {}
    for level in _levels_locked(location, ids, sellable=sellable):
        level.location = location
        result[level.variant_id] = level
    return result


_LEVEL_FIELDS = tuple(StockLevel._meta.concrete_fields)
_SELLABLE_FIELDS = (Variant._meta.get_field("sku"), Variant._meta.get_field("is_active"))


def _levels_locked(
    location: Location, ids: list[int], *, sellable: dict[int, _Sellable] | None
) -> list:
    """`SELECT … ORDER BY id FOR UPDATE OF` the levels (and their variants' SKU and
    whether they are sold, unlocked) as one hand-written statement: every reservation and
    stock movement takes this lock, and the ORM would build the statement anew each time.
    Model instances as the ORM makes them (`from_db`: `core.db.loaded`, its converters)."""
    lock = connection.features.has_select_for_update
    if lock and connection.get_autocommit():  # as the ORM's select_for_update refuses it
        raise transaction.TransactionManagementError(
            "select_for_update cannot be used outside of a transaction."
        )
    fields = _LEVEL_FIELDS + (_SELLABLE_FIELDS if sellable is not None else ())
    columns = ", ".join(
        f'{"l" if field.model is StockLevel else "v"}."{field.column}"' for field in fields
    )
    join = (
        f' JOIN "{Variant._meta.db_table}" v ON v.id = l.variant_id' if sellable is not None else ""
    )
    condition, params = any_of("l.variant_id", ids)
    rows = select_rows(
        f'SELECT {columns} FROM "{StockLevel._meta.db_table}" l{join} '
        f"WHERE l.location_id = %s AND {condition} ORDER BY l.id"
        + (" FOR UPDATE OF l" if lock else ""),
        [location.pk, *params],
        fields,
    )
    split = len(_LEVEL_FIELDS)
    levels = []
    for row in rows:
        level = loaded(StockLevel, _LEVEL_NAMES, row[:split])
        if sellable is not None:
            sellable[level.variant_id] = _Sellable(*row[split:])
        levels.append(level)
    return levels


_LEVEL_NAMES = [field.attname for field in _LEVEL_FIELDS]


class _Ledger:
    """Collects the level changes and movement rows of one operation; writes them in bulk."""

    def __init__(self, *, reference: str = "", reason: str = "", actor=None) -> None:
        self.reference, self.reason, self.actor = reference, reason, _actor(actor)
        self.now = timezone.now()
        self.levels: dict[int, StockLevel] = {}
        self.movements: list[StockMovement] = []
        self._unwritten: set[int] = set()  # levels changed since they were last written

    def apply(
        self,
        level: StockLevel,
        *,
        kind: str,
        quantity: int,
        on_hand: int = 0,
        reserved: int = 0,
        reason: str | None = None,
        reference: str | None = None,
        reservation: Reservation | None = None,
        transfer: Transfer | None = None,
    ) -> StockMovement:
        level.on_hand += on_hand
        level.reserved += reserved
        if max(abs(level.on_hand), level.reserved) > STOCK_UNITS_MAX:
            # Refused here with a clear error; the CHECK constraints are the backstop.
            raise StockLimitExceeded(
                details={"variant_id": level.variant_id, "limit": STOCK_UNITS_MAX}
            )
        level.updated_at = self.now
        self.levels[level.pk] = level
        self._unwritten.add(level.pk)
        movement = new(
            StockMovement,
            level=level,
            kind=kind,
            quantity=quantity,
            on_hand_delta=on_hand,
            reserved_delta=reserved,
            on_hand_after=level.on_hand,
            reserved_after=level.reserved,
            reason=self.reason if reason is None else reason,
            reference=self.reference if reference is None else reference,
            reservation=reservation,
            transfer=transfer,
            actor=self.actor,
            created_at=self.now,
        )
        self.movements.append(movement)
        return movement

    def flag_short_levels(self, note: str) -> None:
        """Mark touched levels holding less than nothing, or less than they promised."""
        for level in self.levels.values():
            if needs_attention(on_hand=level.on_hand, reserved=level.reserved):
                if not level.needs_attention:
                    level.needs_attention = True
                    level.attention_note = note[:255]
                    self._unwritten.add(level.pk)

    def levels_statement(self) -> tuple[str, list] | None:
        """On PostgreSQL, the statement writing the levels changed so far (SQL, parameters),
        for the caller to send with its next one; they count as written. None elsewhere,
        or when none changed: `save` writes them."""
        if connection.vendor != "postgresql" or not self._unwritten:
            return None
        levels = sorted((self.levels[pk] for pk in self._unwritten), key=lambda lvl: lvl.pk)
        self._unwritten.clear()
        return _levels_update_postgres(levels)

    def save(self, *, returning: bool = True) -> list[StockMovement]:
        """Write the levels (those not written yet) and the movements; without `returning`,
        the movements are inserted in bulk and not read back (a till's batch of sales)."""
        levels = sorted(self.levels.values(), key=lambda lvl: lvl.pk)
        unwritten = [level for level in levels if level.pk in self._unwritten]
        self._unwritten.clear()
        if not unwritten:
            pass  # sent with an earlier statement (`levels_statement`)
        elif connection.vendor == "postgresql":
            # One statement however many lines (a checkout's statements stay constant).
            write_now(*_levels_update_postgres(unwritten))
        elif len(unwritten) == 1:
            level = unwritten[0]
            StockLevel.objects.filter(pk=level.pk).update(
                on_hand=level.on_hand,
                reserved=level.reserved,
                needs_attention=level.needs_attention,
                attention_note=level.attention_note,
                updated_at=level.updated_at,
            )
        else:
            StockLevel.objects.bulk_update(unwritten, LEVEL_BALANCE_FIELDS, batch_size=500)
        # Store feeds (the POS) learn of every level change in the same transaction.
        changes_record_many(
            topic="stock", pairs=[(level.variant_id, level.location_id) for level in levels]
        )
        if not returning:
            insert_many(StockMovement, self.movements)
            return []
        return StockMovement.objects.bulk_create(self.movements, batch_size=1000)


def _levels_update_postgres(levels: list[StockLevel]) -> tuple[str, list]:
    """The statement writing many locked levels: one `UPDATE … FROM json_to_recordset(…)`
    with one JSON text parameter and one text for any number of levels (planned once per
    connection), where bulk_update's CASE expression cost 10–17 ms to build and run for a
    10-line checkout while the hot rows are locked.
    """
    rows = [
        {
            "id": level.pk,
            "on_hand": level.on_hand,
            "reserved": level.reserved,
            "needs_attention": level.needs_attention,
            "attention_note": level.attention_note,
            "updated_at": level.updated_at.isoformat(),
        }
        for level in levels
    ]
    return _LEVELS_UPDATE_SQL, [json.dumps(rows)]


_LEVELS_UPDATE_SQL = (
    f'UPDATE "{StockLevel._meta.db_table}" AS s SET on_hand = v.on_hand, reserved = v.reserved, '
    "needs_attention = v.needs_attention, attention_note = v.attention_note, "
    "updated_at = v.updated_at "
    "FROM json_to_recordset(%s::json) AS v(id bigint, on_hand integer, reserved integer, "
    "needs_attention boolean, attention_note varchar, updated_at timestamptz) "
    "WHERE s.id = v.id"
)


def _short_details(location: Location, short, variants: Mapping[int, Any]) -> dict:
    return {
        "location": location.code,
        "lines": [
            {
                "variant_id": s.variant_id,
                "sku": variants[s.variant_id].sku,
                "requested": s.requested,
                "available": s.available,
            }
            for s in short
        ],
    }


# --- locations and staff ------------------------------------------------------------------


@transaction.atomic
def location_save(*, location: Location) -> Location:
    """Validate and save a (new or changed) location; codes are stored upper case.

    Raises InvalidLocation with every problem.
    Locks nothing: locations are reference data edited by staff.
    """
    location.code = (location.code or "").strip().upper()
    problems = location_rule_problems(
        kind=location.kind,
        is_pickup_point=location.is_pickup_point,
        latitude=location.latitude,
        longitude=location.longitude,
    )
    try:
        # Field validation: time zone, opening hours, code format, uniqueness of the code.
        location.full_clean(validate_constraints=False)
    except DjangoValidationError as exc:
        for field, messages in exc.message_dict.items():
            problems.setdefault(field, []).extend(messages)
    if problems:
        raise InvalidLocation(details={"fields": problems})
    location.save()
    return location


@transaction.atomic
def location_staff_assign(*, user, location: Location) -> LocationStaff:
    """Let a staff user work at a location (idempotent)."""
    assignment, _created = LocationStaff.objects.get_or_create(user=user, location=location)
    return assignment


@transaction.atomic
def location_staff_remove(*, user, location: Location) -> None:
    LocationStaff.objects.filter(user=user, location=location).delete()


# --- reservations -------------------------------------------------------------------------


@atomic_service  # inside a checkout request: no savepoint (core.db)
def stock_reserve(
    *,
    lines: Lines,
    location: Location | int,
    reference: str,
    expires_at: datetime | None = None,
    actor=None,
) -> list[Reservation]:
    """Reserve (variant_id, quantity) lines at a location for a cause such as "order:A1B2".

    Locks the location's levels of these variants (FOR UPDATE, pk order). Raises one
    InsufficientStock (409) listing every short line with requested and available units,
    UnknownVariant, VariantNotSellable, LocationInactive, InvalidQuantity. Writes a
    "reservation" movement per line. Nothing is sent after commit.
    """
    requested = merge_lines(lines)
    reference = _reference(reference, required=True)
    location = _location(location)
    _require_active(location)
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationFailed(_("A reservation cannot expire in the past."), code="invalid_expiry")
    variants: dict[int, _Sellable] = {}
    levels = _lock_levels(location, requested, create=False, sellable=variants)
    if len(variants) < len(requested):  # no level: unknown variant, or never stocked here
        found = _variants(vid for vid in requested if vid not in variants)
        variants.update({vid: _Sellable(v.sku, v.is_active) for vid, v in found.items()})
    inactive = [v.sku for v in variants.values() if not v.is_active]
    if inactive:
        raise VariantNotSellable(details={"skus": sorted(inactive)})
    short = shortfalls(requested, {vid: lvl.available for vid, lvl in levels.items()})
    if short:
        ops_metrics.oversell_refused()
        raise InsufficientStock(details=_short_details(location, short, variants))
    ledger = _Ledger(reference=reference, actor=actor)
    reservations = _reservations_open(ledger, levels, requested, expires_at=expires_at)
    # The movements are not read back: inside a checkout they go with its other appends.
    ledger.save(returning=False)
    return reservations


def _reservations_release(ledger: _Ledger, open_ones: list[Reservation]) -> None:
    """Close these open reservations (on their locked levels) as released and put their
    "release" movements in the ledger (the caller saves it)."""
    for reservation in open_ones:
        ledger.apply(
            reservation.level,
            kind=Kind.RELEASE,
            quantity=reservation.quantity,
            reserved=-reservation.quantity,
            reservation=reservation,
        )
    _close(open_ones, status=Reservation.Status.RELEASED, now=ledger.now)


def _reservations_open(
    ledger: _Ledger,
    levels: dict[int, StockLevel],
    requested: dict[int, int],
    *,
    expires_at: datetime | None = None,
) -> list[Reservation]:
    """Insert the reservations of `requested` (variant id → units) on these locked levels
    and put their "reservation" movements in the ledger (the caller saves it)."""
    reservations = [
        new(
            Reservation,
            level=levels[vid],
            quantity=quantity,
            reference=ledger.reference,
            expires_at=expires_at,
            actor=ledger.actor,
            created_at=ledger.now,
        )
        for vid, quantity in sorted(requested.items())
    ]
    movements = [
        ledger.apply(
            reservation.level,
            kind=Kind.RESERVATION,
            quantity=reservation.quantity,
            reserved=reservation.quantity,
            reservation=reservation,  # its id is set below
        )
        for reservation in reservations
    ]
    # One reservation per level here: the new ids come back by level. The levels' update
    # goes in the same round trip, ahead of the insert (their rows are locked meanwhile).
    insert_many(Reservation, reservations, key="level_id", before=ledger.levels_statement())
    for movement in movements:
        movement.reservation = movement.reservation  # takes the reservation's new id
    return reservations


def _lock_open_reservations(
    reservations, *, skip_locked: bool = False
) -> tuple[list[Reservation], dict[int, StockLevel]]:
    """Lock the levels of the open reservations in `reservations` (pk order), then re-read
    the ones still open: whoever closed one first held the same level lock."""
    level_ids = set(
        reservations.filter(status=Reservation.Status.OPEN).values_list("level_id", flat=True)
    )
    if not level_ids:
        return [], {}
    # of=self: lock the level rows only, never the joined location (every release at that
    # store would queue on it, and SKIP LOCKED would skip the whole store).
    locked = (
        StockLevel.objects.select_for_update(skip_locked=skip_locked, of=("self",))
        .select_related("location")
        .filter(pk__in=level_ids)
        .order_by("pk")
    )
    levels = {level.pk: level for level in locked}
    still_open = list(
        reservations.filter(status=Reservation.Status.OPEN, level_id__in=list(levels)).order_by(
            "pk"
        )
    )
    for reservation in still_open:
        reservation.level = levels[reservation.level_id]
    return still_open, levels


def _close(reservations: list[Reservation], *, status: str, now: datetime) -> None:
    Reservation.objects.filter(pk__in=[r.pk for r in reservations]).update(
        status=status, closed_at=now
    )
    for reservation in reservations:
        reservation.status, reservation.closed_at = status, now


@transaction.atomic
def stock_release(*, reference: str, reason: str = "", actor=None) -> list[Reservation]:
    """Release every open reservation of a reference; returns them (empty when none: idempotent).

    Locks the levels of the reference's open reservations (FOR UPDATE, pk order). Writes a
    "release" movement per reservation.
    """
    reference = _reference(reference, required=True)
    open_ones, _levels = _lock_open_reservations(Reservation.objects.filter(reference=reference))
    if not open_ones:
        return []
    ledger = _Ledger(reference=reference, reason=_reason(reason, required=False), actor=actor)
    _reservations_release(ledger, open_ones)
    ledger.save()
    return open_ones


@transaction.atomic
def stock_reservation_move(
    *, reference: str, to_location: Location | int, actor=None
) -> list[Reservation]:
    """Move every open reservation of `reference` to another location (a re-routed pickup).

    Locks the reference's levels here and the same variants' levels there in one query, in
    pk order (two moves in opposite directions cannot deadlock). Raises InsufficientStock
    listing every line the new location cannot hold, LocationInactive. Writes a "release"
    movement here and a "reservation" movement there per line; returns the new reservations.
    """
    reference = _reference(reference, required=True)
    to_location = _location(to_location)
    _require_active(to_location)
    current = list(
        Reservation.objects.filter(reference=reference, status=Reservation.Status.OPEN).values_list(
            "level_id", "level__variant_id"
        )
    )
    if not current:
        return []
    variant_ids = sorted({vid for _l, vid in current})
    there = dict(
        StockLevel.objects.filter(location=to_location, variant_id__in=variant_ids).values_list(
            "variant_id", "pk"
        )
    )
    locked = {
        level.pk: level
        for level in StockLevel.objects.select_for_update(of=("self",))
        .select_related("variant")
        .filter(pk__in={lid for lid, _v in current} | set(there.values()))
        .order_by("pk")
    }
    open_ones = list(
        Reservation.objects.filter(reference=reference, status=Reservation.Status.OPEN).order_by(
            "pk"
        )
    )
    requested: dict[int, int] = defaultdict(int)
    for reservation in open_ones:
        reservation.level = locked[reservation.level_id]
        requested[reservation.level.variant_id] += reservation.quantity
    targets = {vid: locked[pk] for vid, pk in there.items() if pk in locked}
    short = shortfalls(dict(requested), {vid: lvl.available for vid, lvl in targets.items()})
    if short:
        variants = {r.level.variant_id: r.level.variant for r in open_ones}
        raise InsufficientStock(details=_short_details(to_location, short, variants))
    ledger = _Ledger(reference=reference, reason=_("re-routed"), actor=actor)
    _reservations_release(ledger, open_ones)
    moved = _reservations_open(ledger, targets, dict(requested))
    ledger.save()
    return moved


@transaction.atomic
def stock_consume(
    *, reference: str, location: Location | int | None = None, actor=None
) -> list[Reservation]:
    """Turn a reference's open reservations into sales: on_hand and reserved both go down.

    With `location`, only the reservations at that location (one shipment of a delivery
    split over several locations). Idempotent: when the reference (there) was already
    consumed it returns []. Raises ReservationNotOpen (409) when it has nothing open and
    nothing consumed (never reserved, or released/expired — the goods are no longer held).
    Locks the levels of the open reservations (FOR UPDATE, pk order); writes "sale"
    movements and flags a level that goes below zero.
    """
    reference = _reference(reference, required=True)
    mine = Reservation.objects.filter(reference=reference)
    if location is not None:
        mine = mine.filter(level__location_id=getattr(location, "pk", location))
    open_ones, _levels = _lock_open_reservations(mine)
    if not open_ones:
        consumed = mine.filter(status=Reservation.Status.CONSUMED).exists()
        if consumed:
            return []
        raise ReservationNotOpen(details={"reference": reference})
    ledger = _Ledger(reference=reference, actor=actor)
    for reservation in open_ones:
        ledger.apply(
            reservation.level,
            kind=Kind.SALE,
            quantity=reservation.quantity,
            on_hand=-reservation.quantity,
            reserved=-reservation.quantity,
            reservation=reservation,
        )
    ledger.flag_short_levels(
        _("Reserved units sold but the shelf count was short (%s).") % reference
    )
    _close(open_ones, status=Reservation.Status.CONSUMED, now=ledger.now)
    ledger.save()
    return open_ones


@atomic_service  # inside a checkout request: no savepoint (core.db)
def _lock_at_locations(
    wanted: dict[int, dict[int, int]],
) -> tuple[dict[int, Location], dict[tuple[int, int], StockLevel], dict, list[dict]]:
    """Lock the stock levels of `wanted` ({location id: {variant id: quantity}}) at several
    locations in one query, in primary-key order (the order every multi-location write
    uses, so none of them deadlock each other), and list what is short.

    Returns (locations by id, levels by (location id, variant id), variants by id, the
    short lines, each with its location's code). Raises LocationNotFound,
    LocationInactive and VariantNotSellable; the caller raises InsufficientStock."""
    locations = {loc.pk: loc for loc in Location.objects.filter(pk__in=list(wanted))}
    if len(locations) < len(wanted):
        raise LocationNotFound(details={"locations": sorted(set(wanted) - set(locations))})
    _require_active(*locations.values())
    match = Q(pk__in=[])
    for location_id, lines in wanted.items():
        match |= Q(location_id=location_id, variant_id__in=list(lines))
    levels: dict[tuple[int, int], StockLevel] = {}
    for level in (
        StockLevel.objects.select_for_update(of=("self",))
        .select_related("variant")
        .filter(match)
        .order_by("pk")
    ):
        level.location = locations[level.location_id]
        levels[level.location_id, level.variant_id] = level
    variants = _variants({vid for lines in wanted.values() for vid in lines})
    inactive = [v.sku for v in variants.values() if not v.is_active]
    if inactive:
        raise VariantNotSellable(details={"skus": sorted(inactive)})
    short_lines = []
    for location_id, lines in wanted.items():
        here = {vid: lvl.available for (lid, vid), lvl in levels.items() if lid == location_id}
        for short in shortfalls(lines, here):
            short_lines.append(
                {
                    "location": locations[location_id].code,
                    "variant_id": short.variant_id,
                    "sku": variants[short.variant_id].sku,
                    "requested": short.requested,
                    "available": short.available,
                }
            )
    return locations, levels, variants, short_lines


def stock_reserve_split(
    *, reference: str, shipments: Mapping[int, Mapping[int, int]], actor=None
) -> list[Reservation]:
    """Reserve a delivery that ships from several locations: each location's lines
    (location id → {variant id → units}) at that location, for the one `reference`.

    Every level of every location involved is locked in one query, in primary-key order
    (the order `stock_reserve_ship_to_store` and `stock_reservation_move` use, so none of
    them deadlock each other). Raises one InsufficientStock listing every short line of
    every location (each with its `location`), LocationInactive, LocationNotFound,
    UnknownVariant, VariantNotSellable. Writes a "reservation" movement per line.
    """
    reference = _reference(reference, required=True)
    wanted = {lid: merge_lines(lines.items()) for lid, lines in sorted(shipments.items())}
    _locations, levels, _variants, short_lines = _lock_at_locations(wanted)
    if short_lines:
        ops_metrics.oversell_refused()
        raise InsufficientStock(details={"lines": short_lines})
    ledger = _Ledger(reference=reference, actor=actor)
    reservations = []
    for location_id, lines in wanted.items():
        at = {vid: levels[location_id, vid] for vid in lines}
        reservations += _reservations_open(ledger, at, lines)
    ledger.save()
    return reservations


def reservations_release_expired(*, now: datetime | None = None, batch_size: int = 500) -> int:
    """Release open reservations whose expiry has passed; returns how many were released.

    Safe to run twice and from two workers at once: levels are locked with
    FOR UPDATE SKIP LOCKED, so a second worker skips levels the first is working on instead
    of waiting, and a reservation is only closed after re-reading it as open under its
    level's lock. Each batch is its own transaction so a backlog never holds many locks
    for long. Reservations on levels locked by someone else are left for the next run.
    """
    now = now or timezone.now()
    released = 0
    while True:
        with transaction.atomic():
            ids = list(
                Reservation.objects.filter(status=Reservation.Status.OPEN, expires_at__lte=now)
                .order_by("pk")
                .values_list("pk", flat=True)[:batch_size]
            )
            if not ids:
                break
            expired, _levels = _lock_open_reservations(
                Reservation.objects.filter(pk__in=ids, expires_at__lte=now), skip_locked=True
            )
            if not expired:
                break
            ledger = _Ledger(reason=_("expired"))
            for reservation in expired:
                ledger.apply(
                    reservation.level,
                    kind=Kind.RELEASE,
                    quantity=reservation.quantity,
                    reserved=-reservation.quantity,
                    reference=reservation.reference,
                    reservation=reservation,
                )
            _close(expired, status=Reservation.Status.EXPIRED, now=ledger.now)
            ledger.save()
            released += len(expired)
        if len(ids) < batch_size:
            break
    return released


# --- facts from the till and returns ------------------------------------------------------


@transaction.atomic
def stock_record_pos_sale(
    *, lines: Lines, location: Location | int, reference: str, actor=None
) -> list[StockMovement]:
    """Record a sale that already happened at a till: on_hand goes down, even below zero.

    A physical sale is a fact, not a request, so it is never refused for lack of stock;
    a level left below zero (or below its reservations) is flagged `needs_attention` for
    staff. Locks the levels (creating missing ones first, FOR UPDATE, pk order). Writes
    "sale" movements. Deduplicating replays is the caller's job (POS sale UUIDs).
    """
    quantities = merge_lines(lines)
    reference = _reference(reference, required=True)
    location = _location(location)
    _variants(quantities)
    levels = _lock_levels(location, quantities, create=True)
    ledger = _Ledger(reference=reference, reason=_("POS sale"), actor=actor)
    for vid, quantity in quantities.items():
        ledger.apply(levels[vid], kind=Kind.SALE, quantity=quantity, on_hand=-quantity)
    ledger.flag_short_levels(_("Sold at the till beyond available stock (%s).") % reference)
    return ledger.save()


@dataclass(frozen=True)
class ShortLevel:
    """A level that a till's sales left holding less than its open reservations need."""

    variant_id: int
    location_id: int
    on_hand: int
    reserved: int


@transaction.atomic
def stock_record_pos_sales(
    *, location: Location | int, sales: Sequence[tuple[str, Lines]], actor=None
) -> list[ShortLevel]:
    """Record many till sales at once (a synced batch): one "sale" movement per sale line.

    Like `stock_record_pos_sale`, never refused: on_hand may go below zero, and a level left
    below zero or below its reservations is flagged. Locks every level involved once (pk
    order), writes all levels in one statement and all movements in one insert. Returns the
    levels now holding less than their open reservations need (reconciliation: pickup
    orders that a sale left short).
    """
    location = _location(location)
    per_sale = [(_reference(ref, required=True), merge_lines(lines)) for ref, lines in sales]
    variant_ids = {vid for _ref, quantities in per_sale for vid in quantities}
    if not variant_ids:
        return []
    _variants(variant_ids)
    levels = _lock_levels(location, variant_ids, create=True)
    ledger = _Ledger(reason=_("POS sale"), actor=actor)
    for reference, quantities in per_sale:
        for vid, quantity in quantities.items():
            ledger.apply(
                levels[vid],
                kind=Kind.SALE,
                quantity=quantity,
                on_hand=-quantity,
                reference=reference,
            )
    ledger.flag_short_levels(_("Sold at the till beyond available stock."))
    ledger.save(returning=False)
    return [
        ShortLevel(vid, location.pk, lvl.on_hand, lvl.reserved)
        for vid, lvl in sorted(levels.items())
        if lvl.reserved > 0 and lvl.on_hand < lvl.reserved  # below zero alone: no order short
    ]


@transaction.atomic
def stock_return(
    *,
    lines: Lines,
    location: Location | int,
    reference: str,
    restock: bool = True,
    damaged: Lines = (),
    actor=None,
    reason: str = "",
) -> list[StockMovement]:
    """Take returned units back into a location; damaged ones are written off at once.

    Every returned unit gets a "return" movement (+on_hand); a damaged unit (`damaged`, or
    every line with `restock=False`) also gets a "write_off" movement (−on_hand), so the
    ledger shows both that it came back and that it was scrapped. Locks the levels of all
    the lines at once (creating missing ones first, FOR UPDATE, pk order).
    """
    quantities = merge_lines(lines) if lines else {}
    broken = merge_lines(damaged) if damaged else {}
    if not restock:
        broken = {**quantities}
        for vid, quantity in (merge_lines(damaged) if damaged else {}).items():
            broken[vid] = broken.get(vid, 0) + quantity
        quantities = {}
    reference = _reference(reference, required=True)
    location = _location(location)
    every = {vid: quantities.get(vid, 0) + broken.get(vid, 0) for vid in {*quantities, *broken}}
    _variants(every)
    levels = _lock_levels(location, every, create=True)
    ledger = _Ledger(reference=reference, reason=_reason(reason, required=False), actor=actor)
    for vid, quantity in sorted(every.items()):
        ledger.apply(levels[vid], kind=Kind.RETURN, quantity=quantity, on_hand=quantity)
        if broken.get(vid):
            ledger.apply(
                levels[vid],
                kind=Kind.WRITE_OFF,
                quantity=broken[vid],
                on_hand=-broken[vid],
                reason=ledger.reason or _("returned damaged"),
            )
    return ledger.save()


def stock_levels_lock(*, location: Location | int, variant_ids: Iterable[int]) -> None:
    """Lock these levels of a location now (creating missing ones), in pk order.

    For a caller that will write several of them in separate steps and must take every
    stock lock before the points account (the global lock order): an exchange locks the
    returned and the new items' levels at once. Locking a level again later waits for
    nothing. Must run inside the caller's transaction.
    """
    ids = set(variant_ids)
    if ids:
        _variants(ids)
        _lock_levels(_location(location), ids, create=True)


# --- staff operations ---------------------------------------------------------------------


@transaction.atomic
def stock_receive(
    *, lines: Lines, location: Location | int, reference: str = "", reason: str = "", actor=None
) -> list[StockMovement]:
    """Add received goods (a supplier delivery) to a location: "receipt" movements.

    Raises LocationInactive, UnknownVariant, InvalidQuantity. Locks the levels (creating
    missing ones first, FOR UPDATE, pk order).
    """
    quantities = merge_lines(lines)
    location = _location(location)
    _require_active(location)
    _variants(quantities)
    levels = _lock_levels(location, quantities, create=True)
    ledger = _Ledger(
        reference=_reference(reference, required=False),
        reason=_reason(reason, required=False),
        actor=actor,
    )
    for vid, quantity in quantities.items():
        ledger.apply(levels[vid], kind=Kind.RECEIPT, quantity=quantity, on_hand=quantity)
    return ledger.save()


@transaction.atomic
def stock_adjust(
    *, lines: Lines, location: Location | int, reason: str, reference: str = "", actor=None
) -> list[StockMovement]:
    """Correct on_hand by signed (variant_id, delta) lines, with a mandatory reason.

    Raises ReasonRequired, InvalidQuantity (a zero delta), NegativeStock listing every
    line that would leave on_hand below zero. Locks the levels (creating missing ones
    first, FOR UPDATE, pk order); flags levels left below their reservations.
    """
    deltas = merge_lines(lines, allow_negative=True)
    reason = _reason(reason, required=True)
    location = _location(location)
    variants = _variants(deltas)
    levels = _lock_levels(location, deltas, create=True)
    below = [
        {"variant_id": vid, "sku": variants[vid].sku, "on_hand": levels[vid].on_hand, "delta": d}
        for vid, d in deltas.items()
        if d != 0 and levels[vid].on_hand + d < 0
    ]
    if below:
        raise NegativeStock(details={"location": location.code, "lines": below})
    ledger = _Ledger(reference=_reference(reference, required=False), reason=reason, actor=actor)
    for vid, delta in deltas.items():
        if delta:
            ledger.apply(levels[vid], kind=Kind.ADJUSTMENT, quantity=delta, on_hand=delta)
    if not ledger.movements:
        raise ValidationFailed(_("Every adjustment line is zero."), code="invalid_quantity")
    ledger.flag_short_levels(_("Adjusted below reserved units: %s") % reason)
    return ledger.save()


@transaction.atomic
def stock_count(
    *,
    counts: Lines,
    location: Location | int,
    reference: str = "",
    reason: str = "",
    actor=None,
) -> list[StockMovement]:
    """Set on_hand to physically counted (variant_id, counted) figures; the ledger records
    the difference as a "count" movement (also when it is zero: the count itself is news).

    A count is a human looking at the shelf, so it clears `needs_attention` — unless the
    count is below the units reserved there, which needs attention in its own right.
    Locks the levels (creating missing ones first, FOR UPDATE, pk order).
    """
    counted = merge_lines(counts, allow_zero=True)
    location = _location(location)
    _variants(counted)
    levels = _lock_levels(location, counted, create=True)
    ledger = _Ledger(
        reference=_reference(reference, required=False),
        reason=_reason(reason, required=False),
        actor=actor,
    )
    for vid, figure in counted.items():
        level = levels[vid]
        ledger.apply(level, kind=Kind.COUNT, quantity=figure, on_hand=figure - level.on_hand)
        level.needs_attention, level.attention_note = False, ""
    ledger.flag_short_levels(_("Counted fewer units than are reserved."))
    return ledger.save()


@transaction.atomic
def stock_count_many(
    *,
    entries: Iterable[tuple[Location, int, int]],
    reference: str = "",
    reason: str = "",
    actor=None,
) -> list[StockMovement]:
    """Apply (location, variant_id, counted) figures from a count file, all or nothing.

    Locations are processed in id order and each location's levels in pk order, so two
    imports running at once lock in the same global order.
    """
    by_location: dict[int, list[tuple[int, int]]] = defaultdict(list)
    locations: dict[int, Location] = {}
    for location, variant_id, figure in entries:
        locations[location.pk] = location
        by_location[location.pk].append((variant_id, figure))
    movements: list[StockMovement] = []
    for location_id in sorted(by_location):
        movements += stock_count(
            counts=by_location[location_id],
            location=locations[location_id],
            reference=reference,
            reason=reason,
            actor=actor,
        )
    return movements


@transaction.atomic
def stock_write_off(
    *, lines: Lines, location: Location | int, reason: str, reference: str = "", actor=None
) -> list[StockMovement]:
    """Remove damaged, expired or lost units, with a mandatory reason: "write_off" movements.

    Raises NegativeStock when a line writes off more than is on hand. Locks the levels
    (FOR UPDATE, pk order); flags levels left below their reservations.
    """
    quantities = merge_lines(lines)
    reason = _reason(reason, required=True)
    location = _location(location)
    variants = _variants(quantities)
    levels = _lock_levels(location, quantities, create=False)
    below = [
        {
            "variant_id": vid,
            "sku": variants[vid].sku,
            "on_hand": levels[vid].on_hand if vid in levels else 0,
            "quantity": q,
        }
        for vid, q in quantities.items()
        if vid not in levels or levels[vid].on_hand < q
    ]
    if below:
        raise NegativeStock(details={"location": location.code, "lines": below})
    ledger = _Ledger(reference=_reference(reference, required=False), reason=reason, actor=actor)
    for vid, quantity in quantities.items():
        ledger.apply(levels[vid], kind=Kind.WRITE_OFF, quantity=quantity, on_hand=-quantity)
    ledger.flag_short_levels(_("Written off below reserved units: %s") % reason)
    return ledger.save()


@transaction.atomic
def stock_level_acknowledge(*, level: StockLevel, actor=None) -> StockLevel:
    """Clear a level's attention flag after staff looked at it (no stock change, no movement)."""
    level = StockLevel.objects.select_for_update().get(pk=level.pk)
    if level.needs_attention:
        level.needs_attention, level.attention_note = False, ""
        level.save(update_fields=["needs_attention", "attention_note"])
    return level


@transaction.atomic
def stock_level_threshold_set(*, level: StockLevel, threshold: int) -> StockLevel:
    """Set the low-stock threshold staff are warned at (display configuration, no movement).

    Touches only that column, so it never races with the balance columns that reservations
    and sales change under their row locks.
    """
    if threshold < 0:
        raise ValidationFailed(_("A low-stock threshold cannot be negative."))
    StockLevel.objects.filter(pk=level.pk).update(low_stock_threshold=threshold)
    level.low_stock_threshold = threshold
    return level


# --- transfers ----------------------------------------------------------------------------


def _new_transfer_number() -> str:
    return f"TR-{secrets.token_hex(4).upper()}"


@transaction.atomic
def stock_transfer(
    *,
    lines: Lines,
    source: Location | int,
    destination: Location | int,
    reference: str = "",
    actor=None,
) -> Transfer:
    """Ship units from one location to another: "transfer_out" at the source now, "transfer_in"
    at the destination when `transfer_receive` is called. Reserved units are not shipped.

    Raises SameLocationTransfer, LocationInactive, InsufficientStock (every short line),
    UnknownVariant, InvalidQuantity. Locks the source's levels (FOR UPDATE, pk order).
    """
    quantities = merge_lines(lines)
    source, destination = _location(source), _location(destination)
    if source.pk == destination.pk:
        raise SameLocationTransfer(details={"location": source.code})
    _require_active(source, destination)
    variants = _variants(quantities)
    levels = _lock_levels(source, quantities, create=False)
    short = shortfalls(quantities, {vid: lvl.available for vid, lvl in levels.items()})
    if short:
        raise InsufficientStock(details=_short_details(source, short, variants))
    actor = _actor(actor)
    for _attempt in range(5):
        try:
            with transaction.atomic():
                transfer = Transfer.objects.create(
                    number=_new_transfer_number(),
                    source=source,
                    destination=destination,
                    reference=_reference(reference, required=False),
                    created_by=actor,
                )
            break
        except IntegrityError:  # a number collision: draw again
            continue
    else:  # pragma: no cover - five collisions in a 32-bit space
        raise RuntimeError("could not allocate a transfer number")
    TransferLine.objects.bulk_create(
        [
            TransferLine(transfer=transfer, variant_id=vid, quantity=q)
            for vid, q in quantities.items()
        ]
    )
    ledger = _Ledger(reference=f"transfer:{transfer.number}", actor=actor)
    for vid, quantity in quantities.items():
        ledger.apply(
            levels[vid],
            kind=Kind.TRANSFER_OUT,
            quantity=quantity,
            on_hand=-quantity,
            transfer=transfer,
            reason=_("to %s") % destination.code,
        )
    ledger.save()
    return transfer


@transaction.atomic
def transfer_lead_time_save(*, lead_time: TransferLeadTime) -> TransferLeadTime:
    """Open (or change) a ship-to-store route: head office's lead time of a location pair.

    Raises InvalidLocation (400) naming every problem (`inventory.domain.
    lead_time_problems`). Locks nothing: routes are reference data.
    """
    destination = _location(lead_time.destination_id)
    problems = lead_time_problems(
        source_id=lead_time.source_id,
        destination_id=destination.pk,
        destination_is_pickup=destination.is_pickup_point,
    )
    if problems:
        raise InvalidLocation(details={"fields": problems})
    lead_time.save()
    return lead_time


@transaction.atomic
def transfer_lead_time_delete(*, lead_time: TransferLeadTime) -> None:
    """Close a route: later carts no longer offer it (transfers under way go on)."""
    TransferLeadTime.objects.filter(pk=lead_time.pk).delete()


@atomic_service  # inside a checkout request: no savepoint (core.db)
def stock_reserve_ship_to_store(
    *,
    reference: str,
    destination: Location | int,
    local: Mapping[int, int],
    sources: Mapping[int, Mapping[int, int]],
    actor=None,
) -> list[Transfer]:
    """Reserve a ship-to-store order: `local` (variant id → units) at the pickup store
    `destination`, and each source's lines (location id → {variant id → units}) at that
    source, sent on at once on a transfer to the destination whose `reference` is the
    order's. Returns the transfers (one per source), in transit.

    Every level of every location involved is locked in one query, in primary-key order
    (the order `stock_reservation_move` uses, so the two never deadlock); POS sales at a
    source wait for it or it for them. Raises one InsufficientStock listing every short
    line of every location (with its `location`), LocationInactive, SameLocationTransfer,
    UnknownVariant, VariantNotSellable. Writes, per source line, a "reservation" movement
    for the order and a "transfer_out" movement that takes the reserved units off the
    shelf (the reservation is consumed by the transfer); per local line, a "reservation".
    """
    reference = _reference(reference, required=True)
    destination = _location(destination)
    wanted = {destination.pk: merge_lines(local.items())} if local else {}
    for source_id, lines in sorted(sources.items()):
        if source_id == destination.pk:
            raise SameLocationTransfer(details={"location": destination.code})
        wanted[source_id] = merge_lines(lines.items())
    locations, levels, _variants, short_lines = _lock_at_locations(wanted)
    if short_lines:
        ops_metrics.oversell_refused()
        raise InsufficientStock(details={"location": destination.code, "lines": short_lines})
    ledger = _Ledger(reference=reference, actor=actor)
    transfers = []
    for location_id, lines in wanted.items():
        at = {vid: levels[location_id, vid] for vid in lines}
        opened = _reservations_open(ledger, at, lines)
        if location_id == destination.pk:
            continue
        source = locations[location_id]
        number = _new_transfer_number()
        while Transfer.objects.filter(number=number).exists():  # no savepoint to retry in
            number = _new_transfer_number()
        transfer = Transfer.objects.create(
            number=number,
            source=source,
            destination=destination,
            reference=reference,
            created_by=ledger.actor,
            created_at=ledger.now,
        )
        transfers.append(transfer)
        TransferLine.objects.bulk_create(
            [
                TransferLine(transfer=transfer, variant_id=vid, quantity=q)
                for vid, q in sorted(lines.items())
            ]
        )
        for reservation in opened:
            ledger.apply(
                reservation.level,
                kind=Kind.TRANSFER_OUT,
                quantity=reservation.quantity,
                on_hand=-reservation.quantity,
                reserved=-reservation.quantity,
                reference=f"transfer:{transfer.number}",
                reason=_("to %(to)s for %(ref)s") % {"to": destination.code, "ref": reference},
                reservation=reservation,
                transfer=transfer,
            )
        _close(opened, status=Reservation.Status.CONSUMED, now=ledger.now)
    ledger.save()
    return transfers


def _received_quantities(
    shipped: dict[int, int], received: Mapping[int, int] | None
) -> dict[int, int]:
    """variant id → units that arrived: as shipped unless `received` says otherwise.

    Raises InvalidQuantity (not a whole number ≥ 0) and ValidationFailed
    `not_on_transfer` naming variants the transfer did not ship.
    """
    result = dict(shipped)
    if not received:
        return result
    stray = sorted(vid for vid in received if vid not in shipped)
    if stray:
        raise ValidationFailed(
            _("These variants were not shipped on this transfer."),
            code="not_on_transfer",
            details={"variant_ids": stray},
        )
    bad = [
        {"variant_id": vid, "quantity": qty}
        for vid, qty in received.items()
        if isinstance(qty, bool) or not isinstance(qty, int) or qty < 0
    ]
    if bad:
        raise InvalidQuantity(details={"lines": bad})
    result.update(received)
    return result


@transaction.atomic
def transfer_receive(
    *,
    transfer: Transfer,
    actor=None,
    received: Mapping[int, int] | None = None,
    note: str = "",
) -> Transfer:
    """Put what arrived of a transfer on the destination's shelf; idempotent once received.

    `received` maps variant id → units that arrived (any line it leaves out arrived as
    shipped; without it, everything did). Each line's received units go in by a
    "transfer_in" movement and are kept on the line; a line received short or over gets a
    `TransferDiscrepancy` row with `note`. What did not arrive is written off in transit:
    the source already shipped it and the transfer closes, so no shelf holds it; a late
    parcel is booked in as a goods receipt. Units over what was shipped go on the shelf.

    Raises ValidationFailed `not_on_transfer`, InvalidQuantity, StockLimitExceeded. Locks
    the transfer row, then the destination's levels (creating missing ones first, FOR UPDATE,
    pk order). Then the `INVENTORY_TRANSFER_RECEIVED_HANDLERS` run (inventory.hooks), in
    this transaction: e.g. orders queues the news for a ship-to-store order.
    """
    transfer = (
        Transfer.objects.select_for_update(of=("self",))
        .select_related("source", "destination")
        .get(pk=transfer.pk)
    )
    if transfer.status == Transfer.Status.RECEIVED:
        return transfer
    lines = {line.variant_id: line for line in transfer.lines.all()}
    shipped = {vid: line.quantity for vid, line in lines.items()}
    arrived = _received_quantities(shipped, received)
    note = _reason(note, required=False)
    moved = {vid: units for vid, units in arrived.items() if units > 0}
    levels = _lock_levels(transfer.destination, moved, create=True) if moved else {}
    ledger = _Ledger(reference=f"transfer:{transfer.number}", actor=actor)
    for vid, quantity in sorted(moved.items()):
        ledger.apply(
            levels[vid],
            kind=Kind.TRANSFER_IN,
            quantity=quantity,
            on_hand=quantity,
            transfer=transfer,
            reason=_("from %s") % transfer.source.code,
        )
    if ledger.movements:
        ledger.save()
    for vid, line in lines.items():
        line.received_quantity = arrived[vid]
    TransferLine.objects.bulk_update(list(lines.values()), ["received_quantity"])
    TransferDiscrepancy.objects.bulk_create(
        [
            TransferDiscrepancy(
                transfer=transfer,
                variant_id=vid,
                shipped=shipped[vid],
                received=arrived[vid],
                note=note,
                recorded_at=ledger.now,
                recorded_by=ledger.actor,
            )
            for vid in sorted(lines)
            if arrived[vid] != shipped[vid]
        ]
    )
    transfer.status = Transfer.Status.RECEIVED
    transfer.received_at = ledger.now
    transfer.received_by = ledger.actor
    transfer.save(update_fields=["status", "received_at", "received_by"])
    transfer.received_lines = list(lines.values())
    for handler in hooks.transfer_received_handlers():
        handler(transfer)
    return transfer


# --- the ledger check ---------------------------------------------------------------------


def _grouped_sum(model, fk: str, field: str, **filters) -> Coalesce:
    """A correlated subquery: SUM(field) of `model` rows pointing at the outer row, or 0."""
    subquery = (
        model.objects.filter(**{fk: OuterRef("pk")}, **filters)
        .order_by()
        .values(fk)
        .annotate(total=Sum(field))
        .values("total")
    )
    return Coalesce(Subquery(subquery, output_field=IntegerField()), Value(0))


def verify_ledger() -> list[str]:
    """Every way the stock balances disagree with the ledger; an empty list when consistent.

    Checks, each in one query: on_hand = Σ on_hand deltas and reserved = Σ reserved deltas
    of every level; reserved = Σ its open reservations; each level's newest movement ends
    at the level's balances; each reservation's movements net to its quantity while open
    and to zero once closed; each transfer's out movements match the units it shipped and,
    once received, its in movements the units its lines received.
    """
    problems: list[str] = []
    latest = StockMovement.objects.filter(level=OuterRef("pk")).order_by("-pk")
    levels = (
        StockLevel.objects.annotate(
            ledger_on_hand=_grouped_sum(StockMovement, "level", "on_hand_delta"),
            ledger_reserved=_grouped_sum(StockMovement, "level", "reserved_delta"),
            open_reserved=_grouped_sum(
                Reservation, "level", "quantity", status=Reservation.Status.OPEN
            ),
            last_on_hand=Subquery(latest.values("on_hand_after")[:1]),
            last_reserved=Subquery(latest.values("reserved_after")[:1]),
        )
        .filter(
            ~Q(on_hand=F("ledger_on_hand"))
            | ~Q(reserved=F("ledger_reserved"))
            | ~Q(reserved=F("open_reserved"))
            | (Q(last_on_hand__isnull=False) & ~Q(on_hand=F("last_on_hand")))
            | (Q(last_reserved__isnull=False) & ~Q(reserved=F("last_reserved")))
            | (Q(last_on_hand__isnull=True) & (~Q(on_hand=0) | ~Q(reserved=0)))
        )
        .select_related("variant", "location")
        .order_by("pk")
    )
    for level in levels:
        problems.append(
            f"level {level.pk} ({level.variant.sku} @ {level.location.code}): "
            f"on_hand {level.on_hand} vs ledger {level.ledger_on_hand}"
            f" (last movement {level.last_on_hand}); reserved {level.reserved} vs ledger "
            f"{level.ledger_reserved}, open reservations {level.open_reserved}"
            f" (last movement {level.last_reserved})"
        )

    reservations = (
        Reservation.objects.annotate(
            ledger=_grouped_sum(StockMovement, "reservation", "reserved_delta")
        )
        .filter(
            (Q(status=Reservation.Status.OPEN) & ~Q(ledger=F("quantity")))
            | (~Q(status=Reservation.Status.OPEN) & ~Q(ledger=0))
        )
        .order_by("pk")
    )
    for reservation in reservations:
        problems.append(
            f"reservation {reservation.pk} ({reservation.reference}, {reservation.status}, "
            f"{reservation.quantity}): its movements net to {reservation.ledger}"
        )

    transfers = (
        Transfer.objects.annotate(
            shipped=_grouped_sum(TransferLine, "transfer", "quantity"),
            moved_out=_grouped_sum(StockMovement, "transfer", "quantity", kind=Kind.TRANSFER_OUT),
            moved_in=_grouped_sum(StockMovement, "transfer", "quantity", kind=Kind.TRANSFER_IN),
            received=_grouped_sum(TransferLine, "transfer", "received_quantity"),
        )
        .filter(
            ~Q(moved_out=F("shipped"))
            | (Q(status=Transfer.Status.RECEIVED) & ~Q(moved_in=F("received")))
            | (Q(status=Transfer.Status.IN_TRANSIT) & ~Q(moved_in=0))
        )
        .order_by("pk")
    )
    for transfer in transfers:
        problems.append(
            f"transfer {transfer.number} ({transfer.status}): lines {transfer.shipped}, "
            f"out {transfer.moved_out}, received {transfer.received}, in {transfer.moved_in}"
        )
    return problems


@transaction.atomic
def stock_count_import(
    *,
    headers: list[str],
    rows: list[list],
    default_location: Location | None = None,
    reference: str = "",
    reason: str = "",
    actor=None,
) -> list[StockMovement]:
    """Apply a stock count file (already read into headers and rows), all or nothing.

    Every row is checked first — count syntax, duplicates, unknown or closed locations,
    unknown SKUs — and one ImportRejected lists every problem; only a clean file is applied
    (through `stock_count_many`, same locking).
    """
    parsed, errors = parse_count_rows(
        headers, rows, default_location=default_location.code if default_location else ""
    )
    codes = {row.location.upper() for row in parsed}
    locations = {loc.code: loc for loc in Location.objects.filter(code__in=codes)}
    variants = variants_by_sku(skus={row.sku for row in parsed})
    entries = []
    for row in parsed:
        location = locations.get(row.location.upper())
        variant = variants.get(row.sku)
        if location is None:
            errors.append(
                _("Row %(row)d: unknown location %(loc)s.") % {"row": row.row, "loc": row.location}
            )
        if variant is None:
            errors.append(_("Row %(row)d: unknown SKU %(sku)s.") % {"row": row.row, "sku": row.sku})
        if location is not None and variant is not None:
            entries.append((location, variant.pk, row.counted))
    if errors:
        raise ImportRejected(details={"errors": errors})
    return stock_count_many(
        entries=entries,
        reference=_reference(reference, required=False),
        reason=_reason(reason, required=False) or _("stock count import"),
        actor=actor,
    )
