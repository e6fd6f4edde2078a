"""Pure order rules: the status transition table, who may make each move, and what it sets off.

Nothing here touches the database. `orders.services` asks `transition_check` before any
status change and performs the listed effects (stock, loyalty, coupons, notifications).
"""

from dataclasses import dataclass
from enum import StrEnum
from itertools import combinations

from inventory.domain import haversine_km


class Channel(StrEnum):
    WEB = "web"
    APP = "app"
    POS = "pos"
    # Sold by staff on the customer's behalf: a store associate on a tablet (endless
    # aisle), or a call-centre agent on the phone.
    STORE_ASSISTED = "store_assisted"
    CALL_CENTRE = "call_centre"


ASSISTED_CHANNELS = frozenset({Channel.STORE_ASSISTED, Channel.CALL_CENTRE})


class Fulfilment(StrEnum):
    PICKUP = "pickup"
    DELIVERY = "delivery"
    IN_STORE = "in_store"  # a sale at a store's till: recorded already completed


class Status(StrEnum):
    PLACED = "placed"
    # Ship-to-store: some lines travel on a transfer to the pickup store (system moves only).
    IN_TRANSIT = "in_transit"
    READY_FOR_PICKUP = "ready_for_pickup"
    COLLECTED = "collected"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    # Set by the returns service, never by a transition: some or all units came back.
    PARTIALLY_RETURNED = "partially_returned"
    RETURNED = "returned"


class Actor(StrEnum):
    CUSTOMER = "customer"
    STAFF = "staff"
    SYSTEM = "system"


class Effect(StrEnum):
    # Payment effects come first: a provider call is made before any stock or points row is
    # locked, so a slow provider never holds the hot rows of the lock order.
    CAPTURE_PAYMENT = "capture_payment"  # authorized money is taken (or paid at the desk)
    VOID_PAYMENT = "void_payment"  # the authorization is released: nothing is charged
    CONSUME_STOCK = "consume_stock"  # reservation becomes a sale in the stock ledger
    RELEASE_STOCK = "release_stock"  # reservation goes back to available
    EARN_POINTS = "earn_points"  # the sale is complete: loyalty points are earned
    GIVE_BACK = "give_back"  # redeemed points and the coupon use are given back
    START_PICKUP_CLOCK = "start_pickup_clock"  # the order waits N days for the customer


@dataclass(frozen=True)
class Move:
    source: Status
    target: Status
    actors: frozenset[Actor]
    effects: tuple[Effect, ...] = ()


# Effects run in this order, which follows the global lock order: the payment provider
# (no lock), stock levels, then the points account, then coupon counters.
_CANCEL = (Effect.VOID_PAYMENT, Effect.RELEASE_STOCK, Effect.GIVE_BACK)
S, A = Status, Actor
STAFF, SYSTEM, ANYONE = (
    frozenset({A.STAFF}),
    frozenset({A.SYSTEM}),
    frozenset({A.CUSTOMER, A.STAFF}),
)

TRANSITIONS: dict[Fulfilment, tuple[Move, ...]] = {
    Fulfilment.PICKUP: (
        Move(S.PLACED, S.READY_FOR_PICKUP, STAFF, (Effect.START_PICKUP_CLOCK,)),
        # Ship-to-store: the transfer leaves at checkout, and the order is ready when the
        # pickup store has received it (the hold clock starts then). Cancelling on the way
        # releases what the store holds; the goods on the transfer become its stock.
        Move(S.PLACED, S.IN_TRANSIT, SYSTEM),
        Move(S.IN_TRANSIT, S.READY_FOR_PICKUP, SYSTEM, (Effect.START_PICKUP_CLOCK,)),
        Move(S.IN_TRANSIT, S.CANCELLED, ANYONE, _CANCEL),
        Move(
            S.READY_FOR_PICKUP,
            S.COLLECTED,
            STAFF,
            (Effect.CAPTURE_PAYMENT, Effect.CONSUME_STOCK, Effect.EARN_POINTS),
        ),
        Move(S.READY_FOR_PICKUP, S.EXPIRED, SYSTEM | STAFF, _CANCEL),
        # The customer may cancel only before the store has prepared the order; the system
        # cancels one nobody prepared in time (`orders_enforce_prepare_deadlines`).
        Move(S.PLACED, S.CANCELLED, ANYONE | SYSTEM, _CANCEL),
        Move(S.READY_FOR_PICKUP, S.CANCELLED, STAFF, _CANCEL),
    ),
    Fulfilment.DELIVERY: (
        Move(S.PLACED, S.SHIPPED, STAFF, (Effect.CAPTURE_PAYMENT, Effect.CONSUME_STOCK)),
        Move(S.SHIPPED, S.DELIVERED, STAFF | SYSTEM, (Effect.EARN_POINTS,)),
        Move(S.PLACED, S.CANCELLED, ANYONE | SYSTEM, _CANCEL),
    ),
    # A till sale is recorded as the fact it is — `collected` from the start, its stock
    # sale, points and coupon use written by `till_sales_record` — and moves no further
    # (returns are their own aggregate).
    Fulfilment.IN_STORE: (),
}

