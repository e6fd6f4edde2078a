"""Reads behind the admin's start pages: what a store has to do today, and head office's sales.

Every figure is an aggregate computed in the database (`Count`/`Sum` with filters), and
each function runs a fixed number of queries however many orders, returns or stock levels
there are, so a start page costs the same in a small shop and a busy one. Lists are capped
("the worst few") and link to the full, filtered admin list. Reads only: this module writes
nothing, and it reads other apps' models without ever changing them.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Count, Exists, F, OuterRef, Q, Sum
from django.utils import timezone

from inventory.models import Location, LocationStaff, StockLevel, Transfer
from orders import selectors as order_selectors
from orders.domain import Fulfilment, Status
from orders.models import Order
from pos.models import Terminal
from returns.models import Return

# How many rows a tile lists before "see all".
TILE_ROWS = 5
# A till silent for longer than this while active is shown as out of sync.
TERMINAL_SILENCE = timedelta(minutes=30)
# Orders that did not become a sale (nothing was, or will be, paid for them).
NOT_SALES = (Status.CANCELLED, Status.EXPIRED)
OPEN_PICKUP = (Status.PLACED, Status.IN_TRANSIT, Status.READY_FOR_PICKUP)


def day_start(now: datetime | None = None) -> datetime:
    """Midnight of today in the retailer's time zone (`TIME_ZONE`), as an aware datetime."""
    local = timezone.localtime(now or timezone.now())
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def staff_stores(*, user) -> list[Location]:
    """The active locations `user` is assigned to (their LocationStaff rows), by code."""
    return list(
        Location.objects.filter(is_active=True, staff__user=user).order_by("code").distinct()
    )


@dataclass(frozen=True)
class PickupRow:
    number: str
    pk: int
    location: str
    expires_at: datetime | None
    days_left: int | None


@dataclass(frozen=True)
class Pickups:
    to_prepare: int
    waiting: int
    expiring_today: int
    soonest: list[PickupRow]


def pickups_open(*, location_ids: list[int], now: datetime | None = None) -> Pickups:
    """Pickups to prepare and waiting for the customer at these stores; the waiting ones
    that expire soonest first. Two queries."""
    now = now or timezone.now()
    tomorrow = day_start(now) + timedelta(days=1)
    base = Order.objects.filter(
        location_id__in=location_ids, fulfilment_type=Fulfilment.PICKUP, status__in=OPEN_PICKUP
    )
    counts = base.aggregate(
        to_prepare=Count("pk", filter=Q(status=Status.PLACED)),
        waiting=Count("pk", filter=Q(status=Status.READY_FOR_PICKUP)),
        expiring_today=Count(
            "pk", filter=Q(status=Status.READY_FOR_PICKUP, pickup_expires_at__lt=tomorrow)
        ),
    )
    soonest = (
        base.filter(status=Status.READY_FOR_PICKUP)
        .select_related("location")
        .order_by(F("pickup_expires_at").asc(nulls_last=True), "pk")[:TILE_ROWS]
    )
    rows = [
        PickupRow(
            number=order.number,
            pk=order.pk,
            location=order.location.name,
            expires_at=order.pickup_expires_at,
            days_left=order_selectors.days_left(order, now=now),
        )
        for order in soonest
    ]
    return Pickups(soonest=rows, **counts)


@dataclass(frozen=True)
class OverdueRow:
    number: str
    pk: int
    location: str
    fulfilment: str
    escalated_at: datetime


@dataclass(frozen=True)
class Overdue:
    count: int
    oldest: list[OverdueRow]


def orders_overdue(*, location_ids: list[int]) -> Overdue:
    """Orders at these locations still placed after the first deadline (escalated by the
    deadline task), oldest escalation first: prepare, re-route or cancel them before the
    second deadline cancels them. Two queries."""
    base = Order.objects.filter(
        location_id__in=location_ids, status=Status.PLACED, escalated_at__isnull=False
    )
    oldest = base.select_related("location").order_by("escalated_at", "pk")[:TILE_ROWS]
    rows = [
        OverdueRow(
            number=order.number,
            pk=order.pk,
            location=order.location.name,
            fulfilment=order.fulfilment_type,
            escalated_at=order.escalated_at,
        )
        for order in oldest
    ]
    return Overdue(count=base.count(), oldest=rows)


