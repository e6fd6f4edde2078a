"""The loyalty report: points earned, spent, given back, taken back, expired and adjusted
by channel, month or store, and what the points still unspent are worth.

Ledger entries name their sale by reference ("order:<number>"), never by a foreign key, so
the store of an entry is found in the database: a subquery on the order whose number the
reference (or, for a reversal, the reversed entry's reference) names. An entry is dated by
its business time (`occurred_at`: the sale's time for an earn) on the local calendar of
that order's location; entries tied to no order (staff adjustments, their expiry) use the
retailer's time zone and have no store. Expired points count where their lot was earned:
an expiry run takes points from several lots, and each allocation of it is attributed to
its lot's channel and store.
"""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import (
    Case,
    CharField,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Substr
from django.utils import timezone

from inventory.models import Location
from loyalty import selectors as loyalty_selectors
from loyalty.models import EntryKind, LoyaltyAllocation, LoyaltyEntry
from orders.models import Order
from reports.registry import ReportParams, ReportResult, report
from reports.sql import LocalPeriod, in_local_dates, money

ORDER_PREFIX = "order:"
FIGURES = ("earned", "redeemed", "given_back", "reversed", "expired", "adjusted", "net")


def _with_store(entries: QuerySet, *, prefix: str = "") -> QuerySet:
    """Annotate `store_id` (the location of the order the entry's sale reference names, or
    None) and `tz` (that location's time zone, else the retailer's) on entries reached by
    `prefix` ("" for the entries themselves, "lot__" for allocations' lots)."""
    kind, reference = f"{prefix}kind", f"{prefix}reference"
    sale_reference = Case(
        When(**{kind: EntryKind.REVERSE}, then=F(f"{prefix}reverses__reference")),
        default=F(reference),
        output_field=CharField(),
    )
    order = Order.objects.filter(number=Substr(OuterRef("sale_reference"), len(ORDER_PREFIX) + 1))
    return entries.annotate(
        sale_reference=sale_reference,
        store_id=Case(
            When(
                sale_reference__startswith=ORDER_PREFIX,
                then=Subquery(order.values("location_id")[:1]),
            ),
            default=None,
            output_field=IntegerField(),
        ),
        tz=Coalesce(
            Subquery(Location.objects.filter(pk=OuterRef("store_id")).values("time_zone")[:1]),
            Value(settings.TIME_ZONE),
            output_field=CharField(),
        ),
    )


def _grouped(
    queryset: QuerySet, params: ReportParams, *, timestamp: str, channel: str, **figures
) -> dict:
    """{group key value: {figure: value}} for rows already annotated by `_with_store`."""
    queryset = in_local_dates(
        queryset,
        timestamp=timestamp,
        time_zone="tz",
        date_from=params.date_from,
        date_to=params.date_to,
    )
    if params.location_ids is not None:
        queryset = queryset.filter(store_id__in=params.location_ids)
    if params.group_by == "month":
        queryset = queryset.annotate(key=LocalPeriod("month", timestamp, "tz"))
    elif params.group_by == "store":
        queryset = queryset.annotate(key=F("store_id"))
    else:
        queryset = queryset.annotate(key=F(channel))
    return {
        row.pop("key"): row for row in queryset.values("key").annotate(**figures).order_by("key")
    }


def _end_of(day) -> datetime:
    """The first instant after local `day` in the retailer's time zone, but never after now."""
    zone = ZoneInfo(settings.TIME_ZONE)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)
    return min(end, timezone.now())


def _outstanding(params: ReportParams, at: datetime) -> int:
    """Unspent points at `at`: the ledger's sum (every account's balance) for the whole
    chain; for some stores, what is left at `at` of the lots earned at those stores."""
    if params.location_ids is None:
        total = LoyaltyEntry.objects.filter(occurred_at__lt=at).aggregate(s=Sum("points"))["s"]
        return total or 0
    lots = _with_store(
        LoyaltyEntry.objects.filter(remaining__isnull=False, occurred_at__lt=at)
    ).filter(store_id__in=params.location_ids)
    earned = lots.aggregate(s=Sum("points"))["s"] or 0
    taken = (
        LoyaltyAllocation.objects.filter(
            entry__occurred_at__lt=at, lot__in=lots.values("pk")
        ).aggregate(s=Sum("points"))["s"]
        or 0
    )
    return earned + taken


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
    - outstanding_points: points unspent at the end of `to` (or now, if that is later) —
      every account's balance for the whole chain; for a store, what is left of the lots
      earned there.
    - liability: outstanding_points × the value of one point under the rules in force then
      (money, in `currency`).
    """
    entries = _with_store(
        LoyaltyEntry.objects.exclude(kind=EntryKind.EXPIRE).annotate(
            reverses_kind=F("reverses__kind")
        )
    )
    reversal = Q(kind=EntryKind.REVERSE)
    moved = _grouped(
        entries,
        params,
        timestamp="occurred_at",
        channel="channel",
        earned=Coalesce(Sum("points", filter=Q(kind=EntryKind.EARN)), 0),
        redeemed=Coalesce(-Sum("points", filter=Q(kind=EntryKind.REDEEM)), 0),
        given_back=Coalesce(Sum("points", filter=reversal & Q(reverses_kind=EntryKind.REDEEM)), 0),
        reversed=Coalesce(-Sum("points", filter=reversal & Q(reverses_kind=EntryKind.EARN)), 0),
        adjusted=Coalesce(Sum("points", filter=Q(kind=EntryKind.ADJUST)), 0),
    )
    expired = _grouped(
        _with_store(LoyaltyAllocation.objects.filter(entry__kind=EntryKind.EXPIRE), prefix="lot__"),
        params,
        timestamp="entry__occurred_at",
        channel="lot__channel",
        expired=Coalesce(-Sum("points"), 0),
    )
    keys = sorted(set(moved) | set(expired), key=lambda k: (k is None, k or ""))
    codes = {}
    if params.group_by == "store":
        codes = dict(
            Location.objects.filter(pk__in=[k for k in keys if k]).values_list("pk", "code")
        )
    rows = []
    for key in keys:
        row = {"earned": 0, "redeemed": 0, "given_back": 0, "reversed": 0, "adjusted": 0}
        row.update(moved.get(key, {}))
        row["expired"] = expired.get(key, {}).get("expired", 0)
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
    at = _end_of(params.date_to)
    outstanding = _outstanding(params, at)
    totals = {name: sum(r[name] for r in rows) for name in FIGURES}
    totals.update(
        outstanding_points=outstanding,
        liability=money(loyalty_selectors.points_redeem_value(points=outstanding, at=at)),
        currency=settings.DEFAULT_CURRENCY,
        as_of=at,
    )
    return ReportResult(rows=rows, totals=totals)
