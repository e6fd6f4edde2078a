"""The `funnel` report: carts created, carts that reached checkout and carts that became
orders, per channel — web, app, and the staff carts of sales on a customer's behalf
(store_assisted, call_centre); POS sales have no cart — with the abandonment.

Carts belong to no store, so their dates are local dates in the retailer's time zone
(`settings.TIME_ZONE`). One grouped query whatever the number of carts.
"""

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q, Value

from orders.domain import Channel
from orders.models import Cart, Order
from reports.registry import ReportParams, ReportResult, report
from reports.sql import LocalPeriod, local_bounds, ratio

FIGURES = ("carts", "checkouts", "completed", "abandoned")


def _carts(params: ReportParams):
    start, end = local_bounds(params.date_from, params.date_to)
    carts = (
        Cart.objects.filter(created_at__gte=start, created_at__lt=end)
        .exclude(state=Cart.State.MERGED)
        .exclude(channel=Channel.POS)
    )
    if params.location_ids is not None:
        ordered_there = Order.objects.filter(
            cart=OuterRef("pk"), location_id__in=params.location_ids
        )
        carts = carts.filter(Q(pickup_location_id__in=params.location_ids) | Exists(ordered_there))
    return carts


@report(
    name="funnel",
    title="Checkout funnel",
    description="Carts created, checkouts reached and orders completed per channel, with the "
    "carts abandoned on the way.",
    group_by=("channel", "day", "week", "month"),
)
def funnel(params: ReportParams) -> ReportResult:
    """Carts created from `from` to `to` (local dates in settings.TIME_ZONE): web and app,
    and staff carts (store_assisted, call_centre) under their own channels.

    - `carts`: carts created in the period; a cart merged into another (an anonymous cart
      folded into the customer's at login) is left out, its shopping goes on in the other.
    - `checkouts`: of those, the carts that reached checkout: the shopper chose how to get
      the goods (a pickup store or delivery) or placed the order (`Cart.checkout_at`).
    - `completed`: of those, the carts that became an order (whatever became of the order).
    - `abandoned`: carts − completed, open carts included.
    - `checkout_rate`: checkouts / carts; `completion_rate`: completed / checkouts;
      `abandonment_rate`: abandoned / carts (4 decimals, none when dividing by 0).
    Grouped by the cart's channel, or by the local day, ISO week (its Monday) or month of
    its creation. With a location (a store manager's stores), a cart counts when its pickup
    store, or the location of the order it became, is one of them; delivery carts that
    became no order belong to no store and are then left out.
    """
    carts = _carts(params)
    if params.group_by == "channel":
        key = "channel"
    else:
        key = "_period"
        zone = Value(settings.TIME_ZONE)
        carts = carts.annotate(_period=LocalPeriod(params.group_by, "created_at", zone))
    converted = Q(state=Cart.State.CONVERTED)
    reached = Q(checkout_at__isnull=False)
    rows = []
    totals = dict.fromkeys(FIGURES, 0)
    for row in (
        carts.values(key)
        .annotate(
            carts=Count("pk"),
            checkouts=Count("pk", filter=reached),
            completed=Count("pk", filter=converted),
        )
        .order_by(key)
    ):
        figures = _figures(row["carts"], row["checkouts"], row["completed"])
        rows.append({params.group_by: row[key], **figures})
        for name in FIGURES:
            totals[name] += figures[name]
    return ReportResult(
        rows=rows, totals=_figures(totals["carts"], totals["checkouts"], totals["completed"])
    )


def _figures(carts: int, checkouts: int, completed: int) -> dict:
    abandoned = carts - completed
    return {
        "carts": carts,
        "checkouts": checkouts,
        "completed": completed,
        "abandoned": abandoned,
        "checkout_rate": ratio(checkouts, carts),
        "completion_rate": ratio(completed, checkouts),
        "abandonment_rate": ratio(abandoned, carts),
    }