TERMINAL = frozenset(
    {S.COLLECTED, S.DELIVERED, S.EXPIRED, S.CANCELLED, S.PARTIALLY_RETURNED, S.RETURNED}
)
# A completed sale: the goods are with the customer, so they can come back.
RETURNABLE = frozenset({S.COLLECTED, S.DELIVERED, S.PARTIALLY_RETURNED})


class TransitionRefused(Exception):
    def __init__(self, reason: str, allowed: list[str]):
        self.reason = reason
        self.allowed = allowed
        super().__init__(reason)


def allowed_targets(fulfilment: Fulfilment, source: Status, actor: Actor) -> list[str]:
    return [
        m.target.value
        for m in TRANSITIONS[Fulfilment(fulfilment)]
        if m.source == source and actor in m.actors
    ]


def transition_check(
    *, fulfilment: Fulfilment | str, source: Status | str, target: Status | str, actor: Actor
) -> Move:
    """The move from source to target for this actor, or TransitionRefused saying why."""
    fulfilment, source, target = Fulfilment(fulfilment), Status(source), Status(target)
    allowed = allowed_targets(fulfilment, source, actor)
    for move in TRANSITIONS[fulfilment]:
        if move.source == source and move.target == target:
            if actor in move.actors:
                return move
            raise TransitionRefused("actor_not_allowed", allowed)
    raise TransitionRefused("no_such_transition", allowed)


# --- ship-to-store: which lines come from where ------------------------------------------


@dataclass(frozen=True)
class Source:
    """A location that may send goods to the pickup store (a route head office opened)."""

    location_id: int
    days: int  # lead time of the route
    is_warehouse: bool
    priority: int  # the location's fulfilment priority (lower first)


@dataclass(frozen=True)
class TransferPlan:
    """How a pickup cart's short units would reach the store: variant id → source location
    id for each line that can come, and the lines that no route can bring."""

    sources: dict[int, int]
    unavailable: tuple[int, ...]
    days: int  # the longest lead time used: the order is ready from today + days

    @property
    def possible(self) -> bool:
        return bool(self.sources) and not self.unavailable


def _preference(source: Source) -> tuple:
    return (source.days, not source.is_warehouse, source.priority, source.location_id)


def transfer_plan(
    missing: dict[int, int], sources: list[Source], available: dict[int, dict[int, int]]
) -> TransferPlan:
    """Choose where the `missing` units (variant id → units the store lacks) come from.

    The rule: one transfer when one source holds every missing unit; otherwise each line
    from one source that holds all of that line's missing units (a line is never split).
    Among sources that qualify, the shortest lead time wins, then a warehouse before a
    store, then the lower fulfilment priority, then the lower id. A line that no source
    holds in full is unavailable.
    """
    ranked = sorted(sources, key=_preference)

    def holds(source: Source, vid: int) -> bool:
        return available.get(vid, {}).get(source.location_id, 0) >= missing[vid]

    for source in ranked:
        if missing and all(holds(source, vid) for vid in missing):
            return TransferPlan(
                sources=dict.fromkeys(missing, source.location_id),
                unavailable=(),
                days=source.days,
            )
    chosen: dict[int, Source] = {}
    unavailable = []
    for vid in sorted(missing):
        best = next((source for source in ranked if holds(source, vid)), None)
        if best is None:
            unavailable.append(vid)
        else:
            chosen[vid] = best
    return TransferPlan(
        sources={vid: source.location_id for vid, source in chosen.items()},
        unavailable=tuple(unavailable),
        days=max((source.days for source in chosen.values()), default=0),
    )


