"""The `attribution` report: orders and revenue per UTM source, medium or campaign, credited
two ways — to the campaign that brought each order (last touch) and to the one that first
brought its customer (first touch).

The UTM values are those the client gave when the order's cart was created (see
`orders.models.Attributed`); a till sale has none. The first touch is the campaign of the
customer's first order, kept on the customer. One grouped query, whatever the number of
orders.
"""

from decimal import Decimal

from django.db.models import Count, F, QuerySet, Sum

from orders.domain import Status
from orders.models import Order
from reports.registry import ReportParams, ReportResult, report
from reports.sql import in_local_dates, money

FIELDS = {"source": "utm_source", "medium": "utm_medium", "campaign": "utm_campaign"}
NONE = "(none)"
NOT_SOLD = (Status.CANCELLED, Status.EXPIRED)
FIGURES = ("last_touch_orders", "last_touch_revenue", "first_touch_orders", "first_touch_revenue")


def _sales(params: ReportParams) -> QuerySet:
    orders = in_local_dates(
        Order.objects.exclude(status__in=NOT_SOLD),
        timestamp="placed_at",
        time_zone="location__time_zone",
        date_from=params.date_from,
        date_to=params.date_to,
    )
    if params.location_ids is not None:
        orders = orders.filter(location_id__in=params.location_ids)
    return orders


def _touches(orders: QuerySet, field: str) -> tuple[dict[str, dict], dict[str, dict]]:
    """({value: {"orders", "revenue"}} credited by last touch, the same by first touch).

    One grouped pass over the orders by their own value of `field` (last touch) and their
    customer's first order's (first touch: kept on the customer as orders are placed, so
    no order is looked up; an order without a customer is credited to its own value);
    the few groups are then added up both ways."""
    # Grouped by plain columns (the first-touch value is NULL for a guest's order, whose
    # own value is credited below), so the database estimates few groups and hashes them.
    grouped = (
        orders.annotate(_own=F(field), _first=F(f"customer__first_{field}"))
        .values("_own", "_first")
        .annotate(_orders=Count("pk"), _revenue=Sum(F("total") - F("points_value")))
        .order_by()
    )
    last_touch: dict[str, dict] = {}
    first_touch: dict[str, dict] = {}
    for row in grouped:
        first = row["_own"] if row["_first"] is None else row["_first"]
        for credited, value in ((last_touch, row["_own"]), (first_touch, first)):
            into = credited.setdefault(value or "", {"orders": 0, "revenue": Decimal(0)})
            into["orders"] += row["_orders"]
            into["revenue"] += row["_revenue"] or 0
    return last_touch, first_touch


@report(
    name="attribution",
    title="Attribution",
    description="Orders and revenue by UTM source, medium or campaign, credited to the "
    "order's own campaign (last touch) and to the customer's first (first touch).",
    group_by=("source", "medium", "campaign"),
)
def attribution(params: ReportParams) -> ReportResult:
    """Sales placed from `from` to `to` (local dates of their location; cancelled and
    expired orders left out), grouped by UTM source, medium or campaign. Orders without
    a value (till sales, visits without UTM) show as "(none)"; source and medium are
    stored lower-case, so "Google" and "google" are one.

    - `last_touch_orders` / `last_touch_revenue`: the orders whose own UTM value is the
      row's, and the money paid for them (order totals after discounts, less points paid
      with — revenue as the sales report counts it, before returns).
    - `first_touch_orders` / `first_touch_revenue`: the orders whose customer's first order
      (their earliest in any channel, whenever placed and whatever became of it) carried
      the row's value; an order without a customer is credited to its own value. So a till
      sale to a customer first won by a campaign is credited to that campaign.
    Each order counts once in each pair of columns: both totals are the period's sales.
    With a location (a store manager's stores), only orders at those locations count;
    their customer's first order is looked up wherever it was placed.
    """
    field = FIELDS[params.group_by]
    orders = _sales(params)
    last_touch, first_touch = _touches(orders, field)
    rows = []
    totals = dict.fromkeys(FIGURES, 0)
    for value in sorted(last_touch.keys() | first_touch.keys(), key=lambda v: v or NONE):
        last = last_touch.get(value, {})
        first_ = first_touch.get(value, {})
        figures = {
            "last_touch_orders": last.get("orders", 0),
            "last_touch_revenue": _decimal(last.get("revenue")),
            "first_touch_orders": first_.get("orders", 0),
            "first_touch_revenue": _decimal(first_.get("revenue")),
        }
        rows.append({params.group_by: value or NONE, **_formatted(figures)})
        totals = {name: totals[name] + figures[name] for name in FIGURES}
    return ReportResult(rows=rows, totals=_formatted(totals))


def _formatted(figures: dict) -> dict:
    return {
        name: money(value) if name.endswith("_revenue") else value
        for name, value in figures.items()
    }


def _decimal(value) -> Decimal:
    """A sum as a Decimal (SQLite's raw cursor answers a float)."""
    return Decimal(str(value or 0))
