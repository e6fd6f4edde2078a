"""The `customers` report: new and returning customers, repeat purchases at 90 and 180
days, customers who buy in several channels, and lifetime value by first channel and by
monthly cohort.

A customer is a person, not a store's: every date here is a local date in the retailer's
time zone (`settings.TIME_ZONE`), for their orders as for their first order. Identified
customers only (an order without a customer is no customer's), and a merged duplicate is
not counted: its orders moved to the survivor, so the person counts once. Two queries
(the rows, the totals) whatever the number of customers or orders.
"""

from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import (
    Count,
    DecimalField,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce

from customers.models import Customer
from orders.domain import Status
from orders.models import MONEY, Order
from reports.funnel import local_bounds
from reports.registry import ReportParams, ReportResult, report
from reports.sql import LocalPeriod, money, ratio
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


def _zone() -> Value:
    return Value(settings.TIME_ZONE)


def _first_order(ref: str):
    """(when, channel) of the customer's first order, any channel, any status, anywhere,
    for the customer whose id is `ref` in the outer query."""
    first = Order.objects.filter(customer_id=OuterRef(ref)).order_by("placed_at", "pk")
    return Subquery(first.values("placed_at")[:1]), Subquery(first.values("channel")[:1])


def _in_scope(orders: QuerySet, params: ReportParams) -> QuerySet:
    if params.location_ids is not None:
        orders = orders.filter(location_id__in=params.location_ids)
    return orders


def _per_customer(queryset: QuerySet, *, ref: str, params: ReportParams) -> QuerySet:
    """`queryset` (customers, or orders standing for their customer) with the customer's
    first order, cohort, repeat flags, sales channels and spend up to `to`."""
    start, end = local_bounds(params.date_from, params.date_to)
    first_at, first_channel = _first_order(ref)
    queryset = queryset.annotate(_first_at=first_at, _first_channel=first_channel).annotate(
        _cohort=LocalPeriod("month", "_first_at", _zone())
    )
    for days in REPEAT_DAYS:
        again = Order.objects.filter(
            customer_id=OuterRef(ref),
            placed_at__gt=OuterRef("_first_at"),
            placed_at__lte=OuterRef("_first_at") + timedelta(days=days),
        )
        queryset = queryset.annotate(**{f"_again_{days}": Exists(again)})
    sales = _in_scope(
        Order.objects.filter(customer_id=OuterRef(ref), placed_at__lt=end).exclude(
            status__in=NOT_SALES
        ),
        params,
    )
    # Money given back by completed returns of those sales (as the sales report counts it:
    # every refund but points).
    refunds = RefundTender.objects.filter(
        ret__order__customer_id=OuterRef(ref),
        ret__order__placed_at__lt=end,
        ret__status=Return.Status.COMPLETED,
        ret__completed_at__lt=end,
    ).exclude(kind="points")
    if params.location_ids is not None:
        refunds = refunds.filter(ret__order__location_id__in=params.location_ids)
    amount = DecimalField(**MONEY)
    return queryset.annotate(
        _channels=Coalesce(
            Subquery(
                sales.values("customer_id").annotate(n=Count("channel", distinct=True)).values("n")
            ),
            0,
            output_field=IntegerField(),
        ),
        _spend=Coalesce(
            Subquery(
                sales.values("customer_id")
                .annotate(s=Sum(F("total") - F("points_value")))
                .values("s")
            ),
            Value(Decimal(0)),
            output_field=amount,
        )
        - Coalesce(
            Subquery(
                refunds.values("ret__order__customer_id").annotate(s=Sum("amount")).values("s")
            ),
            Value(Decimal(0)),
            output_field=amount,
        ),
    )


def _ordered_in_period(params: ReportParams, ref: str) -> QuerySet:
    start, end = local_bounds(params.date_from, params.date_to)
    return _in_scope(
        Order.objects.filter(customer_id=OuterRef(ref), placed_at__gte=start, placed_at__lt=end),
        params,
    )


def _active_customers(params: ReportParams) -> QuerySet:
    """Customers (not merged away) who placed an order in the period (at the stores)."""
    customers = Customer.objects.filter(merged_into__isnull=True).filter(
        Exists(_ordered_in_period(params, "pk"))
    )
    return _per_customer(customers, ref="pk", params=params)


def _customer_months(params: ReportParams) -> QuerySet:
    """One order per customer and month of the period: their first there (at the stores),
    standing for the customer in that month's row."""
    start, end = local_bounds(params.date_from, params.date_to)
    orders = _in_scope(
        Order.objects.filter(
            customer__isnull=False,
            customer__merged_into__isnull=True,
            placed_at__gte=start,
            placed_at__lt=end,
        ),
        params,
    ).annotate(_month=LocalPeriod("month", "placed_at", _zone()))
    earlier = (
        _in_scope(
            Order.objects.filter(
                customer_id=OuterRef("customer_id"), placed_at__gte=start, placed_at__lt=end
            ),
            params,
        )
        .annotate(_m=LocalPeriod("month", "placed_at", _zone()))
        .filter(_m=OuterRef("_month"))
        .filter(
            Q(placed_at__lt=OuterRef("placed_at"))
            | Q(placed_at=OuterRef("placed_at"), pk__lt=OuterRef("pk"))
        )
    )
    return _per_customer(orders.filter(~Exists(earlier)), ref="customer_id", params=params)


def _figures(params: ReportParams, new: Q) -> dict:
    """The aggregates of a group of customers; `new` tells a new one."""
    start, end = local_bounds(params.date_from, params.date_to)
    multi, single = Q(_channels__gte=2), Q(_channels=1)
    figures = {
        "customers": Count("pk"),
        "new_customers": Count("pk", filter=new),
        "multi_channel_customers": Count("pk", filter=multi),
        "single_channel_customers": Count("pk", filter=single),
        "multi_channel_spend": Sum("_spend", filter=multi),
        "single_channel_spend": Sum("_spend", filter=single),
        "revenue": Sum("_spend"),
    }
    for days in REPEAT_DAYS:
        eligible = new & Q(_first_at__gte=start, _first_at__lt=end - timedelta(days))
        figures[f"repeat_eligible_{days}"] = Count("pk", filter=eligible)
        figures[f"repeat_{days}"] = Count("pk", filter=eligible & Q(**{f"_again_{days}": True}))
    return figures


def _format(values: dict) -> dict:
    counts = {name: values.get(name) or 0 for name in COUNTS if name != "returning_customers"}
    amounts = {name: Decimal(values.get(name) or 0) for name in AMOUNTS}
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
    start, _end = local_bounds(params.date_from, params.date_to)
    new = Q(_first_at__gte=start)
    if params.group_by == "month":
        groups = _customer_months(params)
        key = "_month"
        new_in_row = new & Q(_cohort=F("_month"))
    else:
        groups = _active_customers(params)
        key = "_first_channel" if params.group_by == "first_channel" else "_cohort"
        new_in_row = new
    rows = [
        {params.group_by: row[key], **_format(row)}
        for row in groups.values(key).annotate(**_figures(params, new_in_row)).order_by(key)
    ]
    totals = _active_customers(params).aggregate(**_figures(params, new))
    return ReportResult(rows=rows, totals=_format(totals))
