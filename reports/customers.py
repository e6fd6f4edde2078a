"""The `customers` report: new and returning customers, repeat purchases at 90 and 180
days, customers who buy in several channels, and lifetime value by first channel and by
monthly cohort.

A customer is a person, not a store's: every date here is a local date in the retailer's
time zone (`settings.TIME_ZONE`), for their orders as for their first order. Identified
customers only (an order without a customer is no customer's), and a merged duplicate is
not counted: its orders moved to the survivor, so the person counts once.

Nothing here walks a customer's history. Their first order, its channel, their second
order (so a repeat within 90 days is one comparison) are kept on the customer as orders
are placed; what they bought per location and channel is kept in `CustomerSales`. A
report wants those figures *up to* the end of its period: the kept sums less what came
after the end (orders placed and refunds made since), which for a recent period is a
handful of rows. One statement (two for months), hand-written around the ORM's compiled
parts, since the ORM does not aggregate over a grouped subquery or a UNION.
"""

from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import (
    Case,
    DecimalField,
    F,
    IntegerField,
    Q,
    QuerySet,
    Value,
    When,
)

from core.db_router import read_connection
from customers.models import Customer
from orders.domain import Status
from orders.models import MONEY, Order
from reports.models import CustomerSales
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
SALES_COLUMNS = ("_customer", "_channel", "_sales", "_paid", "_refunded")


def _zone() -> Value:
    return Value(settings.TIME_ZONE)


def _scope(params: ReportParams, prefix: str = "") -> Q:
    if params.location_ids is None:
        return Q()
    return Q(**{f"{prefix}location_id__in": params.location_ids})


def _ordered(params: ReportParams) -> QuerySet:
    """The orders placed in the period (at the stores) by identified customers."""
    start, end = local_bounds(params.date_from, params.date_to)
    return Order.objects.filter(
        _scope(params), customer__isnull=False, placed_at__gte=start, placed_at__lt=end
    )


def _customers(params: ReportParams) -> QuerySet:
    """One row per customer who ordered in the period: from their kept fields, whether new
    and old enough for each repeat window, whether they came back within it, their first
    channel and cohort."""
    start, end = local_bounds(params.date_from, params.date_to)
    first = F("first_order_at")

    def flag(condition: Q) -> Case:
        return Case(When(condition, then=1), default=0, output_field=IntegerField())

    new = Q(first_order_at__gte=start)
    flags = {"_new": flag(new)}
    for days in REPEAT_DAYS:
        eligible = new & Q(first_order_at__lt=end - timedelta(days=days))
        flags[f"_eligible_{days}"] = flag(eligible)
        flags[f"_again_{days}"] = flag(
            eligible & Q(second_order_at__lte=first + timedelta(days=days))
        )
    return (
        Customer.objects.filter(
            pk__in=_ordered(params).values("customer_id"), merged_into__isnull=True
        )
        .annotate(
            _customer=F("pk"),
            _first_channel=F("first_channel"),
            _cohort=LocalPeriod("month", "first_order_at", _zone()),
            **flags,
        )
        .values("_customer", "_first_channel", "_cohort", *flags)
    )


def _money(value) -> Value:
    return Value(Decimal(value), output_field=DecimalField(**MONEY))


def _sales(params: ReportParams) -> QuerySet:
    """Signed rows per customer and channel whose sums are their sales (count and money
    paid) and refunds up to the end of the period (at the stores): the kept totals, less
    the sales placed since and the refunds made since or for those sales."""
    _start, end = local_bounds(params.date_from, params.date_to)
    kept = (
        CustomerSales.objects.filter(_scope(params))
        .annotate(
            _customer=F("customer_id"),
            _channel=F("channel"),
            _sales=F("sales"),
            _paid=F("paid"),
            _refunded=F("refunded"),
        )
        .values(*SALES_COLUMNS)
        .order_by()
    )
    later_sales = (
        Order.objects.filter(_scope(params), customer__isnull=False, placed_at__gte=end)
        .exclude(status__in=NOT_SALES)
        .annotate(
            _customer=F("customer_id"),
            _channel=F("channel"),
            _sales=Value(-1),
            _paid=F("points_value") - F("total"),
            _refunded=_money(0),
        )
        .values(*SALES_COLUMNS)
        .order_by()
    )
    later_refunds = (
        RefundTender.objects.filter(
            _scope(params, "ret__order__"),
            Q(ret__completed_at__gte=end) | Q(ret__order__placed_at__gte=end),
            ret__status=Return.Status.COMPLETED,
            ret__order__customer__isnull=False,
        )
        .exclude(kind="points")
        .annotate(
            _customer=F("ret__order__customer_id"),
            _channel=F("ret__order__channel"),
            _sales=Value(0),
            _paid=_money(0),
            _refunded=-F("amount"),
        )
        .values(*SALES_COLUMNS)
        .order_by()
    )
    return kept.union(later_sales, later_refunds, all=True)


def _months(params: ReportParams) -> QuerySet:
    """(customer, month) for each month of the period a customer ordered in (there)."""
    return (
        _ordered(params)
        .annotate(_customer=F("customer_id"), _month=LocalPeriod("month", "placed_at", _zone()))
        .values("_customer", "_month")
        .distinct()
        .order_by()
    )


def _aggregate(params: ReportParams, group_by: str | None) -> list[dict]:
    """The figures per group (`month`, `first_channel`, `cohort`, or None for one row of
    totals): the per-customer rows grouped in one statement."""
    sql, values = _aggregate_sql(params, group_by)
    # The read replica when one serves reports (core.db_router), else the primary.
    with read_connection(Order).cursor() as cursor:
        cursor.execute(sql, values)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _aggregate_sql(params: ReportParams, group_by: str | None) -> tuple[str, list]:
    spend = "COALESCE(t._spend, 0)"
    multi, single = "t._channel_low < t._channel_high", "t._channel_low = t._channel_high"
    new = "s._new"
    parts = [_customers(params), _sales(params)]
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
        f"SUM(CASE WHEN {new} = 1 AND s._again_{days} = 1 THEN 1 ELSE 0 END) AS repeat_{days}"
        for days in REPEAT_DAYS
    )
    # Per customer and channel: the sums up to the end; per customer: the channels they
    # bought in (lowest and highest: two or more when they differ) and their spend.
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
        LEFT JOIN (
            SELECT c._customer,
                MIN(CASE WHEN c._sales > 0 THEN c._channel END) AS _channel_low,
                MAX(CASE WHEN c._sales > 0 THEN c._channel END) AS _channel_high,
                SUM(c._paid - c._refunded) AS _spend
            FROM (
                SELECT u._customer, u._channel, SUM(u._sales) AS _sales,
                    SUM(u._paid) AS _paid, SUM(u._refunded) AS _refunded
                FROM ({{}}) u
                GROUP BY u._customer, u._channel
            ) c
            GROUP BY c._customer
        ) t ON t._customer = s._customer
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
