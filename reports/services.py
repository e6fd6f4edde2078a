"""Keeping the reports' own rows as orders and returns change.

The orders and returns services call these inside their own transactions, so a report's
rows change exactly when the orders and returns they summarise do (never in between, never
twice). Every row here is derived: `facts_rebuild` recomputes all of them from the orders,
returns and transitions, `facts_verify` compares the two, and `facts_fold` folds the rows
of past days into one per key (the sums stay the same).

Rows are only inserted (and folded); the one exception is `PickupTiming`, one row per
order, set when the pickup becomes ready and when it is collected.
"""

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import Case, CharField, Count, F, Q, Sum, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from core.db import insert_many, new
from inventory.models import Location
from orders.domain import Fulfilment, Status
from reports.models import (
    MONTHS,
    SALE_CHANNELS,
    CustomerYear,
    OrderDay,
    PickupTiming,
    PointsDay,
    RefundDay,
    ReturnRow,
)
from reports.sql import LocalPeriod

OUTCOMES = {
    Status.PLACED: OrderDay.Outcome.OPEN,
    Status.IN_TRANSIT: OrderDay.Outcome.OPEN,
    Status.READY_FOR_PICKUP: OrderDay.Outcome.OPEN,
    Status.SHIPPED: OrderDay.Outcome.OPEN,
    Status.COLLECTED: OrderDay.Outcome.DONE,
    Status.DELIVERED: OrderDay.Outcome.DONE,
    Status.PARTIALLY_RETURNED: OrderDay.Outcome.DONE,
    Status.RETURNED: OrderDay.Outcome.DONE,
    Status.CANCELLED: OrderDay.Outcome.CANCELLED,
    Status.EXPIRED: OrderDay.Outcome.EXPIRED,
}
ZERO = Decimal("0.00")
# The outcomes of an order that count as a sale (cancelled and expired ones do not).
SALE_OUTCOMES = (OrderDay.Outcome.OPEN, OrderDay.Outcome.DONE)


def outcome(status: str) -> str:
    """How an order in `status` counts: open, done, cancelled or expired."""
    return OUTCOMES[Status(status)]


def local_day(at: datetime, time_zone: str) -> date:
    return timezone.localtime(at, ZoneInfo(time_zone)).date()


def _row(order, *, sign: int, status: str, location=None) -> OrderDay:
    location = location or order.location
    return new(
        OrderDay,
        day=local_day(order.placed_at, location.time_zone),
        location_id=location.pk,
        channel=order.channel,
        fulfilment=order.fulfilment_type,
        outcome=outcome(status),
        orders=sign,
        units=sign * order.report_units,
        revenue=sign * (order.total - order.points_value),
        discounts=sign * order.discount_total,
        points=sign * order.points_redeemed,
        points_cost=sign * order.points_value,
    )


def orders_placed(orders: Iterable, *, units: dict[int, int]) -> None:
    """New orders (saved, with `location` loaded) and their units by order pk."""
    rows, customers = [], []
    for order in orders:
        order.report_units = units[order.pk]
        rows.append(_row(order, sign=1, status=order.status))
        if order.customer_id is not None:
            sold = _sold(order.status)
            customers += [
                _customer_row(order, location_id=None, orders=1, sales=sold),
                _customer_row(order, location_id=order.location_id, orders=1, sales=sold),
            ]
    # Facts nothing reads back in the request: inside a checkout they go with its other
    # appends (core.db.batched_writes).
    insert_many(OrderDay, rows)
    insert_many(CustomerYear, customers)


def _sold(status: str) -> int:
    """1 when an order in `status` is a sale (not cancelled or expired), else 0."""
    return int(outcome(status) in SALE_OUTCOMES)


def _customer_row(
    order, *, location_id: int | None, orders: int, sales: int, refunded: Decimal = ZERO
) -> CustomerYear:
    """What `order` adds to its customer's year (across the chain when `location_id` is
    None): `orders` in the month it was placed, `sales` in its channel with the money paid
    for them, and `refunded`."""
    if order.channel not in SALE_CHANNELS:
        raise ValueError(f"no customer sales column for channel {order.channel!r}")
    placed = timezone.localtime(order.placed_at, ZoneInfo(settings.TIME_ZONE))
    return new(
        CustomerYear,
        customer_id=order.customer_id,
        location_id=location_id,
        year=placed.year,
        **{f"m{placed.month}": orders, f"sales_{order.channel}": sales},
        paid=sales * (order.total - order.points_value),
        refunded=refunded,
    )


