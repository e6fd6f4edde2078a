"""Database expressions the reports share: local calendar periods per row's time zone, and
the formatting of figures for JSON and CSV.

A sale belongs to the day it happened *where it happened*: an order is counted on its
store's (or shipping location's) local date, so a sale at 23:30 in Lisbon and one at 00:30
in Berlin fall on the days their stores saw. The time zone comes from a column, row by row,
so the conversion runs in the database on both engines: PostgreSQL's `AT TIME ZONE`, and on
SQLite Django's own `django_date_trunc` function (registered on every SQLite connection).
"""

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import DateField, F, Func, Q, QuerySet
from django.db.models.functions import TruncMonth, TruncWeek
from django.utils import timezone

from core.money import quantize

PERIODS = ("day", "week", "month")


class LocalPeriod(Func):
    """The first local day (a date) of the day, ISO week (Monday) or month of `timestamp`
    in the time zone named by `time_zone`, both expressions (usually field names)."""

    output_field = DateField()

    def __init__(self, period: str, timestamp, time_zone, **extra):
        if period not in PERIODS:
            raise ValueError(f"unknown period {period!r}")
        self.period = period
        super().__init__(_expression(timestamp), _expression(time_zone), **extra)

    def as_sql(self, compiler, connection, **extra_context):
        (ts_sql, ts_params), (tz_sql, tz_params) = (
            compiler.compile(expression) for expression in self.source_expressions
        )
        sql = f"(date_trunc('{self.period}', {ts_sql} AT TIME ZONE {tz_sql}))::date"
        return sql, (*ts_params, *tz_params)

    def as_sqlite(self, compiler, connection, **extra_context):
        (ts_sql, ts_params), (tz_sql, tz_params) = (
            compiler.compile(expression) for expression in self.source_expressions
        )
        return f"django_date_trunc('{self.period}', {ts_sql}, {tz_sql}, 'UTC')", (
            *ts_params,
            *tz_params,
        )


def day_key(group_by: str, *, day: str = "day", location: str = "location"):
    """The group key of a row of the reports' daily tables: its day's day, ISO week
    (Monday) or month, its channel, or its location's code (`store`)."""
    if group_by == "day":
        return F(day)
    if group_by == "week":
        return TruncWeek(day)
    if group_by == "month":
        return TruncMonth(day)
    if group_by == "channel":
        return F("channel")
    if group_by == "store":
        return F(f"{location}__code")
    raise ValueError(f"unknown key {group_by!r}")


def _expression(value):
    return F(value) if isinstance(value, str) else value


def in_local_dates(
    queryset: QuerySet, *, timestamp: str, time_zone: str, date_from: date, date_to: date
) -> QuerySet:
    """Rows whose `timestamp` falls on a local date from `date_from` to `date_to` (both
    included) in the row's own time zone. A UTC window wider by the largest offsets first
    lets an index on `timestamp` narrow the rows before the per-row conversion."""
    utc = timezone.get_fixed_timezone(0)
    first = datetime.combine(date_from, time.min, tzinfo=utc)
    after = datetime.combine(date_to, time.min, tzinfo=utc) + timedelta(days=1)
    margin = timedelta(hours=15)  # beyond the furthest offsets from UTC (−12 h, +14 h)
    # Rows well inside the window are in it in every time zone: only the rows near its
    # edges have their local date computed (the first branch of the OR is tried first).
    inside = Q(**{f"{timestamp}__gte": first + margin, f"{timestamp}__lt": after - margin})
    return (
        queryset.filter(**{f"{timestamp}__gte": first - margin, f"{timestamp}__lt": after + margin})
        .alias(_local_day=LocalPeriod("day", timestamp, time_zone))
        .filter(inside | Q(_local_day__gte=date_from, _local_day__lte=date_to))
    )


def local_bounds(date_from: date, date_to: date) -> tuple[datetime, datetime]:
    """The instants of the retailer's (`settings.TIME_ZONE`) local midnight at `date_from`
    and after `date_to`: the period of rows that belong to no store (carts, customers)."""
    zone = ZoneInfo(settings.TIME_ZONE)
    start = datetime.combine(date_from, time.min, tzinfo=zone)
    end = datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=zone)
    return start, end


def money(value: Decimal | int | None) -> str:
    """A money figure as the API shows it: a decimal string to the cent ("0.00" for none)."""
    return str(quantize(Decimal(value or 0)))


def ratio(part: int | Decimal, whole: int | Decimal, places: int = 4) -> str | None:
    """part / whole as a decimal string with `places` decimals; None when whole is 0."""
    if not whole:
        return None
    return str((Decimal(part) / Decimal(whole)).quantize(Decimal(1).scaleb(-places)))


def plain(value: Any) -> Any:
    """A row value as JSON shows it: dates in ISO form, Decimals as strings."""
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value
