"""The `customers` report: new and returning customers, repeat purchases at 90 and 180
days, customers who buy in several channels, and lifetime value by first channel and by
monthly cohort.

A customer is a person, not a store's: every date here is a local date in the retailer's
time zone (`settings.TIME_ZONE`), for their orders as for their first order. Identified
customers only (an order without a customer is no customer's), and a merged duplicate is
not counted: its orders moved to the survivor, so the person counts once.

Nothing here walks a customer's history. Their first and second order and first channel
are kept on the customer as orders are placed, and `CustomerYear` keeps, per customer and
year (across the chain, and per location), the orders of each month, the sales per
channel and the money paid and given back. One row per customer comes out of those rows:
whether they ordered in each month of the period (months are columns, so a month grouping
adds columns, not rows), and their sales and spend *up to* the end of the period — the
kept sums less what came after the end (orders and refunds since, a handful of rows for a
recent period). The edges of a period that cut a month read that part of the month from
the orders. One statement, hand-written around the ORM's compiled parts, since the ORM
does not aggregate over a grouped subquery or a UNION.
"""

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Case, DecimalField, F, IntegerField, Q, QuerySet, Value, When

from core.db_router import read_connection
from customers.models import Customer
from orders.domain import Status
from orders.models import MONEY, Order
from reports.models import SALE_CHANNELS, CustomerYear
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
SALES = tuple(f"_s_{channel}" for channel in SALE_CHANNELS)


@dataclass(frozen=True)
class Month:
    """A month of the report's period: its first day, and the part of it in the period
    (`start`..`end`, local dates), all of it unless the period cuts it."""

    first: date
    start: date
    end: date

    @property
    def whole(self) -> bool:
        last = calendar.monthrange(self.first.year, self.first.month)[1]
        return self.start == self.first and self.end == self.first.replace(day=last)


def _months_of(params: ReportParams) -> list[Month]:
    months, first = [], params.date_from.replace(day=1)
    while first <= params.date_to:
        last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
        months.append(Month(first, max(first, params.date_from), min(last, params.date_to)))
        first = last + timedelta(days=1)
    return months


def _zone() -> Value:
    return Value(settings.TIME_ZONE)


def _scope(params: ReportParams, prefix: str = "") -> Q:
    if params.location_ids is None:
        return Q()
    return Q(**{f"{prefix}location_id__in": params.location_ids})


def _money(value) -> Value:
    return Value(Decimal(value), output_field=DecimalField(**MONEY))


def _zero() -> Value:
    return Value(0, output_field=IntegerField())


def _columns(months: list[Month]) -> tuple[str, ...]:
    """The columns of the per-customer union: `_p<i>` the orders placed in the i-th month
    of the period, `_s_<channel>` the sales per channel, then the money paid and refunded."""
    return ("_customer", *(f"_p{i}" for i in range(len(months))), *SALES, "_paid", "_refunded")


def _kept(params: ReportParams, months: list[Month]) -> QuerySet:
    """The customers' yearly rows (across the chain, or at the stores): each whole month
    of the period as a column of orders placed; all the sales and money."""
    rows = CustomerYear.objects.filter(
        Q(location__isnull=True) if params.location_ids is None else _scope(params)
    )
    ordered = {
        f"_p{i}": Case(
            When(year=month.first.year, then=F(f"m{month.first.month}")), default=_zero()
        )
        if month.whole
        else _zero()
        for i, month in enumerate(months)
    }
    return (
        rows.annotate(
            _customer=F("customer_id"),
            **ordered,
            **{column: F(f"sales_{column[3:]}") for column in SALES},
            _paid=F("paid"),
            _refunded=F("refunded"),
        )
        .values(*_columns(months))
        .order_by()
    )


def _rows(queryset: QuerySet, months: list[Month], customer: str, **figures) -> QuerySet:
    """`queryset` as rows of the per-customer union: the `figures` given, every other 0."""
    zero = {f"_p{i}": _zero() for i in range(len(months))}
    zero.update({column: _zero() for column in SALES})
    zero.update(_paid=_money(0), _refunded=_money(0))
    return (
        queryset.annotate(_customer=F(customer), **{**zero, **figures})
        .values(*_columns(months))
        .order_by()
    )


