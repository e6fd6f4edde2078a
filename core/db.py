"""Database helpers: retry a transaction that lost a race once (then 409); insert in bulk;
nested atomic blocks without savepoints where an error aborts the whole transaction.

The apps lock balances in one global order (stock levels, then the points account, then
coupon counters), so deadlocks should not happen; if PostgreSQL still reports one (or a
serialization failure), the whole transaction is run again once, and a second failure
answers `concurrent_update` (409) in the error shape instead of a 500.
"""

import functools
import json as _json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

from django.db import OperationalError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.errors import Conflict

T = TypeVar("T")
RETRYABLE_SQLSTATES = {"40P01", "40001"}  # deadlock_detected, serialization_failure


class ConcurrentUpdate(Conflict):
    code = "concurrent_update"
    message = _("Another request changed the same data at the same moment; try again.")


def is_retryable(exc: BaseException) -> bool:
    cause = exc.__cause__ or exc
    return getattr(cause, "sqlstate", None) in RETRYABLE_SQLSTATES


def run_with_retry(operation: Callable[[], T]) -> T:
    """Run `operation` (which owns its outermost transaction); retry once on a lost race."""
    for attempt in (1, 2):
        try:
            return operation()
        except OperationalError as exc:
            if not is_retryable(exc) or connection.in_atomic_block:
                raise  # not a race, or an outer transaction that must roll back as a whole
            if attempt == 2:
                raise ConcurrentUpdate() from exc
    raise AssertionError("unreachable")


def insert_many(model, objs: list, *, batch_size: int = 2000, key: str | None = None) -> None:
    """Insert model instances, reading nothing back (their ids stay unset).

    On PostgreSQL one `INSERT … SELECT FROM unnest(array, …)` per batch: a column is one
    array parameter, so building the statement costs nothing per row (the ORM's
    bulk_create spends most of a large batch preparing each value's placeholder). Values
    are the instances' attributes as they are (model defaults are set when an instance is
    made; unset `auto_now(_add)` times are filled with now). Elsewhere, the ORM's
    bulk_create. For ledgers and facts written in bulk (a till's sale batch). With `key`, a
    unique field, the new ids are read back (`RETURNING`) and set on the instances by it.
    """
    if not objs:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_create(objs, batch_size=500)
        return
    pk = model._meta.pk
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    now = timezone.now()
    for field in fields:
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            for obj in objs:
                if getattr(obj, field.attname) is None:
                    setattr(obj, field.attname, now)
    casts, columns = [], []
    for field in fields:
        db_type = field.rel_db_type(connection) if field.is_relation else field.db_type(connection)
        json = field.get_internal_type() == "JSONField"
        casts.append("%s::text[]::jsonb[]" if json else f"%s::{db_type}[]")
        columns.append((field.attname, json))
    sql = (
        f'INSERT INTO "{model._meta.db_table}" ('
        + ", ".join(f'"{field.column}"' for field in fields)
        + ") SELECT * FROM unnest("
        + ", ".join(casts)
        + ")"
    )
    if key is not None:
        sql += f' RETURNING "{pk.column}", "{model._meta.get_field(key).column}"'
    by_key = {getattr(obj, key): obj for obj in objs} if key is not None else {}
    with connection.cursor() as cursor:
        for start in range(0, len(objs), batch_size):
            chunk = objs[start : start + batch_size]
            params = [
                [
                    _json.dumps(getattr(obj, attname)) if json else getattr(obj, attname)
                    for obj in chunk
                ]
                for attname, json in columns
            ]
            cursor.execute(sql, params)
            if key is not None:
                for new_id, value in cursor.fetchall():
                    found = by_key[value]
                    found.pk = new_id
                    found._state.adding = False


# --- savepoints that buy nothing ---------------------------------------------------------
#
# A service is atomic, so called inside another transaction it opens a savepoint: two
# statements (SAVEPOINT, RELEASE) that let a caller catch the service's error and carry on
# with its own transaction. A request whose transaction rolls back on any error (the
# Idempotency-Key record's: a failed handler leaves no trace) never does that, so there the
# services open their blocks without one.

_errors_abort = ContextVar("errors_abort_transaction", default=False)


@contextmanager
def errors_abort_transaction() -> Iterator[None]:
    """Inside the current atomic block, declare that no error is caught and carried on from:
    any error raised inside rolls the whole block back. `atomic()` then opens no savepoint.
    """
    token = _errors_abort.set(True)
    try:
        yield
    finally:
        _errors_abort.reset(token)


def atomic():
    """`transaction.atomic()` for a service: without a savepoint when nested inside
    `errors_abort_transaction()` (an error marks the outer transaction for rollback, which
    it is about to do anyway), with one everywhere else."""
    return transaction.atomic(savepoint=not _errors_abort.get())


def atomic_service(func: Callable[..., T]) -> Callable[..., T]:
    """Decorate a service like `@transaction.atomic`, deciding on the savepoint per call."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with atomic():
            return func(*args, **kwargs)

    return wrapper