def order_moved(order, *, source_status: str, source_location=None) -> None:
    """`order` (saved) left `source_status` (and `source_location`, when re-routed): take it
    out of the old key and add it under the new one, if either changed."""
    moved = source_location is not None and source_location.pk != order.location_id
    if not moved and outcome(source_status) == outcome(order.status):
        return
    source_location = source_location or order.location
    order.report_units = _units(order)
    insert_many(
        OrderDay,
        [
            _row(order, sign=-1, status=source_status, location=source_location),
            _row(order, sign=1, status=order.status),
        ],
    )
    if order.customer_id is None:
        return
    before, now = _sold(source_status), _sold(order.status)
    customers = []
    if before != now:
        customers.append(_customer_row(order, location_id=None, orders=0, sales=now - before))
    if moved:
        customers += [
            _customer_row(order, location_id=source_location.pk, orders=-1, sales=-before),
            _customer_row(order, location_id=order.location_id, orders=1, sales=now),
        ]
    elif before != now:
        customers.append(
            _customer_row(order, location_id=order.location_id, orders=0, sales=now - before)
        )
    insert_many(CustomerYear, customers)
    if moved:
        PickupTiming.objects.filter(order_id=order.pk).delete()


def _units(order) -> int:
    cached = getattr(order, "_prefetched_objects_cache", {}).get("lines")
    if cached is not None:  # a checkout's own order: its lines may not be written yet
        return sum(line.quantity for line in cached)
    return order.lines.aggregate(n=Coalesce(Sum("quantity"), 0))["n"]


def pickup_ready(order, *, at: datetime) -> None:
    """A pickup moved to ready at `at`: its hours from placing to ready (a re-routed pickup
    is ready when its new store has it, so a later move to ready replaces the row)."""
    PickupTiming.objects.update_or_create(
        order_id=order.pk,
        defaults={
            "day": local_day(order.placed_at, order.location.time_zone),
            "location_id": order.location_id,
            "channel": order.channel,
            "ready_at": at,
            "hours_to_ready": _hours(order.placed_at, at),
            "hours_to_collect": None,
        },
    )


def pickup_collected(order, *, at: datetime) -> None:
    """A pickup was handed over at `at`: its hours from ready to collection."""
    timing = PickupTiming.objects.filter(order_id=order.pk).first()
    if timing is not None:
        timing.hours_to_collect = _hours(timing.ready_at, at)
        timing.save(update_fields=["hours_to_collect"])


def _hours(start: datetime, end: datetime) -> float:
    # Whole milliseconds, as the database computes them from stored timestamps.
    return round((end - start).total_seconds() * 1000) / 3_600_000


def return_completed(ret, *, refunded: Decimal, units: int, order) -> None:
    """A completed return of `units` gave back `refunded` in money (every tender but
    points)."""
    ReturnRow.objects.create(
        return_id=ret.pk,
        order_id=order.pk,
        sold_day=local_day(order.placed_at, order.location.time_zone),
        channel=order.channel,
        sold_location_id=order.location_id,
        location_id=ret.location_id,
        in_store=ret.location.kind == Location.Kind.STORE,
        reason=ret.reason,
        units=units,
        refunded=refunded,
    )
    if not refunded:
        return
    if order.customer_id is not None:
        CustomerYear.objects.bulk_create(
            _customer_row(order, location_id=where, orders=0, sales=0, refunded=refunded)
            for where in (None, order.location_id)
        )
    RefundDay.objects.create(
        day=local_day(ret.completed_at, ret.location.time_zone),
        location_id=order.location_id,
        channel=order.channel,
        amount=refunded,
    )


def customer_merged(survivor_id: int, duplicate_id: int) -> dict[str, int]:
    """Merge hook (settings.CUSTOMER_MERGE_HANDLERS): the duplicate's yearly rows become the
    survivor's, as its orders do."""
    moved = CustomerYear.objects.filter(customer_id=duplicate_id).update(customer_id=survivor_id)
    return {"year_rows": moved}


