"""The `pickup` report: how much of the online business is click & collect, how those
orders end (collected, expired, cancelled, still open) and how long stores take to have
them ready and customers to collect them, per store or per local day, week or month.

The counts come from one grouped query on the orders (totals are their sums). Durations
come from the status transitions, read with joins on the transitions table (no lookup per
order). The medians are computed in the database: on PostgreSQL as an aggregate
(`percentile_cont(0.5)`), grouped and in total; SQLite has no percentile aggregate, so
there a window query per median (row number and count per group) fetches only the one or
two middle durations of each group."""

from decimal import ROUND_HALF_UP, Decimal

from django.db import connection
from django.db.models import (
    Aggregate,
    Count,
    Exists,
    F,
    FilteredRelation,
    FloatField,
    Func,
    OuterRef,
    Q,
    QuerySet,
    Window,
)
from django.db.models.functions import RowNumber

from orders.domain import Channel, Fulfilment, Status
from orders.models import Order, OrderTransition
from reports.registry import ReportParams, ReportResult, report
from reports.sql import PERIODS, LocalPeriod, in_local_dates, ratio

GROUP_BY = ("store", "day", "week", "month")
# A returned pickup was collected first.
COLLECTED = (Status.COLLECTED, Status.PARTIALLY_RETURNED, Status.RETURNED)
OPEN = (Status.PLACED, Status.READY_FOR_PICKUP)
HOURS = Decimal("0.1")


class HoursBetween(Func):
    """Hours (a float) from `start` to `end`, two timestamps; NULL when either is."""

    output_field = FloatField()

    def __init__(self, start, end, **extra):
        super().__init__(start, end, **extra)

    def as_postgresql(self, compiler, connection, **extra_context):
        (start, start_params), (end, end_params) = (
            compiler.compile(expression) for expression in self.source_expressions
        )
        return (
            f"(EXTRACT(EPOCH FROM ({end} - {start})) / 3600.0)::double precision",
            (*end_params, *start_params),
        )

    def as_sqlite(self, compiler, connection, **extra_context):
        (start, start_params), (end, end_params) = (
            compiler.compile(expression) for expression in self.source_expressions
        )
        # Whole milliseconds, so that durations of whole minutes divide exactly.
        return (
            f"(ROUND((julianday({end}) - julianday({start})) * 86400000.0) / 3600000.0)",
            (*end_params, *start_params),
        )


class Median(Aggregate):
    """PostgreSQL's continuous median of an expression (NULLs ignored)."""

    function = "percentile_cont"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


def _online(queryset: QuerySet, params: ReportParams, order: str) -> QuerySet:
    """Rows whose order (reached through `order`) is an online order (every channel but
    the till) placed on a local date of the period at its location, within the user's
    locations, with the group `key` of that order."""
    queryset = in_local_dates(
        queryset.exclude(**{f"{order}channel": Channel.POS}),
        timestamp=f"{order}placed_at",
        time_zone=f"{order}location__time_zone",
        date_from=params.date_from,
        date_to=params.date_to,
    )
    if params.location_ids is not None:
        queryset = queryset.filter(**{f"{order}location_id__in": params.location_ids})
    if params.group_by in PERIODS:
        key = LocalPeriod(params.group_by, f"{order}placed_at", f"{order}location__time_zone")
    else:
        key = F(f"{order}location__code")
    return queryset.annotate(key=key)


def _readiness(params: ReportParams) -> QuerySet:
    """One row per pickup of the period that became ready: its last move to ready (a
    re-routed pickup is ready when its new store has it), joined to its handover (if any).

    Built on the transitions table with joins — an anti-join drops earlier moves to ready,
    the handover is a filtered join — so the database does no per-order lookups.
    """
    later = OrderTransition.objects.filter(
        order=OuterRef("order"), to_status=Status.READY_FOR_PICKUP, at__gt=OuterRef("at")
    )
    moves = OrderTransition.objects.filter(
        to_status=Status.READY_FOR_PICKUP, order__fulfilment_type=Fulfilment.PICKUP
    ).exclude(Exists(later))
    return _online(moves, params, "order__").alias(
        handover=FilteredRelation(
            "order__transitions",
            condition=Q(order__transitions__to_status=Status.COLLECTED),
        )
    )


def _durations() -> dict[str, HoursBetween]:
    """Over `_readiness` rows: hours from placing to ready, and from ready to the handover
    (NULL when not collected)."""
    return {
        "to_ready": HoursBetween(F("order__placed_at"), F("at")),
        "to_collect": HoursBetween(F("at"), F("handover__at")),
    }


