"""The `customers` report: new and returning customers, repeat purchases at 90 and 180
days, customers who buy in several channels, and lifetime value by first channel and by
monthly cohort.

A customer is a person, not a store's: every date here is a local date in the retailer's
time zone (`settings.TIME_ZONE`), for their orders as for their first order. Identified
customers only (an order without a customer is no customer's), and a merged duplicate is
not counted: its orders moved to the survivor, so the person counts once.

One statement (two for months) whatever the number of customers or orders: one pass over
the orders of the period's customers gives a row per customer (from their first-order
fields, kept as orders are placed), and an outer query groups those rows — hand-written,
since the ORM cannot aggregate over a grouped subquery.
"""

from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Case, Count, DecimalField, F, Max, Min, Q, QuerySet, Sum, Value, When
from django.db.models.functions import Coalesce

from core.db_router import read_connection
from orders.domain import Status
from orders.models import MONEY, Order
from reports.registry import ReportParams, ReportResult, report
from reports.sql import LocalPeriod, local_bounds, money, ratio
from returns.models import RefundTender, Return

NOT_SALES = (Status.CANCELLED, Status.EXPIRED)
REPEAT_DAYS = (90, 180)
COUNTS = (
    "customers",
    "new_customers",
    "returning_customers",
    "repeat_eligible_90",
    "repeat_90",
    "repeat_eligible_180",
    "repeat_180",
    "multi_channel_customers",
    "single_channel_customers",
)
AMOUNTS = ("multi_channel_spend", "single_channel_spend", "revenue")
FIGURES = (*(name for name in COUNTS if name != "returning_customers"), *AMOUNTS)


def _zone() -> Value:
    return Value(settings.TIME_ZONE)


def _scope(params: ReportParams, prefix: str = "") -> Q:
    if params.location_ids is None:
        return Q()
    return Q(**{f"{prefix}location_id__in": params.location_ids})


def _stats(params: ReportParams) -> QuerySet:
    """One row per customer who placed an order in the period (at the stores), from one
    pass over their orders up to `to`: first order (the customer's kept fields), cohort,
    whether new and old enough for each repeat window, orders within each window after
    the first, sales channels and the money paid for their sales."""
    start, end = local_bounds(params.date_from, params.date_to)
    ordered = Order.objects.filter(
        _scope(params), customer__isnull=False, placed_at__gte=start, placed_at__lt=end
    ).values("customer_id")
    first = F("customer__first_order_at")
    flags = {"_new": Q(customer__first_order_at__gte=start)}
    windows = {}
    for days in REPEAT_DAYS:
        flags[f"_eligible_{days}"] = flags["_new"] & Q(
            customer__first_order_at__lt=end - timedelta(days=days)
        )
        windows[f"_again_{days}"] = Count(
            "pk", filter=Q(placed_at__gt=first, placed_at__lte=first + timedelta(days=days))
        )
    sale = ~Q(status__in=NOT_SALES) & _scope(params)
    # Grouped by the customer alone (their own fields through Max) and without DISTINCT, so
    # the database can hash the groups; two channels or more is lowest < highest.
    return (
        Order.objects.filter(
            customer_id__in=ordered, customer__merged_into__isnull=True, placed_at__lt=end
        )
        .annotate(_customer=F("customer_id"))
        .values("_customer")
        .annotate(
            _first_channel=Max("customer__first_channel"),
            _cohort=Max(LocalPeriod("month", "customer__first_order_at", _zone())),
            **{name: Max(Case(When(flag, then=1), default=0)) for name, flag in flags.items()},
            _channel_low=Min("channel", filter=sale),
            _channel_high=Max("channel", filter=sale),
            _paid=Coalesce(
                Sum(F("total") - F("points_value"), filter=sale),
                Value(Decimal(0)),
                output_field=DecimalField(**MONEY),
            ),
            **windows,
        )
        .order_by()
    )


