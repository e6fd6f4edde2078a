"""The `sales` report: what each channel and store sold, net of the money given back for
returns, per local day, week or month.

Two grouped queries over the reports' daily rows (`OrderDay`, `RefundDay`, kept by the
orders and returns services as they change), whatever the number of orders: a year of a
50-store chain is some tens of thousands of rows, not a million orders. Points a customer
spent are a cost of the loyalty programme, not revenue: revenue is the money customers
paid for the goods, and the points' money value is reported beside it as `points_cost`.
"""

from decimal import Decimal

from django.db.models import QuerySet, Sum, Value

from reports.models import OrderDay, RefundDay
from reports.registry import ReportParams, ReportResult, report
from reports.sql import day_key, money

GROUP_BY = ("day", "week", "month", "channel", "store")
SPLIT_BY = ("channel", "store")
NOT_SOLD = (OrderDay.Outcome.CANCELLED, OrderDay.Outcome.EXPIRED)


def _scoped(queryset: QuerySet, params: ReportParams) -> QuerySet:
    """Daily rows of the period's local dates, within the user's locations, with their
    group `key` and `split` ("" when not split)."""
    queryset = queryset.filter(day__gte=params.date_from, day__lte=params.date_to)
    if params.location_ids is not None:
        queryset = queryset.filter(location_id__in=params.location_ids)
    split = day_key(params.split_by) if params.split_by else Value("")
    return (
        queryset.annotate(key=day_key(params.group_by), split=split)
        .values("key", "split")
        .order_by("key", "split")
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
    sold = OrderDay.objects.exclude(outcome__in=NOT_SOLD)
    orders = {
        (row["key"], row["split"]): row
        for row in _scoped(sold, params)
        .annotate(
            orders=Sum("orders"),
            units=Sum("units"),
            revenue=Sum("revenue"),
            discounts=Sum("discounts"),
            points=Sum("points"),
            points_cost=Sum("points_cost"),
        )
        .exclude(orders=0)
    }
    units = {key: row["units"] for key, row in orders.items()}
    refunds = {
        (row["key"], row["split"]): row["amount"]
        for row in _scoped(RefundDay.objects.all(), params)
        .annotate(amount=Sum("amount"))
        .exclude(amount=0)
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
