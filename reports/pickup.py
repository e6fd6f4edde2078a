"""The `pickup` report: how much of the online business is click & collect, how those
orders end (collected, expired, cancelled, still open) and how long stores take to have
them ready and customers to collect them, per store or per local day, week or month.

The counts come from one grouped query on the reports' daily rows (`OrderDay`; totals are
their sums), the durations from one row per pickup that became ready (`PickupTiming`, kept
by the orders service at the moves to ready and to collected). The medians are computed
in the database: on PostgreSQL as an aggregate (`percentile_cont(0.5)`), grouped and in
total; SQLite has no percentile aggregate, so there a window query per median (row number
and count per group) fetches only the one or two middle durations of each group."""

from decimal import ROUND_HALF_UP, Decimal

from django.db import connection
from django.db.models import Aggregate, Count, F, FloatField, Q, QuerySet, Sum, Window
from django.db.models.functions import RowNumber

from orders.domain import Channel, Fulfilment
from reports.models import OrderDay, PickupTiming
from reports.registry import ReportParams, ReportResult, report
from reports.sql import day_key, ratio

GROUP_BY = ("store", "day", "week", "month")
HOURS = Decimal("0.1")


class Median(Aggregate):
    """PostgreSQL's continuous median of an expression (NULLs ignored)."""

    function = "percentile_cont"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


def _days(queryset: QuerySet, params: ReportParams, *, keyed: bool = True) -> QuerySet:
    """Daily rows of online orders (every channel but the till) placed on a local date of
    the period, within the user's locations, with their group `key` (when `keyed`)."""
    queryset = queryset.filter(day__gte=params.date_from, day__lte=params.date_to).exclude(
        channel=Channel.POS
    )
    if params.location_ids is not None:
        queryset = queryset.filter(location_id__in=params.location_ids)
    return queryset.annotate(key=day_key(params.group_by)) if keyed else queryset


DURATIONS = {"to_ready": "hours_to_ready", "to_collect": "hours_to_collect"}


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
    pickups = Q(fulfilment=Fulfilment.PICKUP)
    outcome = OrderDay.Outcome
    counted = {
        "orders": Sum("orders"),
        "pickups": Sum("orders", filter=pickups),
        "collected": Sum("orders", filter=pickups & Q(outcome=outcome.DONE)),
        "expired": Sum("orders", filter=pickups & Q(outcome=outcome.EXPIRED)),
        "cancelled": Sum("orders", filter=pickups & Q(outcome=outcome.CANCELLED)),
        "open": Sum("orders", filter=pickups & Q(outcome=outcome.OPEN)),
    }
    # Aliases, as `orders` is also a column of the rows summed.
    grouped = [
        {"key": row["key"], **{name: row[f"n_{name}"] or 0 for name in counted}}
        for row in _days(OrderDay.objects.all(), params)
        .values("key")
        .annotate(**{f"n_{name}": total for name, total in counted.items()})
        .exclude(n_orders=0)
        .order_by("key")
    ]
    totals = {
        name: sum(row[name] for row in grouped)
        for name in ("orders", "pickups", "collected", "expired", "cancelled", "open")
    }
    readiness = _days(PickupTiming.objects.all(), params)
    if connection.vendor == "postgresql":
        by_key = {
            row.pop("key"): row
            for row in readiness.values("key").annotate(
                **{name: Median(hours) for name, hours in DURATIONS.items()}
            )
        }
        # The totals need no key (for stores, no join to the locations).
        totals |= _days(PickupTiming.objects.all(), params, keyed=False).aggregate(
            **{name: Median(hours) for name, hours in DURATIONS.items()}
        )
    else:
        # No percentile aggregate: the middle rows of each group by a window query.
        ready = _middle_values(readiness, "hours_to_ready")
        collect = _middle_values(readiness, "hours_to_collect")
        by_key = {
            key: {"to_ready": ready.get(key), "to_collect": collect.get(key)}
            for key in ready.keys() | collect.keys()
        }
        totals["to_ready"] = _middle_values(readiness, "hours_to_ready", grouped=False).get(None)
        totals["to_collect"] = _middle_values(readiness, "hours_to_collect", grouped=False).get(
            None
        )
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
