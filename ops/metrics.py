"""Business and task counters for Prometheus, importable from any service at no cost.

Services count with one call each (`checkout_placed`, `pos_sales_synced`,
`oversell_refused`); only `prometheus_client` is imported here. The counters live in
this process; under gunicorn and Celery with PROMETHEUS_MULTIPROC_DIR set they are
written to files there, and `/metrics` (ops.views) adds up every process's files, so one
scrape sees the web workers and the Celery workers of the machine.
"""

from collections import Counter as _Tally

from prometheus_client import Counter, Histogram

CHECKOUTS = Counter(
    "omnicore_checkouts_placed",
    "Orders placed at checkout (committed), by channel and fulfilment.",
    ["channel", "fulfilment"],
)
POS_SALES = Counter(
    "omnicore_pos_sales_synced",
    "Till sales answered by the POS sync, by outcome (created, duplicate, rejected).",
    ["status"],
)
OVERSELL_REFUSALS = Counter(
    "omnicore_oversell_refusals",
    "Reservations refused because a line asked for more units than were available.",
)
TASKS = Counter(
    "omnicore_celery_tasks",
    "Celery task runs, by task and outcome (success, failure, retry, revoked).",
    ["task", "outcome"],
)
TASK_SECONDS = Histogram(
    "omnicore_celery_task_duration_seconds",
    "Celery task run time, by task.",
    ["task"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)


def checkout_placed(order) -> None:
    """Count `order`, written and about to commit.

    Called as the last step inside `checkout_place`'s own transaction: a checkout refused
    before it (stock, payment, price) is not counted. Counting on commit instead would add
    a callback to every checkout for the one case this misses, a failing COMMIT.
    """
    CHECKOUTS.labels(order.channel, order.fulfilment_type).inc()


def pos_sales_synced(results) -> None:
    """Count a sync call's answers (objects with a `status`), by status."""
    for status, count in _Tally(result.status for result in results).items():
        POS_SALES.labels(status).inc(count)


def oversell_refused() -> None:
    OVERSELL_REFUSALS.inc()