POINT_FIGURES = ("earned", "redeemed", "given_back", "reversed", "expired", "adjusted")


def _zones(location_ids) -> dict:
    ids = {pk for pk in location_ids if pk is not None}
    zones = dict(Location.objects.filter(pk__in=ids).values_list("pk", "time_zone"))
    zones[None] = settings.TIME_ZONE
    return zones


def _points_figure(entry) -> tuple[str, int] | None:
    """The figure a ledger entry moves, and by how much (None for an expiry: its points
    count through its allocations, under the lots they came from)."""
    kind = entry.kind
    if kind == "earn":
        return "earned", entry.points
    if kind == "redeem":
        return "redeemed", -entry.points
    if kind == "adjust":
        return "adjusted", entry.points
    if kind == "reverse":
        if entry.reverses.kind == "redeem":
            return "given_back", entry.points
        return "reversed", -entry.points
    return None


def points_recorded(entries: Iterable) -> None:
    """Ledger entries just written (their `reverses` loaded for reversals)."""
    moved = [(entry, _points_figure(entry)) for entry in entries]
    moved = [(entry, figure) for entry, figure in moved if figure is not None]
    if not moved:
        return
    zones = _zones(entry.location_id for entry, _figure in moved)
    PointsDay.objects.bulk_create(
        PointsDay(
            day=local_day(entry.occurred_at, zones[entry.location_id]),
            location_id=entry.location_id,
            channel=entry.channel,
            **{name: value},
        )
        for entry, (name, value) in moved
    )


def points_expired(entry, taken: Iterable[tuple]) -> None:
    """An expiry `entry` took (lot, points) from these lots: expired under each lot's
    location and channel, on the expiry's local day there."""
    taken = [(lot, points) for lot, points in taken if points]
    if not taken:
        return
    zones = _zones(lot.location_id for lot, _points in taken)
    PointsDay.objects.bulk_create(
        PointsDay(
            day=local_day(entry.occurred_at, zones[lot.location_id]),
            location_id=lot.location_id,
            channel=lot.channel,
            expired=points,
        )
        for lot, points in taken
    )


# --- derived from the source rows ---------------------------------------------------------

ORDER_FIGURES = ("orders", "units", "revenue", "discounts", "points", "points_cost")


def _derived_orders():
    """The `OrderDay` figures per key computed from the orders themselves."""
    from orders.models import Order, OrderLine

    keys = ("day", "location_id", "channel", "fulfilment", "outcome")
    orders = Order.objects.annotate(
        day=LocalPeriod("day", "placed_at", "location__time_zone"),
        fulfilment=F("fulfilment_type"),
        outcome=_outcome_case_via(""),
    )
    grouped = {
        tuple(row[k] for k in keys): row
        for row in orders.values(*keys)
        .annotate(
            orders=Count("pk"),
            revenue=Sum(F("total") - F("points_value")),
            discounts=Sum("discount_total"),
            points=Sum("points_redeemed"),
            points_cost=Sum("points_value"),
        )
        .order_by()
    }
    lines = (
        OrderLine.objects.annotate(
            day=LocalPeriod("day", "order__placed_at", "order__location__time_zone"),
            location_id=F("order__location_id"),
            channel=F("order__channel"),
            fulfilment=F("order__fulfilment_type"),
            outcome=_outcome_case_via("order__"),
        )
        .values(*keys)
        .annotate(units=Sum("quantity"))
        .order_by()
    )
    for row in lines:
        grouped[tuple(row[k] for k in keys)]["units"] = row["units"]
    return grouped


def _outcome_case_via(prefix: str) -> Case:
    """The outcome of the order reached through `prefix`, in SQL."""
    return Case(
        *(
            When(**{f"{prefix}status": status}, then=Value(str(value)))
            for status, value in OUTCOMES.items()
        ),
        output_field=CharField(),
    )


