"""The `pickup` report: how much of the online business is click & collect, how those
orders end (collected, expired, cancelled, still open) and how long stores take to have
them ready and customers to collect them, per store or per local day, week or month.

Durations come from the order's status transitions. The medians are computed in the
database: on PostgreSQL as an aggregate (`percentile_cont(0.5)`) in the one grouped query;
SQLite has no percentile aggregate, so there a window query per median (row number and
count per group) fetches only the one or two middle durations of each group.
"""

from decimal import ROUND_HALF_UP, Decimal

from django.db import connection
from django.db.models import (
    Aggregate,
    Count,
    F,
    FloatField,
    Func,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
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


def _transition_at(status: str, *, latest: bool) -> Subquery:
    moves = OrderTransition.objects.filter(order=OuterRef("pk"), to_status=status)
    return Subquery(moves.order_by("-at" if latest else "at").values("at")[:1])


def _durations() -> dict[str, HoursBetween]:
    """The two durations of a pickup, as expressions over an order row."""
    ready_at = _transition_at(Status.READY_FOR_PICKUP, latest=True)
    return {
        "to_ready": HoursBetween(F("placed_at"), ready_at),
        "to_collect": HoursBetween(ready_at, _transition_at(Status.COLLECTED, latest=False)),
    }


def _orders(params: ReportParams) -> QuerySet:
    """Online orders (every channel but the till) placed on a local date of the period at
    their location, with their group `key`."""
    queryset = in_local_dates(
        Order.objects.exclude(channel=Channel.POS),
        timestamp="placed_at",
        time_zone="location__time_zone",
        date_from=params.date_from,
        date_to=params.date_to,
    )
    if params.location_ids is not None:
        queryset = queryset.filter(location_id__in=params.location_ids)
    if params.group_by in PERIODS:
        key = LocalPeriod(params.group_by, "placed_at", "location__time_zone")
    else:
        key = F("location__code")
    return queryset.annotate(key=key)


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
    queryset = _orders(params)
    pickups = Q(fulfilment_type=Fulfilment.PICKUP)
    figures = {
        "orders": Count("pk"),
        "pickups": Count("pk", filter=pickups),
        "collected": Count("pk", filter=pickups & Q(status__in=COLLECTED)),
        "expired": Count("pk", filter=pickups & Q(status=Status.EXPIRED)),
        "cancelled": Count("pk", filter=pickups & Q(status=Status.CANCELLED)),
        "open": Count("pk", filter=pickups & Q(status__in=OPEN)),
    }
    has_percentile = connection.vendor == "postgresql"
    if has_percentile:
        # Only pickups: the transitions are looked up for them alone.
        figures |= {
            name: Median(duration, filter=pickups) for name, duration in _durations().items()
        }
    pickups_only = queryset.filter(pickups).annotate(**_durations())
    grouped = list(queryset.values("key").annotate(**figures).order_by("key"))
    totals = queryset.aggregate(**figures)
    if not has_percentile:
        ready = _middle_values(pickups_only, "to_ready")
        collect = _middle_values(pickups_only, "to_collect")
        for row in grouped:
            row["to_ready"], row["to_collect"] = ready.get(row["key"]), collect.get(row["key"])
        # The overall medians: the same window query over one group.
        totals["to_ready"] = _middle_values(pickups_only, "to_ready", grouped=False).get(None)
        totals["to_collect"] = _middle_values(pickups_only, "to_collect", grouped=False).get(None)
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