@dataclass(frozen=True)
class OverdueLocation:
    pk: int
    code: str
    name: str
    count: int
    # Someone working there may act on its orders (cancel, re-route): a store manager. A
    # location without one (a warehouse shipping deliveries, a store nobody manages) has
    # nobody but head office to see its overdue orders.
    managed: bool


@dataclass(frozen=True)
class OverdueByLocation:
    count: int
    locations: list[OverdueLocation]

    @property
    def unmanaged(self) -> int:
        return sum(row.count for row in self.locations if not row.managed)


def _acts_on_orders() -> Q:
    """A location's member of staff who may cancel (and so re-route or give up) its orders:
    the store manager role's `orders.cancel_order`, through a group or their own."""
    perm = {"codename": "cancel_order", "content_type__app_label": "orders"}
    return (
        Q(user__is_superuser=True)
        | Q(**{f"user__groups__permissions__{k}": v for k, v in perm.items()})
        | Q(**{f"user__user_permissions__{k}": v for k, v in perm.items()})
    )


def orders_overdue_by_location() -> OverdueByLocation:
    """Every location's escalated orders (as `orders_overdue`), counted per location, for
    head office: locations nobody there may act for (no active member of staff holding
    `orders.cancel_order`) first, then the most overdue. One query, grouped by location
    (a chain has a few hundred locations at most)."""
    managers = LocationStaff.objects.filter(
        _acts_on_orders(), location_id=OuterRef("location_id"), user__is_active=True
    )
    grouped = (
        Order.objects.filter(status=Status.PLACED, escalated_at__isnull=False)
        .values("location_id", "location__code", "location__name")
        .annotate(count=Count("pk"), managed=Exists(managers))
        .order_by()
    )
    rows = sorted(
        (
            OverdueLocation(
                pk=values["location_id"],
                code=values["location__code"],
                name=values["location__name"],
                count=values["count"],
                managed=values["managed"],
            )
            for values in grouped
        ),
        key=lambda row: (row.managed, -row.count, row.code),
    )
    return OverdueByLocation(count=sum(row.count for row in rows), locations=rows)


def returns_requested_count(*, location_ids: list[int]) -> int:
    """Returns customers asked for that are to be handed in at these stores."""
    return Return.objects.filter(
        location_id__in=location_ids, status=Return.Status.REQUESTED
    ).count()


def short_pickups_count(*, location_ids: list[int]) -> int:
    """Open pickups a till sale left short (POS reconciliation), or whose ship-to-store
    transfer arrived short or is overdue, at these stores."""
    return Order.objects.filter(
        location_id__in=location_ids,
        needs_attention=True,
        fulfilment_type=Fulfilment.PICKUP,
        status__in=OPEN_PICKUP,
    ).count()


def transfers_incoming_count(*, location_ids: list[int]) -> int:
    """Transfers on their way to these stores, not yet received."""
    return Transfer.objects.filter(
        destination_id__in=location_ids, status=Transfer.Status.IN_TRANSIT
    ).count()


@dataclass(frozen=True)
class StockRow:
    pk: int
    sku: str
    name: str
    location: str
    on_hand: int
    available: int
    threshold: int


@dataclass(frozen=True)
class StockAttention:
    negative: int
    low: int
    flagged: int
    worst: list[StockRow]


def _negative() -> Q:
    # The same rule as the stock level admin's "negative" filter: fewer on the shelf than
    # nothing, or more reserved than on the shelf.
    return Q(on_hand__lt=0) | Q(available_units__lt=0)


def _low() -> Q:
    # The admin's "low stock" filter: some left, at or below the level's threshold.
    return Q(available_units__gt=0, available_units__lte=F("low_stock_threshold"))