def _refunds(params: ReportParams) -> QuerySet:
    """Per customer, the money given back by returns of their sales (at the stores)
    completed up to `to` (as the sales report counts it: every refund but points)."""
    _start, end = local_bounds(params.date_from, params.date_to)
    return (
        RefundTender.objects.filter(
            _scope(params, "ret__order__"),
            ret__status=Return.Status.COMPLETED,
            ret__completed_at__lt=end,
            ret__order__placed_at__lt=end,
            ret__order__customer__isnull=False,
        )
        .exclude(kind="points")
        .annotate(_customer=F("ret__order__customer_id"))
        .values("_customer")
        .annotate(_refunded=Sum("amount"))
        .order_by()
    )


def _months(params: ReportParams) -> QuerySet:
    """(customer, month) for each month of the period a customer ordered in (there)."""
    start, end = local_bounds(params.date_from, params.date_to)
    return (
        Order.objects.filter(
            _scope(params), customer__isnull=False, placed_at__gte=start, placed_at__lt=end
        )
        .annotate(_customer=F("customer_id"), _month=LocalPeriod("month", "placed_at", _zone()))
        .values("_customer", "_month")
        .distinct()
        .order_by()
    )


def _aggregate(params: ReportParams, group_by: str | None) -> list[dict]:
    """The figures per group (`month`, `first_channel`, `cohort`, or None for one row of
    totals): the per-customer rows of `_stats` grouped in one statement."""
    sql, values = _aggregate_sql(params, group_by)
    # The read replica when one serves reports (core.db_router), else the primary.
    with read_connection(Order).cursor() as cursor:
        cursor.execute(sql, values)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _aggregate_sql(params: ReportParams, group_by: str | None) -> tuple[str, list]:
    spend = "(s._paid - COALESCE(r._refunded, 0))"
    multi, single = "s._channel_low < s._channel_high", "s._channel_low = s._channel_high"
    new = "s._new"
    parts = [_stats(params), _refunds(params)]
    joins = ""
    if group_by == "month":
        new = "(CASE WHEN s._new = 1 AND s._cohort = m._month THEN 1 ELSE 0 END)"
        parts.append(_months(params))
        joins = "INNER JOIN ({}) m ON m._customer = s._customer"
    key = {"month": "m._month", "first_channel": "s._first_channel", "cohort": "s._cohort"}.get(
        group_by, "NULL"
    )
    grouping = f"GROUP BY {key} ORDER BY {key}" if group_by else ""
    repeats = ",\n".join(
        f"SUM(CASE WHEN {new} = 1 AND s._eligible_{days} = 1 THEN 1 ELSE 0 END) "
        f"AS repeat_eligible_{days},\n"
        f"SUM(CASE WHEN {new} = 1 AND s._eligible_{days} = 1 AND s._again_{days} > 0 "
        f"THEN 1 ELSE 0 END) AS repeat_{days}"
        for days in REPEAT_DAYS
    )
    template = f"""
        SELECT {key} AS group_key,
            COUNT(*) AS customers,
            SUM({new}) AS new_customers,
            {repeats},
            SUM(CASE WHEN {multi} THEN 1 ELSE 0 END) AS multi_channel_customers,
            SUM(CASE WHEN {single} THEN 1 ELSE 0 END) AS single_channel_customers,
            SUM(CASE WHEN {multi} THEN {spend} ELSE 0 END) AS multi_channel_spend,
            SUM(CASE WHEN {single} THEN {spend} ELSE 0 END) AS single_channel_spend,
            SUM({spend}) AS revenue
        FROM ({{}}) s
        LEFT JOIN ({{}}) r ON r._customer = s._customer
        {joins}
        {grouping}
    """
    compiled = [part.query.sql_with_params() for part in parts]
    sql = template.format(*(part_sql for part_sql, _params in compiled))
    return sql, [value for _sql, values in compiled for value in values]