# --- split delivery: which locations ship a delivery ------------------------------------

# The most shipments one delivery may be split into: beyond it the cart is not deliverable
# (the search below tries every set of up to this many shipping locations).
MAX_SHIPMENTS = 3

# How near a location is to a delivery address, comparable across locations: lower is
# nearer. (0, km) when both have coordinates (great-circle distance); (1, -n) when only
# postcodes in the same country can be compared (n leading characters shared: postcodes
# are hierarchical, so more shared characters means a nearer region); (2, 0) otherwise.
Nearness = tuple[int, float]
UNKNOWN_DISTANCE: Nearness = (2, 0.0)


def nearness(
    *,
    address: dict,
    latitude: float | None,
    longitude: float | None,
    postal_code: str,
    country: str,
) -> Nearness:
    """How near a location (its coordinates, postcode and country) is to a delivery
    address (`latitude`/`longitude`, else `postal_code`/`country`, all optional). Pure."""
    point = _address_point(address)
    if point is not None and latitude is not None and longitude is not None:
        return (0, round(haversine_km(point[0], point[1], latitude, longitude), 3))
    code = "".join(str(address.get("postal_code") or address.get("postcode") or "").split())
    theirs = "".join((postal_code or "").split())
    same_country = str(address.get("country") or country).strip().upper() == country.upper()
    if code and theirs and same_country:
        shared = 0
        for a, b in zip(code.upper(), theirs.upper(), strict=False):
            if a != b:
                break
            shared += 1
        return (1, float(-shared))
    return UNKNOWN_DISTANCE


def _address_point(address: dict) -> tuple[float, float] | None:
    try:
        lat, lng = float(address["latitude"]), float(address["longitude"])
    except (KeyError, TypeError, ValueError):
        return None
    if not (-90 <= lat <= 90 and -180 <= lng <= 180):
        return None
    return lat, lng


@dataclass(frozen=True)
class ShipFrom:
    """A location that may ship a delivery, seen from the delivery address."""

    location_id: int
    nearness: Nearness
    is_warehouse: bool
    priority: int  # the location's fulfilment priority (lower first)


@dataclass(frozen=True)
class DeliveryPlan:
    """Which location ships which lines: location id → {variant id → units}, the first
    shipment first (the order's own `location`); or why the cart cannot be delivered."""

    shipments: dict[int, dict[int, int]]
    unavailable: tuple[int, ...] = ()  # variant ids no location holds in full
    reason: str | None = None  # insufficient_stock | too_many_shipments | cart_empty

    @property
    def possible(self) -> bool:
        return bool(self.shipments) and self.reason is None


def _ship_preference(source: ShipFrom) -> tuple:
    return (source.nearness, not source.is_warehouse, source.priority, source.location_id)


