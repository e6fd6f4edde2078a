"""The loyalty report: points earned, spent, given back, taken back, expired and adjusted
by channel, month or store, and what the points still unspent are worth.

Each ledger entry of a sale carries the sale's location as it was when the entry was
written (`LoyaltyEntry.location`; a reversal has its original's), so the store of an
entry is a column, not a join to the orders. The queries are hand-written SQL (an
expiry's points are attributed through its allocations to the lots they came from). An
entry is dated by its business time (`occurred_at`: the sale's time for an earn) on the
local calendar of that location; entries tied to no sale (staff adjustments, their
expiry) use the retailer's time zone and have no store. Expired points count where their
lot was earned: an expiry run takes points from several lots, and each allocation of it
is attributed to its lot's channel and store.
"""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection
from django.db.models import CharField, DateTimeField, Sum
from django.db.models.expressions import RawSQL
from django.utils import timezone

from inventory.models import Location
from loyalty import selectors as loyalty_selectors
from loyalty.models import LoyaltyAccount, LoyaltyAllocation, LoyaltyEntry
from reports.registry import ReportParams, ReportResult, report
from reports.sql import LocalPeriod, money

FIGURES = ("earned", "redeemed", "given_back", "reversed", "expired", "adjusted", "net")


def _local(period: str, timestamp: str, time_zone: str) -> tuple[str, list]:
    """SQL for `LocalPeriod` over two columns of the hand-written query (one definition of
    the local calendar for every engine)."""
    expression = LocalPeriod(
        period,
        RawSQL(timestamp, (), output_field=DateTimeField()),
        RawSQL(time_zone, (), output_field=CharField()),
    )
    compiler = LoyaltyEntry.objects.none().query.get_compiler(connection=connection)
    sql, params = compiler.compile(expression)
    return sql, list(params)


def _tables() -> dict[str, str]:
    quote = connection.ops.quote_name
    return {
        "entry": quote(LoyaltyEntry._meta.db_table),
        "allocation": quote(LoyaltyAllocation._meta.db_table),
        "location": quote(Location._meta.db_table),
    }


def _rows(params: ReportParams, *, inner: str, inner_params: list, figures: str) -> dict:
    """{group key: {figure: value}} over `inner` (a SELECT of the columns kind, points,
    reverses_kind, channel, occurred_at, store_id, tz), grouped by `params.group_by`."""
    day, day_params = _local("day", "x.occurred_at", "x.tz")
    if params.group_by == "month":
        key, key_params = _local("month", "x.occurred_at", "x.tz")
    else:
        key, key_params = ("x.store_id" if params.group_by == "store" else "x.channel"), []
    where, where_params = (
        f"{day} >= %s AND {day} <= %s",
        [
            *day_params,
            params.date_from,
            *day_params,
            params.date_to,
        ],
    )
    if params.location_ids is not None:
        ids = sorted(params.location_ids) or [0]
        where += f" AND x.store_id IN ({', '.join(['%s'] * len(ids))})"
        where_params += ids
    sql = f"SELECT {key} AS k, {figures} FROM ({inner}) x WHERE {where} GROUP BY {key}"
    with connection.cursor() as cursor:
        cursor.execute(sql, [*key_params, *inner_params, *where_params, *key_params])
        names = [c[0] for c in cursor.description][1:]
        rows = cursor.fetchall()
    if params.group_by == "month":  # SQLite answers the date as text
        rows = [(_as_date(row[0]), *row[1:]) for row in rows]
    return {row[0]: dict(zip(names, row[1:], strict=True)) for row in rows}


def _as_date(value) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value


def _utc_window(params: ReportParams) -> list[datetime]:
    """A UTC window a little wider than the local dates, for the timestamp index (the exact
    local dates are checked row by row)."""
    start = datetime.combine(params.date_from, time.min, tzinfo=UTC) - timedelta(hours=15)
    end = datetime.combine(params.date_to, time.min, tzinfo=UTC) + timedelta(days=1, hours=15)
    return [start, end]


def _moved(params: ReportParams) -> dict:
    t = _tables()
    inner = f"""
        SELECT e.kind, e.points, r.kind AS reverses_kind, e.channel, e.occurred_at,
            e.location_id AS store_id, COALESCE(l.time_zone, %s) AS tz
        FROM {t["entry"]} e
        LEFT JOIN {t["entry"]} r ON r.id = e.reverses_id
        LEFT JOIN {t["location"]} l ON l.id = e.location_id
        WHERE e.kind <> 'expire' AND e.occurred_at >= %s AND e.occurred_at < %s
    """
    figures = """
        COALESCE(SUM(CASE WHEN x.kind = 'earn' THEN x.points END), 0) AS earned,
        COALESCE(-SUM(CASE WHEN x.kind = 'redeem' THEN x.points END), 0) AS redeemed,
        COALESCE(SUM(CASE WHEN x.kind = 'reverse' AND x.reverses_kind = 'redeem'
            THEN x.points END), 0) AS given_back,
        COALESCE(-SUM(CASE WHEN x.kind = 'reverse' AND x.reverses_kind = 'earn'
            THEN x.points END), 0) AS reversed,
        COALESCE(SUM(CASE WHEN x.kind = 'adjust' THEN x.points END), 0) AS adjusted
    """
    inner_params = [settings.TIME_ZONE, *_utc_window(params)]
    return _rows(params, inner=inner, inner_params=inner_params, figures=figures)


def _expired(params: ReportParams) -> dict:
    """Expired points by the channel and store of the lot they were taken from."""
    t = _tables()
    inner = f"""
        SELECT e.kind, a.points, NULL AS reverses_kind, lot.channel, e.occurred_at,
            lot.location_id AS store_id, COALESCE(l.time_zone, %s) AS tz
        FROM {t["allocation"]} a
        JOIN {t["entry"]} e ON e.id = a.entry_id
        JOIN {t["entry"]} lot ON lot.id = a.lot_id
        LEFT JOIN {t["location"]} l ON l.id = lot.location_id
        WHERE e.kind = 'expire' AND e.occurred_at >= %s AND e.occurred_at < %s
    """
    figures = "COALESCE(-SUM(x.points), 0) AS expired"
    inner_params = [settings.TIME_ZONE, *_utc_window(params)]
    return _rows(params, inner=inner, inner_params=inner_params, figures=figures)


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
    with connection.cursor() as cursor:
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
    moved = _moved(params)
    expired = _expired(params)
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
