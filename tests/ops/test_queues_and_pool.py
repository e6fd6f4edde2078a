"""Celery queues per kind of work, and psycopg's connection pool: what `make serve` runs.

The routes are configuration (settings.CELERY_TASK_ROUTES); these tests hold them to the
tasks that exist and to the queues the Procfile's worker consumes, so a new task or queue
cannot be routed where no worker listens. The stack tests (tests/stack) run the real
worker and beat with these routes and the pool on.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from config.celery import app

KINDS = {
    "outbox": {"core.tasks.outbox_relay"},
    "notifications": {
        "orders.tasks.order_notify",
        "customers.tasks.verification_send_code",
        "loyalty.tasks.hold_send_code",
    },
    "expiry": {
        "orders.tasks.orders_expire_uncollected",
        "orders.tasks.orders_enforce_prepare_deadlines",
        "inventory.tasks.release_expired_reservations",
        "loyalty.tasks.expire_holds",
        "loyalty.tasks.expire_points",
        "customers.tasks.purge_expired",
    },
    "reports": {"reports.tasks.fold_past_days"},
}


def _tasks() -> set[str]:
    app.loader.import_default_modules()
    return {name for name in app.tasks if not name.startswith(("celery.", "tests."))}


def _worker_queues() -> set[str]:
    worker = next(
        line
        for line in Path(settings.BASE_DIR, "Procfile").read_text().splitlines()
        if line.startswith("worker:")
    )
    match = re.search(r"-Q \$\{WORKER_QUEUES:-([a-z_,]+)\}", worker)
    assert match, worker
    return set(match.group(1).split(","))


def test_each_kind_of_work_has_its_queue():
    routed = {name: route["queue"] for name, route in settings.CELERY_TASK_ROUTES.items()}
    for queue, names in KINDS.items():
        assert {name for name, q in routed.items() if q == queue} == names, queue


def test_every_route_names_a_task_that_exists():
    assert set(settings.CELERY_TASK_ROUTES) <= _tasks()


def test_the_worker_of_make_serve_consumes_every_queue_a_task_can_go_to():
    queues = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
    assert queues | {settings.CELERY_TASK_DEFAULT_QUEUE} <= _worker_queues()


def test_a_beat_task_goes_to_its_queue_through_celerys_own_router():
    router = app.amqp.router
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        queue = router.route({}, entry["task"])["queue"].name
        expected = next((q for q, names in KINDS.items() if entry["task"] in names), "celery")
        assert queue == expected, entry["task"]


def _database_settings(**env: str) -> dict:
    code = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps({a: {'age': s.DATABASES[a]['CONN_MAX_AGE'], "
        "'checks': s.DATABASES[a].get('CONN_HEALTH_CHECKS'), "
        "'pool': s.DATABASES[a]['OPTIONS'].get('pool')} for a in ('default', 'replica')}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=settings.BASE_DIR,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


POSTGRES = "postgres://omnicore@db.internal:5432/omnicore"


def test_the_pool_is_off_unless_asked_for():
    default = _database_settings(DATABASE_URL=POSTGRES)["default"]
    assert default["pool"] is None and default["age"] == 60


def test_with_a_pool_size_each_alias_pools_checked_connections_and_keeps_none_itself():
    for alias in _database_settings(DATABASE_URL=POSTGRES, DB_POOL_MAX_SIZE="3").values():
        assert alias["age"] == 0 and alias["checks"] is True
        assert alias["pool"] == {"min_size": 1, "max_size": 3, "timeout": 5.0, "max_idle": 300}


def test_sqlite_has_no_pool_whatever_is_asked():
    default = _database_settings(DATABASE_URL="sqlite:///demo.sqlite3", DB_POOL_MAX_SIZE="3")
    assert default["default"]["pool"] is None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_pooled_connection_serves_queries_after_the_server_dropped_it():
    """With the pool, a connection the server closed (a restart, an idle timeout) is
    checked before it is lent and replaced: the next query succeeds."""
    from django.db import connection

    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    code = (
        "import django; django.setup()\n"
        "from django.db import connection\n"
        "with connection.cursor() as c:\n"
        "    c.execute('SELECT pg_backend_pid()'); first = c.fetchone()[0]\n"
        "connection.close()  # back to the pool\n"
        "import psycopg\n"
        f"with psycopg.connect({url!r}, autocommit=True) as other:\n"
        "    other.execute('SELECT pg_terminate_backend(%s)', [first])\n"
        "with connection.cursor() as c:\n"
        "    c.execute('SELECT pg_backend_pid()'); second = c.fetchone()[0]\n"
        "print(first != second)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=settings.BASE_DIR,
        env={
            "PATH": "/usr/bin:/bin",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": url,
            "DB_POOL_MAX_SIZE": "1",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "True"
