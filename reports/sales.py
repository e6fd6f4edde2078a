"""The `sales` report: what each channel and store sold, net of the money given back for
returns, per local day, week or month.

Three grouped queries, whatever the number of orders: the orders (counts and money
columns), their lines (units) and the refunds of completed returns. Points a customer
spent are a cost of the loyalty programme, not revenue: revenue is the money customers
paid for the goods, and the points' money value is reported beside it as `points_cost`.
"""

from decimal import Decimal

from django.db.models import Count, F, QuerySet, Sum, Value

from orders.domain import Status
from orders.models import Order, OrderLine
from reports.registry import ReportParams, ReportResult, report
from reports.sql import PERIODS, LocalPeriod, in_local_dates, money
from returns.models import RefundTender, Return

GROUP_BY = ("day", "week", "month", "channel", "store")
SPLIT_BY = ("channel", "store")
NOT_SOLD = (Status.CANCELLED, Status.EXPIRED)


def _key(group_by: str, *, order: str, timestamp: str, time_zone: str):
    if group_by in PERIODS:
        return LocalPeriod(group_by, timestamp, time_zone)
    if group_by == "channel":
        return F(f"{order}channel")
    return F(f"{order}location__code")


def _grouped(
    queryset: QuerySet, *, params: ReportParams, order: str, timestamp: str, time_zone: str
) -> QuerySet:
    """`queryset` with a `key` column: the local period of `timestamp` in `time_zone`, or
    the channel or store (location code) of the order reached through `order`; split by a
    second key (`split`, "" when not split) the same way."""
    where = {"order": order, "timestamp": timestamp, "time_zone": time_zone}
    split = _key(params.split_by, **where) if params.split_by else Value("")
    return (
        queryset.annotate(key=_key(params.group_by, **where), split=split)
        .values("key", "split")
        .order_by("key", "split")
    )


def _sales(params: ReportParams, queryset: QuerySet, order: str) -> QuerySet:
    """Orders (reached through `order`, "" for Order itself) that became sales, placed on
    a local date of the period at their location, within the user's locations."""
    queryset = in_local_dates(
        queryset.exclude(**{f"{order}status__in": NOT_SOLD}),
        timestamp=f"{order}placed_at",
        time_zone=f"{order}location__time_zone",
        date_from=params.date_from,
        date_to=params.date_to,
    )
    if params.location_ids is not None:
        queryset = queryset.filter(**{f"{order}location_id__in": params.location_ids})
    return _grouped(
        queryset,
        params=params,
        order=order,
        timestamp=f"{order}placed_at",
        time_zone=f"{order}location__time_zone",
    )


def _refunds(params: ReportParams) -> QuerySet:
    """Money given back by completed returns (every refund row but points), on the local
    date the return was completed at its receiving location, grouped by the sold order's
    channel or store."""
    queryset = in_local_dates(
        RefundTender.objects.filter(ret__status=Return.Status.COMPLETED).exclude(kind="points"),
        timestamp="ret__completed_at",
        time_zone="ret__location__time_zone",
        date_from=params.date_from,
        date_to=params.date_to,
    )
    if params.location_ids is not None:
        queryset = queryset.filter(ret__order__location_id__in=params.location_ids)
    return _grouped(
        queryset,
        params=params,
        order="ret__order__",
        timestamp="ret__completed_at",
        time_zone="ret__location__time_zone",
    )


def _figures(
    *, orders: int, units: int, revenue, returns, discounts, points: int, points_cost
) -> dict:
    revenue, returns = Decimal(revenue or 0), Decimal(returns or 0)
    return {
        "orders": orders,
        "units": units,
        "revenue": money(revenue),
        "returns": money(returns),
        "net_revenue": money(revenue - returns),
        "average_basket": money(revenue / orders) if orders else None,
        "discounts": money(discounts),
        "points_redeemed": points,
        "points_cost": money(points_cost),
    }


@report(
    name="sales",
    title="Sales",
    description="Revenue net of returns, orders, units, average basket, discounts and the "
    "cost of points redeemed, by channel, store, day, week or month.",
    group_by=GROUP_BY,
    split_by=SPLIT_BY,
)
def sales(params: ReportParams) -> ReportResult:
    """Sales per local day, week, month (of each store's time zone), channel or store.

    An order counts on the local date it was placed at its location (the pickup store, the
    till's store, or the location a delivery ships from: the `store` key is that
    location's code). Orders that never became a sale (cancelled, expired) are left out;
    open orders (placed, ready, shipped) count.

    - `orders`: orders that became sales.
    - `units`: units on those orders' lines.
    - `revenue`: the money customers paid for them: order totals (after discounts) less
      the money value of the points they paid with.
    - `returns`: money given back by returns completed in the period (refunded to card,
      cash or any tender, or credited towards an exchange; points given back and amounts
      kept for points already spent are not money given back), counted on the local date
      of the return at the store that received it, under the sold order's channel and
      store — whenever that order was placed.
    - `net_revenue`: revenue − returns.
    - `average_basket`: revenue / orders (None without orders).
    - `discounts`: the orders' discount totals (promotions, coupons, till discounts).
    - `points_redeemed`: loyalty points spent on those orders (gross: points later given
      back by a return are not deducted).
    - `points_cost`: those points' money value when spent — a cost, not revenue.

    `split` ("channel" or "store") splits each row by a second key: sales per day and
    channel draw one line per channel over time.
    """
    orders = {
        (row["key"], row["split"]): row
        for row in _sales(params, Order.objects.all(), "").annotate(
            orders=Count("pk"),
            revenue=Sum(F("total") - F("points_value")),
            discounts=Sum("discount_total"),
            points=Sum("points_redeemed"),
            points_cost=Sum("points_value"),
        )
    }
    units = {
        (row["key"], row["split"]): row["units"]
        for row in _sales(params, OrderLine.objects.all(), "order__").annotate(
            units=Sum("quantity")
        )
    }
    refunds = {
        (row["key"], row["split"]): row["amount"]
        for row in _refunds(params).annotate(amount=Sum("amount"))
    }
    rows = []
    for key in sorted(orders.keys() | refunds.keys()):
        sold = orders.get(key, {})
        rows.append(
            {
                params.group_by: key[0],
                **({params.split_by: key[1]} if params.split_by else {}),
                **_figures(
                    orders=sold.get("orders", 0),
                    units=units.get(key) or 0,
                    revenue=sold.get("revenue"),
                    returns=refunds.get(key),
                    discounts=sold.get("discounts"),
                    points=sold.get("points") or 0,
                    points_cost=sold.get("points_cost"),
                ),
            }
        )
    totals = _figures(
        orders=sum(row.get("orders", 0) for row in orders.values()),
        units=sum(value or 0 for value in units.values()),
        revenue=sum((Decimal(row["revenue"] or 0) for row in orders.values()), Decimal(0)),
        returns=sum((Decimal(value or 0) for value in refunds.values()), Decimal(0)),
        discounts=sum((Decimal(row["discounts"] or 0) for row in orders.values()), Decimal(0)),
        points=sum(row["points"] or 0 for row in orders.values()),
        points_cost=sum((Decimal(row["points_cost"] or 0) for row in orders.values()), Decimal(0)),
    )
    return ReportResult(rows=rows, totals=totals)
