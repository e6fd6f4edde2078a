"""What readiness means: the database answers, the broker answers, no migration is pending.

Each check reads only (a `SELECT 1`, a broker connection, the migration table and files)
and returns a small dict with `ok`. The migration check loads the migration graph from
disk, which costs a fraction of a second: once a process has seen every migration applied
it remembers it (migrations are applied before a release's processes start, and a new
release starts new processes).
"""

from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

_migrations_applied: set[str] = set()


def database(alias: str = DEFAULT_DB_ALIAS) -> dict[str, Any]:
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - any failure means not reachable
        return {"ok": False, "error": exc.__class__.__name__}
    return {"ok": True}


def broker(timeout: float = 2.0) -> dict[str, Any]:
    """Connect to the Celery broker; with eager tasks (no broker configured) there is none."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return {"ok": True, "mode": "eager"}
    from config.celery import app

    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=timeout)
            connection.default_channel  # noqa: B018 - opening a channel talks to the broker
    except Exception as exc:  # noqa: BLE001 - any failure means not reachable
        return {"ok": False, "error": exc.__class__.__name__}
    return {"ok": True}


def migrations(alias: str = DEFAULT_DB_ALIAS) -> dict[str, Any]:
    if alias in _migrations_applied:
        return {"ok": True, "unapplied": 0}
    from django.db.migrations.executor import MigrationExecutor

    try:
        executor = MigrationExecutor(connections[alias])
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as exc:  # noqa: BLE001 - unreadable means not ready
        return {"ok": False, "error": exc.__class__.__name__}
    if plan:
        names = [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]
        return {"ok": False, "unapplied": len(plan), "first": names[:5]}
    _migrations_applied.add(alias)
    return {"ok": True, "unapplied": 0}


def readiness() -> dict[str, dict[str, Any]]:
    checks = {"database": database(), "broker": broker()}
    # Without a database the migration state cannot be read: report that, not a traceback.
    checks["migrations"] = (
        migrations() if checks["database"]["ok"] else {"ok": False, "error": "no_database"}
    )
    return checks
