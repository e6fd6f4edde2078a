"""Reports benchmark: every registered report over a month and over a year of the data in
the configured database, in-process, as head office sees it (every store).

Meant for PostgreSQL with the `seed_scale` data of a 50-store chain:

    createdb omnicore_scale
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/omnicore_scale python manage.py migrate
    DATABASE_URL=… python manage.py seed_scale --variants 100000 --locations 50 --months 12
    DATABASE_URL=… python -m benchmarks reports

The periods end on the local date of the newest order: the month is that date's calendar
month up to it, the year the 365 days up to it; a third, "past", is the calendar month
about half a year before (shown, not held to the aim: a customers report "up to" an old
end subtracts every order placed since). Each report runs once to warm the cache
(and to count its SQL queries), then `BENCH_REPORTS_RUNS` times (default 3) per period
with its default grouping; it prints the median milliseconds, the queries and the rows,
and marks figures over the aim of 1 s. A report over 10 s is timed once; a statement past
60 s is cancelled and shown as failed. `BENCH_REPORTS_ONLY=sales,loyalty` picks reports.
On a database without orders it says so and stops (it never writes anything).
"""

import os
import statistics
import time
from datetime import timedelta

AIM_MS = 1000
TIMEOUT_MS = 60_000


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.db import DatabaseError, connection
    from django.db.models import Max, Min
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from orders.models import Order
    from reports.registry import ReportParams, reports

    try:
        span = Order.objects.aggregate(first=Min("placed_at"), last=Max("placed_at"))
    except DatabaseError as exc:
        print(f"skipped: the database is not ready ({exc})")
        return
    if span["last"] is None:
        print("skipped: no orders in this database (fill one with `manage.py seed_scale`)")
        return
    runs = int(os.environ.get("BENCH_REPORTS_RUNS", "3"))
    last = timezone.localdate(span["last"])
    past = (last.replace(day=1) - timedelta(days=150)).replace(day=1)
    periods = {
        "month": (last.replace(day=1), last),
        "year": (last - timedelta(days=364), last),
        # Not part of the aim: a month half a year back, to show what a report whose
        # figures run "up to the end" of its period pays for the orders placed since.
        "past": (past, (past + timedelta(days=31)).replace(day=1) - timedelta(days=1)),
    }
    print(
        f"{connection.vendor}, {Order.objects.count()} orders from "
        f"{timezone.localdate(span['first'])} to {last}; {runs} runs per figure"
    )
    for name, (start, end) in periods.items():
        print(f"  {name}: {start} to {end}")

    def limit_statements() -> None:
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"SET statement_timeout = {TIMEOUT_MS}")

    def timed(report, params) -> float:
        began = time.perf_counter()
        report.run(params)
        return (time.perf_counter() - began) * 1000

    limit_statements()
    only = {n for n in os.environ.get("BENCH_REPORTS_ONLY", "").split(",") if n}
    print(f"{'report':<12} {'group_by':<9} {'period':<6} {'median ms':>10} {'queries':>8}   rows")
    slow = []
    for report in reports():
        if only and report.name not in only:
            continue
        for period, (start, end) in periods.items():
            params = ReportParams(date_from=start, date_to=end, group_by=report.default_group_by)
            try:
                began = time.perf_counter()
                with CaptureQueriesContext(connection) as queries:
                    result = report.run(params)  # warm-up, and the query count
                first = (time.perf_counter() - began) * 1000
                # A report far over the aim is timed once: its first run is the figure.
                times = (
                    [first] if first > 10 * AIM_MS else [timed(report, params) for _ in range(runs)]
                )
            except Exception as exc:  # a report that fails is shown, the others still run
                print(f"{report.name:<12} {params.group_by:<9} {period:<6} failed: {exc!r}"[:200])
                connection.close()
                limit_statements()
                slow.append(f"{report.name} ({period}, failed)")
                continue
            median = statistics.median(times)
            mark = "  over 1 s" if median > AIM_MS else ""
            if period == "past":
                mark = mark and "  (over 1 s; not part of the aim)"
            print(
                f"{report.name:<12} {params.group_by:<9} {period:<6} {median:>10.0f} "
                f"{len(queries):>8} {len(result.rows):>6}{mark}",
                flush=True,
            )
            if median > AIM_MS and period != "past":
                slow.append(f"{report.name} ({period})")
    print("every report under 1 s" if not slow else f"over 1 s: {', '.join(slow)}")
