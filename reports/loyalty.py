"""The loyalty report: points earned, spent, given back, taken back, expired and adjusted
by channel, month or store, and what the points still unspent are worth.

The figures are sums of the reports' `PointsDay` rows, which the loyalty service adds
with every ledger entry (and `reports.services.facts_verify` checks against the ledger):
a year is a few tens of thousands of rows, not the ledger. Each ledger entry of a sale
carries the sale's location as it was when the entry was written
(`LoyaltyEntry.location`; a reversal has its original's). An entry is dated by its
business time (`occurred_at`: the sale's time for an earn) on the local calendar of that
location; entries tied to no sale (staff adjustments, their expiry) use the retailer's
time zone and have no store. Expired points count where their
lot was earned: an expiry run takes points from several lots, and each allocation of it
is attributed to its lot's channel and store.
"""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection
from django.db.models import F, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from core.db_router import read_connection
from inventory.models import Location
from loyalty import selectors as loyalty_selectors
from loyalty.models import LoyaltyAccount, LoyaltyAllocation, LoyaltyEntry
from reports.models import PointsDay
from reports.registry import ReportParams, ReportResult, report
from reports.sql import money

MOVED = ("earned", "redeemed", "given_back", "reversed", "expired", "adjusted")
FIGURES = (*MOVED, "net")


def _tables() -> dict[str, str]:
    quote = connection.ops.quote_name
    return {
        "entry": quote(LoyaltyEntry._meta.db_table),
        "allocation": quote(LoyaltyAllocation._meta.db_table),
        "location": quote(Location._meta.db_table),
    }


def _summed(params: ReportParams) -> dict:
    """{group key: {figure: points}} summed from the reports' `PointsDay` rows of the period
    (within the user's locations)."""
    days = PointsDay.objects.filter(day__gte=params.date_from, day__lte=params.date_to)
    if params.location_ids is not None:
        days = days.filter(location_id__in=params.location_ids)
    key = {"month": TruncMonth("day"), "store": F("location_id")}.get(params.group_by, F("channel"))
    # Aliased sums: the figures are also the rows' column names.
    grouped = (
        days.annotate(key=key)
        .values("key")
        .annotate(**{f"sum_{name}": Sum(name) for name in MOVED})
        .order_by()
    )
    return {row["key"]: {name: row[f"sum_{name}"] for name in MOVED} for row in grouped}


def _end_of(day, now: datetime) -> datetime:
    """The first instant after local `day` in the retailer's time zone, but never after now."""
    zone = ZoneInfo(settings.TIME_ZONE)
    return min(datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone), now)


def _outstanding(params: ReportParams, at: datetime, now: datetime) -> int:
    """Unspent points at `at`: the ledger's sum (every account's balance) for the whole
    chain; for some stores, what is left at `at` of the lots earned at those stores (each
    lot's points plus its allocations made by then)."""
    if params.location_ids is None:
        # The stored balances (each equals its ledger) less what moved from `at` on: the
        # ledger up to `at` without scanning it (entries since are few, and indexed).
        balances = LoyaltyAccount.objects.aggregate(s=Sum("balance"))["s"] or 0
        if at >= now:
            return balances
        since = LoyaltyEntry.objects.filter(occurred_at__gte=at).aggregate(s=Sum("points"))["s"]
        return balances - (since or 0)
    t = _tables()
    ids = sorted(params.location_ids) or [0]
    marks = ", ".join(["%s"] * len(ids))
    sql = f"""
        SELECT COALESCE(SUM(lot.points), 0) + COALESCE(SUM((
            SELECT SUM(a.points) FROM {t["allocation"]} a
            JOIN {t["entry"]} e ON e.id = a.entry_id
            WHERE a.lot_id = lot.id AND e.occurred_at < %s)), 0)
        FROM {t["entry"]} lot
        WHERE lot.remaining IS NOT NULL AND lot.occurred_at < %s AND lot.location_id IN ({marks})
    """
    # The read replica when one serves reports (core.db_router), else the primary.
    with read_connection(LoyaltyEntry).cursor() as cursor:
        cursor.execute(sql, [at, at, *ids])
        return int(cursor.fetchone()[0] or 0)


@report(
    name="loyalty",
    title="Loyalty points",
    description="Points earned, redeemed, given back, reversed and expired by channel, month "
    "or store; the points outstanding and what they are worth.",
    group_by=("channel", "month", "store"),
)
def loyalty_report(params: ReportParams) -> ReportResult:
    """Points moved in the period, per channel (of the sale; `admin` for staff adjustments),
    local month or store (the location of the sale's order; null when no store: staff
    adjustments). Figures, all in points:
    - earned: points credited for completed sales.
    - redeemed: points spent on orders (as a positive number).
    - given_back: redeemed points returned to the customer (order cancelled or expired,
      goods returned).
    - reversed: earned points taken back because the goods came back (what was actually
      taken: points already spent are the return's shortfall, not taken again).
    - expired: points that expired, counted at the channel and store they were earned at.
    - adjusted: staff adjustments, signed (added minus removed).
    - net: the change of the points balance: earned − redeemed + given_back − reversed −
      expired + adjusted.
    Totals: the figures over all rows, and
    - outstanding_points: points unspent at the end of `to` in the retailer's time zone
      (`as_of`; now, when that is earlier) — for the whole chain the ledger up to then (now:
      the sum of every account's balance); for stores, what is left of the lots earned
      there.
    - liability: outstanding_points × the value of one point under the rules in force then
      (money, in `currency`).
    """
    moved = _summed(params)
    keys = sorted(moved, key=lambda k: (k is None, k or ""))
    codes = {}
    if params.group_by == "store":
        codes = dict(
            Location.objects.filter(pk__in=[k for k in keys if k]).values_list("pk", "code")
        )
    rows = []
    for key in keys:
        row = dict(moved[key])
        row["net"] = (
            row["earned"]
            - row["redeemed"]
            + row["given_back"]
            - row["reversed"]
            - row["expired"]
            + row["adjusted"]
        )
        group = codes.get(key) if params.group_by == "store" else key
        rows.append({params.group_by: group, **{name: row[name] for name in FIGURES}})
    if params.group_by == "store":
        rows.sort(key=lambda r: (r["store"] is None, r["store"] or ""))
    now = timezone.now()
    at = _end_of(params.date_to, now)
    outstanding = _outstanding(params, at, now)
    totals = {name: sum(r[name] for r in rows) for name in FIGURES}
    totals.update(
        outstanding_points=outstanding,
        liability=money(loyalty_selectors.points_redeem_value(points=outstanding, at=at)),
        currency=settings.DEFAULT_CURRENCY,
        as_of=at,
    )
    return ReportResult(rows=rows, totals=totals)
