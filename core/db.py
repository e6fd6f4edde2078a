"""Retrying a transaction that lost a deadlock or a serialization race, once, then 409.

The apps lock balances in one global order (stock levels, then the points account, then
coupon counters), so deadlocks should not happen; if PostgreSQL still reports one (or a
serialization failure), the whole transaction is run again once, and a second failure
answers `concurrent_update` (409) in the error shape instead of a 500.
"""

from collections.abc import Callable
from typing import TypeVar

from django.db import OperationalError, connection
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