def _since(params: ReportParams, months: list[Month]) -> list[QuerySet]:
    """What the kept sums hold from after the period's end, negated: sales placed since,
    refunds made since, and refunds made before the end of sales placed since."""
    _start, end = local_bounds(params.date_from, params.date_to)
    later = Order.objects.filter(
        _scope(params), customer__isnull=False, placed_at__gte=end
    ).exclude(status__in=NOT_SALES)
    later_sales = _rows(
        later,
        months,
        "customer_id",
        **{
            f"_s_{channel}": Case(When(channel=channel, then=Value(-1)), default=_zero())
            for channel in SALE_CHANNELS
        },
        _paid=F("points_value") - F("total"),
    )
    refunds = RefundTender.objects.filter(
        _scope(params, "ret__order__"),
        ret__status=Return.Status.COMPLETED,
        ret__order__customer__isnull=False,
    ).exclude(kind="points")
    # Two parts rather than one OR, so each is found through its own index.
    return [
        later_sales,
        *(
            _rows(part, months, "ret__order__customer_id", _refunded=-F("amount"))
            for part in (
                refunds.filter(ret__completed_at__gte=end),
                refunds.filter(ret__completed_at__lt=end, ret__order__placed_at__gte=end),
            )
        ),
    ]


def _cut_months(params: ReportParams, months: list[Month]) -> list[QuerySet]:
    """For a month the period cuts (its first or last), the orders of its part in the
    period: a row per order placed then, counted in that month's column."""
    parts = []
    for i, month in enumerate(months):
        if month.whole:
            continue
        start, end = local_bounds(month.start, month.end)
        orders = Order.objects.filter(
            _scope(params), customer__isnull=False, placed_at__gte=start, placed_at__lt=end
        )
        parts.append(_rows(orders, months, "customer_id", **{f"_p{i}": Value(1)}))
    return parts


def _customers(params: ReportParams) -> QuerySet:
    """Every (unmerged) customer's kept fields: whether new in the period and old enough
    for each repeat window, whether they came back within it, first channel and cohort."""
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
        Customer.objects.filter(merged_into__isnull=True)
        .annotate(
            _id=F("pk"),
            _first_channel=F("first_channel"),
            _cohort=LocalPeriod("month", "first_order_at", _zone()),
            **flags,
        )
        .values("_id", "_first_channel", "_cohort", *flags)
        .order_by()
    )


def _figures(i: int | None) -> dict[str, str]:
    """The SQL of each figure over the per-customer rows `c`: of the customers who ordered
    in the i-th month of the period (its new customers: those whose first order is in it),
    or with `i` None of all of them."""
    if i is None:
        ordered, new = "1", "c._new"
    else:
        ordered, new = f"c._p{i}", f"(CASE WHEN c._new_month = {i} THEN 1 ELSE 0 END)"
    figures = {"customers": f"SUM({ordered})", "new_customers": f"SUM({new})"}
    for days in REPEAT_DAYS:
        figures[f"repeat_eligible_{days}"] = f"SUM({new} * c._eligible_{days})"
        figures[f"repeat_{days}"] = f"SUM({new} * c._again_{days})"
    # Money is summed where it counts rather than multiplied by 0 or 1: decimal arithmetic
    # is the dear part of ~150 sums over every customer.
    figures.update(
        multi_channel_customers=f"SUM({ordered} * c._multi)",
        single_channel_customers=f"SUM({ordered} * c._single)",
        multi_channel_spend=f"SUM(CASE WHEN {ordered} * c._multi = 1 THEN c._spend END)",
        single_channel_spend=f"SUM(CASE WHEN {ordered} * c._single = 1 THEN c._spend END)",
        revenue=f"SUM(CASE WHEN {ordered} = 1 THEN c._spend END)",
    )
    return figures