def _derived_refunds():
    from returns.models import RefundTender, Return

    keys = ("day", "location_id", "channel")
    refunds = (
        RefundTender.objects.filter(ret__status=Return.Status.COMPLETED)
        .exclude(kind="points")
        .annotate(
            day=LocalPeriod("day", "ret__completed_at", "ret__location__time_zone"),
            location_id=F("ret__order__location_id"),
            channel=F("ret__order__channel"),
        )
        .values(*keys)
        .annotate(amount=Sum("amount"))
        .order_by()
    )
    return {tuple(row[k] for k in keys): row for row in refunds}


YEAR_KEYS = ("customer_id", "location_id", "year")
YEAR_FIGURES = (
    *(f"m{month}" for month in MONTHS),
    *(f"sales_{channel}" for channel in SALE_CHANNELS),
    "paid",
    "refunded",
)


def _derived_customer_years() -> dict[tuple, dict]:
    """The `CustomerYear` figures per (customer, location or None, year) from the orders
    and the refunds of completed returns."""
    from orders.models import Order
    from returns.models import RefundTender, Return

    zone = Value(settings.TIME_ZONE)
    figures: dict[tuple, dict] = {}

    def into(customer_id, location_id, month) -> list[dict]:
        month = _date(month)
        return [
            figures.setdefault(
                (customer_id, where, month.year), {**dict.fromkeys(YEAR_FIGURES, 0), "paid": ZERO}
            )
            for where in (None, location_id)
        ]

    placed = (
        Order.objects.filter(customer__isnull=False)
        .annotate(_month=LocalPeriod("month", "placed_at", zone), _outcome=_outcome_case_via(""))
        .values("customer_id", "location_id", "channel", "_month", "_outcome")
        .annotate(_orders=Count("pk"), _paid=Sum(F("total") - F("points_value")))
        .order_by()
    )
    for row in placed.iterator(chunk_size=10_000):
        month = _date(row["_month"])
        for figure in into(row["customer_id"], row["location_id"], month):
            figure[f"m{month.month}"] += row["_orders"]
            if row["_outcome"] in SALE_OUTCOMES:
                figure[f"sales_{row['channel']}"] += row["_orders"]
                figure["paid"] += row["_paid"]
    refunds = (
        RefundTender.objects.filter(
            ret__status=Return.Status.COMPLETED, ret__order__customer__isnull=False
        )
        .exclude(kind="points")
        .annotate(
            _customer=F("ret__order__customer_id"),
            _location=F("ret__order__location_id"),
            _month=LocalPeriod("month", "ret__order__placed_at", zone),
        )
        .values("_customer", "_location", "_month")
        .annotate(_refunded=Sum("amount"))
        .order_by()
    )
    for row in refunds:
        for figure in into(row["_customer"], row["_location"], row["_month"]):
            figure["refunded"] += row["_refunded"]
    return figures


def _derived_returns() -> list[ReturnRow]:
    """A `ReturnRow` per completed return, from the returns, their lines and refunds."""
    from returns.models import RefundTender, Return, ReturnLine

    units = dict(
        ReturnLine.objects.filter(ret__status=Return.Status.COMPLETED)
        .values("ret_id")
        .annotate(n=Sum("quantity"))
        .values_list("ret_id", "n")
    )
    refunded = dict(
        RefundTender.objects.filter(ret__status=Return.Status.COMPLETED)
        .exclude(kind="points")
        .values("ret_id")
        .annotate(amount=Sum("amount"))
        .values_list("ret_id", "amount")
    )
    returns = Return.objects.filter(status=Return.Status.COMPLETED).select_related(
        "order__location", "location"
    )
    return [
        ReturnRow(
            return_id=ret.pk,
            order_id=ret.order_id,
            sold_day=local_day(ret.order.placed_at, ret.order.location.time_zone),
            channel=ret.order.channel,
            sold_location_id=ret.order.location_id,
            location_id=ret.location_id,
            in_store=ret.location.kind == Location.Kind.STORE,
            reason=ret.reason,
            units=units.get(ret.pk, 0),
            refunded=refunded.get(ret.pk, ZERO),
        )
        for ret in returns.iterator(chunk_size=5_000)
    ]