def stock_attention(*, location_ids: list[int]) -> StockAttention:
    """Stock levels at these stores that need a look: negative, low (at or below the
    level's threshold) and flagged by a till sale; the worst few (least available first).
    Two queries."""
    levels = StockLevel.objects.filter(location_id__in=location_ids).alias(
        available_units=F("on_hand") - F("reserved")
    )
    counts = levels.aggregate(
        negative=Count("pk", filter=_negative()),
        low=Count("pk", filter=_low()),
        flagged=Count("pk", filter=Q(needs_attention=True)),
    )
    worst = (
        levels.filter(_negative() | _low())
        .annotate(available_now=F("on_hand") - F("reserved"))
        .select_related("variant", "location")
        .order_by("available_now", "on_hand", "pk")[:TILE_ROWS]
    )
    rows = [
        StockRow(
            pk=level.pk,
            sku=level.variant.sku,
            name=level.variant.name,
            location=level.location.name,
            on_hand=level.on_hand,
            available=level.available_now,
            threshold=level.low_stock_threshold,
        )
        for level in worst
    ]
    return StockAttention(worst=rows, **counts)


@dataclass(frozen=True)
class TerminalRow:
    pk: int
    code: str
    name: str
    location: str
    last_seen_at: datetime | None


@dataclass(frozen=True)
class SilentTerminals:
    count: int
    rows: list[TerminalRow]


def terminals_out_of_sync(
    *, location_ids: list[int], now: datetime | None = None
) -> SilentTerminals:
    """Active tills of these stores that never synced or were last seen (a feed pull or a
    sale sync) longer than TERMINAL_SILENCE ago; the longest silent first. Two queries."""
    cutoff = (now or timezone.now()) - TERMINAL_SILENCE
    silent = Terminal.objects.filter(location_id__in=location_ids, is_active=True).filter(
        Q(last_seen_at__isnull=True) | Q(last_seen_at__lt=cutoff)
    )
    rows = [
        TerminalRow(
            pk=t.pk,
            code=t.code,
            name=t.name,
            location=t.location.name,
            last_seen_at=t.last_seen_at,
        )
        for t in silent.select_related("location").order_by(
            F("last_seen_at").asc(nulls_first=True), "code"
        )[:TILE_ROWS]
    ]
    return SilentTerminals(count=silent.count(), rows=rows)


@dataclass(frozen=True)
class SalesRow:
    """Orders and their total in one currency, for one group (a channel or a store)."""

    key: str
    label: str
    currency: str
    orders_today: int = 0
    total_today: Decimal = Decimal("0")
    orders_week: int = 0
    total_week: Decimal = Decimal("0")
    location_id: int | None = field(default=None, compare=False)


def _sales(location_ids: list[int] | None, now: datetime | None):
    today = day_start(now)
    week = today - timedelta(days=6)
    orders = Order.objects.filter(placed_at__gte=week).exclude(status__in=NOT_SALES)
    if location_ids is not None:
        orders = orders.filter(location_id__in=location_ids)
    is_today = Q(placed_at__gte=today)
    figures = {
        "orders_today": Count("pk", filter=is_today),
        "total_today": Sum("total", filter=is_today),
        "orders_week": Count("pk"),
        "total_week": Sum("total"),
    }
    return orders, figures


def _row(key: str, label: str, values: dict, **extra) -> SalesRow:
    return SalesRow(
        key=key,
        label=label,
        currency=values["currency"],
        orders_today=values["orders_today"],
        total_today=values["total_today"] or Decimal("0"),
        orders_week=values["orders_week"],
        total_week=values["total_week"] or Decimal("0"),
        **extra,
    )


def sales_by_channel(
    *, location_ids: list[int] | None, now: datetime | None = None
) -> list[SalesRow]:
    """Orders placed today and in the last 7 days (today included) per channel and
    currency, cancelled and expired ones left out; `location_ids` None: every store.
    One query."""
    orders, figures = _sales(location_ids, now)
    grouped = orders.values("channel", "currency").annotate(**figures).order_by("channel")
    return [_row(values["channel"], values["channel"], values) for values in grouped]


def sales_by_store(
    *, location_ids: list[int] | None, now: datetime | None = None
) -> list[SalesRow]:
    """As `sales_by_channel`, per selling (or pickup, or shipping) location. One query."""
    orders, figures = _sales(location_ids, now)
    grouped = (
        orders.values("location_id", "location__code", "location__name", "currency")
        .annotate(**figures)
        .order_by("location__code")
    )
    return [
        _row(
            values["location__code"],
            values["location__name"],
            values,
            location_id=values["location_id"],
        )
        for values in grouped
    ]