def _aggregate(params: ReportParams) -> tuple[dict, list[dict]]:
    """(totals, rows): the figures of the period's customers, and per group — each month
    of the period, first channel or cohort — in one statement over one row per customer.

    The kept rows are summed per customer apart from the few rows of what came after the
    period and of cut months (one UNION, joined after), so the database can estimate and
    hash the large part."""
    months = _months_of(params)
    extra = [*_since(params, months), *_cut_months(params, months)]
    columns = _columns(months)[1:-2]
    summed = ", ".join(f"SUM(u.{column}) AS {column}" for column in columns)
    added = {column: f"(k.{column} + COALESCE(d.{column}, 0))" for column in columns}
    presence = ", ".join(
        f"CASE WHEN {added[f'_p{i}']} > 0 THEN 1 ELSE 0 END AS _p{i}" for i in range(len(months))
    )
    channels = " + ".join(f"(CASE WHEN {added[column]} > 0 THEN 1 ELSE 0 END)" for column in SALES)
    cohorts = " ".join(
        f"WHEN s._cohort = '{month.first.isoformat()}' THEN {i}" for i, month in enumerate(months)
    )
    key = {"first_channel": "c._first_channel", "cohort": "c._cohort"}.get(params.group_by)
    selected = {f"t_{name}": sql for name, sql in _figures(None).items()}
    if params.group_by == "month":
        for i in range(len(months)):
            selected.update({f"m{i}_{name}": sql for name, sql in _figures(i).items()})
    group_key = f"{key} AS group_key, " if key else ""
    grouping = f"GROUP BY {key} ORDER BY {key}" if key else ""
    union = " UNION ALL ".join(["{}"] * len(extra))
    connection = read_connection(Order)
    # PostgreSQL would fold the per-customer row into each of the ~150 sums and compute
    # its expressions again for each: OFFSET 0 keeps the subquery a subquery.
    fence = "OFFSET 0" if connection.vendor == "postgresql" else ""
    # Per customer: whether they ordered in each month, in how many channels they bought
    # (`_multi`: two or more, `_single`: one) and their spend up to the end; their kept
    # fields; and the index of the month of the period their first order fell in when
    # new (the cohort is an ISO date made here, not the client's text, written as a
    # literal so the statement's parameters stay those of its parts).
    template = f"""
        SELECT {group_key}{", ".join(f"{sql} AS {name}" for name, sql in selected.items())}
        FROM (
            SELECT {presence},
                CASE WHEN {channels} >= 2 THEN 1 ELSE 0 END AS _multi,
                CASE WHEN {channels} = 1 THEN 1 ELSE 0 END AS _single,
                k._spend + COALESCE(d._spend, 0) AS _spend,
                s._new, s._eligible_90, s._again_90, s._eligible_180, s._again_180,
                s._first_channel, s._cohort,
                CASE WHEN s._new = 1 THEN (CASE {cohorts} ELSE -1 END) ELSE -1 END
                    AS _new_month
            FROM (
                SELECT u._customer, {summed}, SUM(u._paid - u._refunded) AS _spend
                FROM ({{}}) u
                GROUP BY u._customer
            ) k
            INNER JOIN ({{}}) s ON s._id = k._customer
            LEFT JOIN (
                SELECT u._customer, {summed}, SUM(u._paid - u._refunded) AS _spend
                FROM ({union}) u
                GROUP BY u._customer
            ) d ON d._customer = k._customer
            {fence}
        ) c
        WHERE {" + ".join(f"c._p{i}" for i in range(len(months)))} > 0
        {grouping}
    """
    compiled = [
        part.query.sql_with_params() for part in [_kept(params, months), _customers(params), *extra]
    ]
    sql = template.format(*(part_sql for part_sql, _params in compiled))
    values = [value for _sql, part_values in compiled for value in part_values]
    # The read replica when one serves reports (core.db_router), else the primary.
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        names = [column[0] for column in cursor.description]
        results = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def taken(row: dict, prefix: str) -> dict:
        return {name: row.get(f"{prefix}_{name}") for name in FIGURES}

    if key is None:
        (row,) = results or [{}]
        rows = [
            {"month": month.first, **taken(row, f"m{i}")}
            for i, month in enumerate(months)
            if row.get(f"m{i}_customers")
        ]
        return taken(row, "t"), rows
    rows = [
        {params.group_by: _key(params.group_by, row["group_key"]), **taken(row, "t")}
        for row in results
    ]
    return {name: sum(row[name] or 0 for row in rows) for name in FIGURES}, rows


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
    totals, grouped = _aggregate(params)
    rows = [{params.group_by: row[params.group_by], **_format(row)} for row in grouped]
    return ReportResult(rows=rows, totals=_format(totals))


def _key(group_by: str, value):
    """A group key as the ORM would give it (SQLite hands dates over as text)."""
    if group_by != "first_channel" and isinstance(value, str):
        return date.fromisoformat(value)
    return value