def _derived_points() -> dict[tuple, dict[str, int]]:
    """{(day, location_id, channel): figures} from the loyalty ledger itself."""
    from loyalty.models import LoyaltyAllocation, LoyaltyEntry

    zone = Value(settings.TIME_ZONE)
    keys = ("day", "location_id", "channel")

    def when(points: str, **condition):
        return Coalesce(Sum(Case(When(then=F(points), **condition), default=0)), 0)

    moved = (
        LoyaltyEntry.objects.exclude(kind="expire")
        .annotate(day=LocalPeriod("day", "occurred_at", Coalesce("location__time_zone", zone)))
        .values(*keys)
        .annotate(
            earned=when("points", kind="earn"),
            redeemed=when("points", kind="redeem"),
            given_back=when("points", kind="reverse", reverses__kind="redeem"),
            reversed=when("points", kind="reverse", reverses__kind="earn"),
            adjusted=when("points", kind="adjust"),
        )
        .order_by()
    )
    figures: dict = {}
    for row in moved:
        key = (_date(row["day"]), row["location_id"], row["channel"])
        into = figures.setdefault(key, dict.fromkeys(POINT_FIGURES, 0))
        into["earned"] += row["earned"]
        into["redeemed"] -= row["redeemed"]
        into["given_back"] += row["given_back"]
        into["reversed"] -= row["reversed"]
        into["adjusted"] += row["adjusted"]
    expired = (
        LoyaltyAllocation.objects.filter(entry__kind="expire")
        .annotate(
            day=LocalPeriod(
                "day", "entry__occurred_at", Coalesce("lot__location__time_zone", zone)
            ),
            location_id=F("lot__location_id"),
            channel=F("lot__channel"),
        )
        .values(*keys)
        .annotate(points=Sum("points"))
        .order_by()
    )
    for row in expired:
        key = (_date(row["day"]), row["location_id"], row["channel"])
        figures.setdefault(key, dict.fromkeys(POINT_FIGURES, 0))["expired"] -= row["points"]
    return figures


RETURN_FIELDS = (
    "order_id",
    "sold_day",
    "channel",
    "sold_location_id",
    "location_id",
    "in_store",
    "reason",
    "units",
    "refunded",
)


def _derived_timings() -> list[PickupTiming]:
    """A `PickupTiming` per pickup that became ready, from its transitions."""
    from orders.models import Order, OrderTransition

    timings = {}
    moves = (
        OrderTransition.objects.filter(
            order__fulfilment_type=Fulfilment.PICKUP,
            to_status__in=(Status.READY_FOR_PICKUP, Status.COLLECTED, Status.PLACED),
        )
        .exclude(to_status=Status.PLACED, from_status="")  # placing it: no timing yet
        .order_by("order_id", "at", "pk")
        .values_list("order_id", "to_status", "at")
    )
    for order_id, to_status, at in moves.iterator(chunk_size=10_000):
        if to_status == Status.PLACED:  # placed again elsewhere (re-routed): not ready there
            timings.pop(order_id, None)
        elif to_status == Status.READY_FOR_PICKUP:
            timings[order_id] = [at, None]
        elif order_id in timings:
            timings[order_id][1] = at
    rows = []
    orders = Order.objects.filter(pk__in=list(timings)).select_related("location")
    for order in orders.only("pk", "placed_at", "channel", "location").iterator(chunk_size=5_000):
        ready, collected = timings[order.pk]
        rows.append(
            PickupTiming(
                order_id=order.pk,
                day=local_day(order.placed_at, order.location.time_zone),
                location_id=order.location_id,
                channel=order.channel,
                ready_at=ready,
                hours_to_ready=_hours(order.placed_at, ready),
                hours_to_collect=None if collected is None else _hours(ready, collected),
            )
        )
    return rows


