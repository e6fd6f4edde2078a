"""The `returns` report: how often the orders sold in a period came back, through which
channel they were bought and where they were handed in (how many online orders come back
in stores), what was refunded and why.

The report follows the orders sold in the period: its returns are the completed returns
of those orders, whenever they were completed, so a rate never counts a return against
another period's sales. At most three queries whatever the number of orders or returns,
all on the reports' own rows: the returns grouped and in total (`ReturnRow`, one narrow
row per completed return with its sold order's date, channel and store, its units and
money) and, for the views that divide by them, the orders sold, grouped (`OrderDay`;
their total is the rows' sum).
"""

from decimal import Decimal

from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import TruncMonth

from orders.domain import Channel
from reports.models import OrderDay, ReturnRow
from reports.registry import ReportParams, ReportResult, report
from reports.sql import day_key, money, ratio

GROUP_BY = ("channel", "store", "reason", "month")
# Views whose rows are attributes of the sold order: they have a base of orders to divide by.
WITH_ORDERS = ("channel", "month")


def _key(group_by: str):
    if group_by == "channel":
        return F("channel")  # of the sold order
    if group_by == "month":
        return TruncMonth("sold_day")
    if group_by == "store":
        return F("location__code")  # where the goods were handed in
    return F("reason")


def _returns(params: ReportParams) -> QuerySet:
    """Completed returns of the period's sales, within the user's locations: those handed
    in there for the store view, those of orders sold there otherwise."""
    queryset = ReturnRow.objects.filter(
        sold_day__gte=params.date_from, sold_day__lte=params.date_to
    )
    if params.location_ids is not None:
        where = "location_id__in" if params.group_by == "store" else "sold_location_id__in"
        queryset = queryset.filter(**{where: params.location_ids})
    return queryset.annotate(key=_key(params.group_by))


RETURN_FIGURES = {
    "returns": Count("pk"),
    "returned_orders": Count("order_id", distinct=True),
    "returned_in_store": Count(
        "order_id", distinct=True, filter=Q(in_store=True) & ~Q(channel=Channel.POS)
    ),
    "units_returned": Sum("units"),
    "refund_amount": Sum("refunded"),
}


def _figures(row: dict, *, orders: int | None, all_returns: int | None = None) -> dict:
    figures = {}
    if orders is not None:
        figures |= {
            "orders": orders,
            "returned_orders": row.get("returned_orders") or 0,
            "return_rate": ratio(row.get("returned_orders") or 0, orders),
        }
    else:
        figures["returned_orders"] = row.get("returned_orders") or 0
    figures |= {
        "returns": row.get("returns") or 0,
        "returned_in_store": row.get("returned_in_store") or 0,
        "units_returned": row.get("units_returned") or 0,
        "refund_amount": money(Decimal(row.get("refund_amount") or 0)),
    }
    if all_returns is not None:
        figures["share_of_returns"] = ratio(figures["returns"], all_returns)
    return figures


@report(
    name="returns",
    title="Returns",
    description="Return rate by channel of purchase, where online orders come back (stores "
    "or by courier), refund amounts and the top reasons.",
    group_by=GROUP_BY,
)
def returns(params: ReportParams) -> ReportResult:
    """Returns of the orders sold in the period (placed on a local date of it at their
    location, never cancelled or expired), per channel of purchase, per location the goods
    were handed in at (`store`), per reason (most returns first) or per month of sale.
    Only completed returns count, whenever they were completed (requested or cancelled ones
    do not). A store manager sees the returns handed in at their stores in the store view,
    and the returns of their stores' sales in the others.

    - `orders` (channel and month views): orders sold in the period.
    - `returned_orders`: of those, the orders with at least one completed return.
    - `return_rate` (channel and month views): returned_orders / orders — the share of the
      period's orders that came back (in part or whole); None without orders.
    - `returns`: completed returns (an order can come back in several returns).
    - `returned_in_store`: online orders (any channel but the till) with a return handed
      in at a store (not a warehouse, e.g. by courier): how many online orders come back
      in stores.
    - `units_returned`: units on those returns.
    - `refund_amount`: money given back for them — to card, cash or any tender, or as
      credit towards an exchange; points given back and amounts kept for points already
      spent are not money given back (the same figure the sales report deducts).
    - `share_of_returns` (reason view): returns / all returns of the answer.
    Totals: the same over every row, orders counted once.
    """
    group_by = params.group_by
    found = _returns(params)
    grouped = list(found.values("key").annotate(**RETURN_FIGURES).order_by("key"))
    totals = found.aggregate(**RETURN_FIGURES)
    sold: dict = {}
    total_orders = None
    if group_by in WITH_ORDERS:
        # The orders sold, from the reports' daily rows (as the sales report counts them).
        days = OrderDay.objects.filter(day__gte=params.date_from, day__lte=params.date_to).exclude(
            outcome__in=(OrderDay.Outcome.CANCELLED, OrderDay.Outcome.EXPIRED)
        )
        if params.location_ids is not None:
            days = days.filter(location_id__in=params.location_ids)
        sold = {
            row["key"]: row["n"]
            for row in days.annotate(key=day_key(group_by))
            .values("key")
            .annotate(n=Sum("orders"))
            .exclude(n=0)
            .order_by("key")
        }
        total_orders = sum(sold.values())
    if group_by == "reason":
        grouped.sort(key=lambda row: (-row["returns"], row["key"]))
    by_key = {row["key"]: row for row in grouped}
    keys = [row["key"] for row in grouped]
    keys += sorted(sold.keys() - by_key.keys())
    if group_by in WITH_ORDERS:
        keys.sort()
    every_return = totals["returns"] if group_by == "reason" else None
    rows = [
        {
            group_by: key,
            **_figures(
                by_key.get(key, {}),
                orders=sold.get(key, 0) if group_by in WITH_ORDERS else None,
                all_returns=every_return,
            ),
        }
        for key in keys
    ]
    return ReportResult(
        rows=rows, totals=_figures(totals, orders=total_orders, all_returns=every_return)
    )