def _middle_values(queryset: QuerySet, hours: str, *, grouped: bool = True) -> dict:
    """{key: the median of `hours` in the key's group} (grouped) or {None: the median of
    all}, by a window query that fetches only the one or two middle rows of each group
    (for engines without a percentile aggregate)."""
    partition = [F("key")] if grouped else None
    ranked = (
        queryset.filter(**{f"{hours}__isnull": False})
        .annotate(
            position=Window(RowNumber(), partition_by=partition, order_by=[F(hours).asc()]),
            size=Window(Count("pk"), partition_by=partition),
        )
        .filter(position__gte=(F("size") + 1) / 2, position__lte=(F("size") + 2) / 2)
        .values_list("key", hours)
    )
    middles: dict = {}
    for key, value in ranked:
        middles.setdefault(key if grouped else None, []).append(value)
    return {key: sum(values) / len(values) for key, values in middles.items()}


def _hours(value) -> str | None:
    if value is None:
        return None
    return str(Decimal(str(value)).quantize(HOURS, rounding=ROUND_HALF_UP))


def _figures(row: dict, *, to_ready, to_collect) -> dict:
    return {
        "orders": row["orders"],
        "pickups": row["pickups"],
        "pickup_share": ratio(row["pickups"], row["orders"]),
        "collected": row["collected"],
        "expired": row["expired"],
        "cancelled": row["cancelled"],
        "open": row["open"],
        "median_hours_to_ready": _hours(to_ready),
        "median_hours_to_collect": _hours(to_collect),
    }


@report(
    name="pickup",
    title="Pickup",
    description="Share of online orders collected in store, how pickups end (collected, "
    "expired, cancelled) and the median hours to ready and to collection, per store.",
    group_by=GROUP_BY,
)
def pickup(params: ReportParams) -> ReportResult:
    """Click & collect per store (location code) or per local day, week or month.

    The base is the online orders (every channel but the till's) placed on a local date of
    the period at their location: for a store, the pickups waiting or collected there and
    any deliveries it ships; for a warehouse, its deliveries. Every status counts here.

    - `orders`: those online orders.
    - `pickups`: the pickups among them.
    - `pickup_share`: pickups / orders (None without orders).
    - `collected`: pickups handed over (those since returned included).
    - `expired`: pickups not collected in time.
    - `cancelled`: pickups cancelled by the customer or the store.
    - `open`: pickups still placed or ready.
    - `median_hours_to_ready`: median hours from placing to the (last) move to ready, over
      pickups that became ready (a re-routed pickup is ready when its new store has it).
    - `median_hours_to_collect`: median hours from that move to ready to the handover, over
      collected pickups.
    Totals: the same over every row (the medians over all pickups, not of the rows).
    """
    pickups = Q(fulfilment_type=Fulfilment.PICKUP)
    grouped = list(
        _online(Order.objects.all(), params, "")
        .values("key")
        .annotate(
            orders=Count("pk"),
            pickups=Count("pk", filter=pickups),
            collected=Count("pk", filter=pickups & Q(status__in=COLLECTED)),
            expired=Count("pk", filter=pickups & Q(status=Status.EXPIRED)),
            cancelled=Count("pk", filter=pickups & Q(status=Status.CANCELLED)),
            open=Count("pk", filter=pickups & Q(status__in=OPEN)),
        )
        .order_by("key")
    )
    totals = {
        name: sum(row[name] for row in grouped)
        for name in ("orders", "pickups", "collected", "expired", "cancelled", "open")
    }
    readiness = _readiness(params)
    if connection.vendor == "postgresql":
        by_key = {
            row.pop("key"): row
            for row in readiness.values("key").annotate(
                **{name: Median(hours) for name, hours in _durations().items()}
            )
        }
        totals |= readiness.aggregate(
            **{name: Median(hours) for name, hours in _durations().items()}
        )
    else:
        readiness = readiness.annotate(**_durations())
        # No percentile aggregate: the middle rows of each group by a window query.
        ready = _middle_values(readiness, "to_ready")
        collect = _middle_values(readiness, "to_collect")
        by_key = {
            key: {"to_ready": ready.get(key), "to_collect": collect.get(key)}
            for key in ready.keys() | collect.keys()
        }
        totals["to_ready"] = _middle_values(readiness, "to_ready", grouped=False).get(None)
        totals["to_collect"] = _middle_values(readiness, "to_collect", grouped=False).get(None)
    for row in grouped:
        row |= by_key.get(row["key"], {"to_ready": None, "to_collect": None})
    rows = [
        {
            params.group_by: row["key"],
            **_figures(row, to_ready=row["to_ready"], to_collect=row["to_collect"]),
        }
        for row in grouped
    ]
    return ReportResult(
        rows=rows,
        totals=_figures(totals, to_ready=totals["to_ready"], to_collect=totals["to_collect"]),
    )