@transaction.atomic
def facts_rebuild() -> dict[str, int]:
    """Replace every report row by what the orders, returns and transitions say (after a bulk
    load that bypassed the services, such as `seed_scale`). One row per key."""
    OrderDay.objects.all().delete()
    RefundDay.objects.all().delete()
    PickupTiming.objects.all().delete()
    ReturnRow.objects.all().delete()
    PointsDay.objects.all().delete()
    CustomerYear.objects.all().delete()
    orders = [
        OrderDay(
            day=_date(key[0]),
            location_id=key[1],
            channel=key[2],
            fulfilment=key[3],
            outcome=key[4],
            orders=row["orders"],
            units=row.get("units") or 0,
            revenue=row["revenue"] or ZERO,
            discounts=row["discounts"] or ZERO,
            points=row["points"] or 0,
            points_cost=row["points_cost"] or ZERO,
        )
        for key, row in _derived_orders().items()
    ]
    OrderDay.objects.bulk_create(orders, batch_size=5_000)
    refunds = [
        RefundDay(day=_date(key[0]), location_id=key[1], channel=key[2], amount=row["amount"])
        for key, row in _derived_refunds().items()
    ]
    RefundDay.objects.bulk_create(refunds, batch_size=5_000)
    timings = _derived_timings()
    PickupTiming.objects.bulk_create(timings, batch_size=5_000)
    returns = _derived_returns()
    ReturnRow.objects.bulk_create(returns, batch_size=5_000)
    points = [
        PointsDay(day=key[0], location_id=key[1], channel=key[2], **values)
        for key, values in _derived_points().items()
    ]
    PointsDay.objects.bulk_create(points, batch_size=5_000)
    years = [
        CustomerYear(**dict(zip(YEAR_KEYS, key, strict=True)), **values)
        for key, values in _derived_customer_years().items()
    ]
    CustomerYear.objects.bulk_create(years, batch_size=5_000)
    return {
        "customer_years": len(years),
        "point_days": len(points),
        "order_days": len(orders),
        "refund_days": len(refunds),
        "pickups": len(timings),
        "returns": len(returns),
    }


def _date(value) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value


def _summed_orders() -> dict:
    keys = ("day", "location_id", "channel", "fulfilment", "outcome")
    summed = (
        OrderDay.objects.values(*keys)
        .annotate(**{name: Sum(name) for name in ORDER_FIGURES})
        .order_by()
    )
    return {
        tuple(row[k] for k in keys): {name: row[name] for name in ORDER_FIGURES}
        for row in summed
        if any(row[name] for name in ORDER_FIGURES)
    }


def facts_verify() -> list[str]:
    """The differences between the report rows and what the orders, returns and
    transitions say (empty when they agree)."""
    problems = []
    derived = {
        (_date(key[0]), *key[1:]): {
            name: (row.get(name) or 0) if name in ("orders", "units", "points") else row[name]
            for name in ORDER_FIGURES
        }
        for key, row in _derived_orders().items()
    }
    summed = _summed_orders()
    for key in sorted(derived.keys() | summed.keys(), key=str):
        if derived.get(key) != summed.get(key):
            problems.append(
                f"orders {_text(key)}: rows {summed.get(key)} != orders {derived.get(key)}"
            )
    refunds = {(_date(k[0]), *k[1:]): row["amount"] for k, row in _derived_refunds().items()}
    kept = {
        (row["day"], row["location_id"], row["channel"]): row["amount"]
        for row in RefundDay.objects.values("day", "location_id", "channel")
        .annotate(amount=Sum("amount"))
        .order_by()
        if row["amount"]
    }
    for key in sorted(refunds.keys() | kept.keys(), key=str):
        if refunds.get(key) != kept.get(key):
            problems.append(
                f"refunds {_text(key)}: rows {kept.get(key)} != returns {refunds.get(key)}"
            )
    timings = {
        t.order_id: (t.day, t.location_id, t.channel, t.hours_to_ready, t.hours_to_collect)
        for t in _derived_timings()
    }
    stored = {
        t.order_id: (t.day, t.location_id, t.channel, t.hours_to_ready, t.hours_to_collect)
        for t in PickupTiming.objects.all()
    }
    for order_id in sorted(timings.keys() | stored.keys()):
        if timings.get(order_id) != stored.get(order_id):
            problems.append(
                f"pickup {order_id}: row {stored.get(order_id)} != {timings.get(order_id)}"
            )
    ledger = _derived_points()
    # Aliased sums: the figures are also the rows' column names.
    summed_points = (
        PointsDay.objects.values("day", "location_id", "channel")
        .annotate(**{f"sum_{name}": Sum(name) for name in POINT_FIGURES})
        .order_by()
    )
    kept_points = {
        (row["day"], row["location_id"], row["channel"]): {
            name: row[f"sum_{name}"] for name in POINT_FIGURES
        }
        for row in summed_points
    }
    for key in sorted(ledger.keys() | kept_points.keys(), key=str):
        if ledger.get(key) != kept_points.get(key):
            problems.append(
                f"points {_text(key)}: rows {kept_points.get(key)} != ledger {ledger.get(key)}"
            )
    returns = {
        row.return_id: tuple(getattr(row, name) for name in RETURN_FIELDS)
        for row in _derived_returns()
    }
    kept_returns = {
        row.return_id: tuple(getattr(row, name) for name in RETURN_FIELDS)
        for row in ReturnRow.objects.all()
    }
    for return_id in sorted(returns.keys() | kept_returns.keys()):
        if returns.get(return_id) != kept_returns.get(return_id):
            problems.append(
                f"return {return_id}: row {kept_returns.get(return_id)} != {returns.get(return_id)}"
            )
    derived_years = {
        key: values for key, values in _derived_customer_years().items() if any(values.values())
    }
    kept_years = {
        tuple(row[k] for k in YEAR_KEYS): {name: row[f"sum_{name}"] for name in YEAR_FIGURES}
        for row in CustomerYear.objects.values(*YEAR_KEYS)
        .annotate(**{f"sum_{name}": Sum(name) for name in YEAR_FIGURES})
        .order_by()
        if any(row[f"sum_{name}"] for name in YEAR_FIGURES)
    }
    for key in sorted(derived_years.keys() | kept_years.keys(), key=str):
        if derived_years.get(key) != kept_years.get(key):
            problems.append(
                f"customer year {_text(key)}: rows {kept_years.get(key)}"
                f" != orders {derived_years.get(key)}"
            )
    return problems