def delivery_plan(
    requested: dict[int, int], sources: list[ShipFrom], available: dict[int, dict[int, int]]
) -> DeliveryPlan:
    """Choose the locations that ship a delivery of `requested` (variant id → units).

    The rule, in this order:
    1. A line is never split: it ships whole from one location that holds all its units.
    2. Fewest shipments: one location when one holds every line, else two, and so on up to
       `MAX_SHIPMENTS` (beyond that: `too_many_shipments`).
    3. Among the sets of locations with that fewest number, the nearest to the address:
       the set whose farthest location is nearest, then its next farthest, and so on
       (`nearness`: kilometres when both sides have coordinates, else shared postcode).
    4. Then the set with more warehouses (a warehouse before a store), then the lower
       fulfilment priorities, then the lower location ids (so the choice is deterministic).
    Within the chosen set each line ships from the location that holds it and is preferred
    by the same order (nearest, warehouse, priority, id); the first shipment is the most
    preferred location that ships anything. A line no location holds in full makes the
    plan `insufficient_stock`, naming those lines.
    """
    if not requested:
        return DeliveryPlan(shipments={}, reason="cart_empty")
    lines = sorted(requested)
    ranked = sorted(sources, key=_ship_preference)

    def holds(source: ShipFrom, vid: int) -> bool:
        return available.get(vid, {}).get(source.location_id, 0) >= requested[vid]

    masks = {}
    for source in ranked:
        mask = sum(1 << i for i, vid in enumerate(lines) if holds(source, vid))
        if mask:
            masks[source.location_id] = mask
    unavailable = tuple(
        vid for i, vid in enumerate(lines) if not any(m >> i & 1 for m in masks.values())
    )
    if unavailable:
        return DeliveryPlan(shipments={}, unavailable=unavailable, reason="insufficient_stock")
    useful = [source for source in ranked if source.location_id in masks]
    full = (1 << len(lines)) - 1
    for size in range(1, MAX_SHIPMENTS + 1):
        best: tuple | None = None
        best_set: tuple[ShipFrom, ...] = ()
        for chosen in combinations(useful, size):
            covered = 0
            for source in chosen:
                covered |= masks[source.location_id]
            if covered != full:
                continue
            key = (
                tuple(sorted((s.nearness for s in chosen), reverse=True)),
                -sum(s.is_warehouse for s in chosen),
                tuple(sorted(s.priority for s in chosen)),
                tuple(sorted(s.location_id for s in chosen)),
            )
            if best is None or key < best:
                best, best_set = key, chosen
        if best is not None:
            members = sorted(best_set, key=_ship_preference)
            shipments: dict[int, dict[int, int]] = {}
            for vid in lines:
                source = next(s for s in members if holds(s, vid))
                shipments.setdefault(source.location_id, {})[vid] = requested[vid]
            ordered = {
                s.location_id: shipments[s.location_id]
                for s in members
                if s.location_id in shipments
            }
            return DeliveryPlan(shipments=ordered)
    return DeliveryPlan(shipments={}, reason="too_many_shipments")


# --- attribution: where a cart (and the order made from it) came from ---------------------

# Every attribution field and its longest stored value (the model's column widths).
ATTRIBUTION_LIMITS: dict[str, int] = {
    "device": 32,
    "app_version": 32,
    "utm_source": 100,
    "utm_medium": 100,
    "utm_campaign": 100,
    "referrer": 500,
}
ATTRIBUTION_FIELDS = tuple(ATTRIBUTION_LIMITS)
# Compared case-insensitively by every report: stored lower-case ("Google" = "google").
ATTRIBUTION_LOWERED = frozenset({"utm_source", "utm_medium"})


class AttributionRefused(ValueError):
    """A value the client sent cannot be stored as attribution: `reason` says why."""

    def __init__(self, field: str, reason: str):
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


def attribution_value(field: str, value: object) -> str:
    """One attribution value as stored: a printable string, stripped, within its limit.

    Control characters (NUL, line breaks, escapes), lone surrogates and other unprintable
    code points are refused rather than cleaned: a client sending them is broken or
    probing, and these values end up in reports and CSV files. UTM source and medium are
    lower-cased so that "Newsletter" and "newsletter" count as one.
    """
    if field not in ATTRIBUTION_LIMITS:
        raise AttributionRefused(field, "unknown_field")
    if not isinstance(value, str):
        raise AttributionRefused(field, "not_a_string")
    if not value.isprintable():
        raise AttributionRefused(field, "not_printable")
    value = value.strip()
    if len(value) > ATTRIBUTION_LIMITS[field]:
        raise AttributionRefused(field, "too_long")
    return value.lower() if field in ATTRIBUTION_LOWERED else value


def attribution_clean(values: dict[str, object] | None) -> dict[str, str]:
    """Every attribution field, cleaned (missing ones blank); raises AttributionRefused."""
    values = values or {}
    for name in values:
        if name not in ATTRIBUTION_LIMITS:
            raise AttributionRefused(name, "unknown_field")
    return {name: attribution_value(name, values.get(name, "")) for name in ATTRIBUTION_FIELDS}