def _format(values: dict) -> dict:
    counts = {name: values.get(name) or 0 for name in COUNTS if name != "returning_customers"}
    # str(): SQLite's raw cursor answers sums as floats.
    amounts = {name: Decimal(str(values.get(name) or 0)) for name in AMOUNTS}
    customers, multi, single = (
        counts["customers"],
        counts["multi_channel_customers"],
        counts["single_channel_customers"],
    )
    return {
        "customers": customers,
        "new_customers": counts["new_customers"],
        "returning_customers": customers - counts["new_customers"],
        "repeat_eligible_90": counts["repeat_eligible_90"],
        "repeat_90": counts["repeat_90"],
        "repeat_rate_90": ratio(counts["repeat_90"], counts["repeat_eligible_90"]),
        "repeat_eligible_180": counts["repeat_eligible_180"],
        "repeat_180": counts["repeat_180"],
        "repeat_rate_180": ratio(counts["repeat_180"], counts["repeat_eligible_180"]),
        "multi_channel_customers": multi,
        "single_channel_customers": single,
        "multi_channel_share": ratio(multi, customers),
        "multi_channel_avg_spend": money(amounts["multi_channel_spend"] / multi) if multi else None,
        "single_channel_avg_spend": money(amounts["single_channel_spend"] / single)
        if single
        else None,
        "revenue": money(amounts["revenue"]),
        "ltv": money(amounts["revenue"] / customers) if customers else None,
    }


@report(
    name="customers",
    title="Customers",
    description="New and returning customers, repeat purchases at 90 and 180 days, customers "
    "buying in several channels, and lifetime value by first channel and monthly cohort.",
    group_by=("month", "first_channel", "cohort"),
)
def customers(params: ReportParams) -> ReportResult:
    """Identified customers who placed an order from `from` to `to` (local dates in
    settings.TIME_ZONE), merged duplicates counted once (as their survivor).

    An *order* is any order placed, whatever became of it; a *sale* one that was not
    cancelled or expired. The first order is the customer's earliest in any channel.
    Rows by `month` (the customers who ordered in that month of the period; a customer
    shows in each month they ordered), `first_channel` (the channel of their first order)
    or `cohort` (the month of their first order: a cohort inside the period is complete,
    an earlier one holds only those who came back in the period). Totals: each customer
    of the period once.
    - `customers`: customers who placed an order in the row's period.
    - `new_customers`: those whose first order falls in it (for a month row: that month,
      from `from` on); `returning_customers`: the others, who had ordered before.
    - `repeat_eligible_90`: the new customers whose first order is more than 90 days
      before the end of `to` (the report's end, not today, so a past period keeps its
      figures); `repeat_90`: of those, the ones who placed another order within 90 days
      after the first; `repeat_rate_90`: repeat_90 / repeat_eligible_90. The same at 180.
    - `multi_channel_customers` / `single_channel_customers`: customers whose sales up to
      `to` span two or more channels / exactly one; `multi_channel_share`: multi / customers.
    - `multi_channel_avg_spend` / `single_channel_avg_spend`: the average spend of each group,
      a customer's spend being the money they paid for their sales up to `to` (order totals
      after discounts, less the points they paid with) less the money given back by
      returns of those sales completed up to `to` — revenue as the sales report counts it.
    - `revenue`: the spend of the row's customers; `ltv`: revenue / customers.
    With a location (a store manager's stores) only customers who ordered there count, and
    their spend, channels and revenue count only orders there; the first order, first
    channel, cohort and repeat orders stay the customer's own across the chain.
    Ratios have 4 decimals and money 2; none when dividing by 0.
    """
    grouped = _aggregate(params, params.group_by)
    if params.group_by == "month":
        # A customer shows in each month they ordered in: the totals count them once.
        (totals,) = _aggregate(params, None)
    else:
        totals = {name: sum(row[name] or 0 for row in grouped) for name in FIGURES}
    rows = [
        {params.group_by: _key(params.group_by, row["group_key"]), **_format(row)}
        for row in grouped
    ]
    return ReportResult(rows=rows, totals=_format(totals))


def _key(group_by: str, value):
    """A group key as the ORM would give it (SQLite hands dates over as text)."""
    if group_by != "first_channel" and isinstance(value, str):
        return date.fromisoformat(value)
    return value