def _text(key: tuple) -> str:
    return "/".join(str(part) for part in key)


def facts_fold(*, before: date) -> int:
    """Fold the rows of days before `before` into one row per key (same sums; order and
    refund keys that sum to nothing go — points keys stay, as a report shows a key with
    entries even when they cancel out). Rows added meanwhile by other transactions are
    left as they are. Returns how many rows were removed."""
    removed = 0
    past = Q(day__lt=before)
    # Customer years are not folded by day: the rows of customers with a key of several.
    several = (
        CustomerYear.objects.values(*YEAR_KEYS)
        .annotate(_rows=Count("pk"))
        .filter(_rows__gt=1)
        .values("customer_id")
    )
    for model, keys, figures, drop_zero, which in (
        (
            OrderDay,
            ("day", "location_id", "channel", "fulfilment", "outcome"),
            ORDER_FIGURES,
            True,
            past,
        ),
        (RefundDay, ("day", "location_id", "channel"), ("amount",), True, past),
        (PointsDay, ("day", "location_id", "channel"), POINT_FIGURES, False, past),
        (CustomerYear, YEAR_KEYS, YEAR_FIGURES, True, Q(customer_id__in=several)),
    ):
        with transaction.atomic():
            # Locked: a second fold running at once waits, then finds these rows gone and
            # does not see the folded ones (inserted after its snapshot), so sums nothing twice.
            old = model.objects.select_for_update().filter(which)
            ids = list(old.values_list("pk", flat=True))
            if not ids:
                continue
            folded = []
            for start in range(0, len(ids), 20_000):
                chunk = ids[start : start + 20_000]
                folded += list(
                    model.objects.filter(pk__in=chunk)
                    .values(*keys)
                    .annotate(**{name: Sum(name) for name in figures})
                    .order_by()
                )
            totals: dict = {}
            for row in folded:
                key = tuple(row[k] for k in keys)
                into = totals.setdefault(key, dict.fromkeys(figures, 0))
                for name in figures:
                    into[name] += row[name]
            for start in range(0, len(ids), 20_000):
                model.objects.filter(pk__in=ids[start : start + 20_000]).delete()
            model.objects.bulk_create(
                [
                    model(**dict(zip(keys, key, strict=True)), **values)
                    for key, values in totals.items()
                    if any(values.values()) or not drop_zero
                ],
                batch_size=5_000,
            )
            removed += len(ids) - sum(
                1 for v in totals.values() if any(v.values()) or not drop_zero
            )
    return removed
