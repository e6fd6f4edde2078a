"""Read replica routing: catalog, availability and report reads may go to a streaming replica.

With `DATABASE_REPLICA_URL` set (see docs/deployment.md), the `replica` database alias
points at a PostgreSQL hot standby and `DATABASE_REPLICA_READS` is on. Reads are sent
there only where a slightly stale answer is harmless and every read of the request can
come from the one replica:

- inside a *replica scope*: the GET views named in `REPLICA_READ_VIEWS` (the catalog,
  stores and availability, the reports) run in one through `ReplicaReadsMiddleware`, and
  `replica_reads()` opens one for other code (a report built by a task);
- for models of the apps those pages read (`REPLICA_APPS`); logins, sessions, tokens,
  the idempotency records and the change log stay on the primary, so a fresh login or a
  feed's cursor never meets replication lag;
- never inside a transaction on the primary (`in_atomic_block`): a service that reads
  and then writes reads what it locks, and a checkout re-prices against the primary;
- never for writes: every write, `select_for_update()` included, goes to `default`.

Without a replica (the default), the alias still exists as a test mirror of `default`,
but reads are never routed to it. Statements run on `django.db.connection` directly
(hand-written SQL) are not routed by Django; code that wants them on the replica takes
its connection from `read_connection(model)`.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, router

REPLICA = "replica"

# The apps whose rows catalog pages, availability and reports read.
REPLICA_APPS = frozenset(
    {"catalog", "pricing", "inventory", "orders", "returns", "loyalty", "reports"}
)

_scope: ContextVar[bool] = ContextVar("replica_reads", default=False)


def replica_configured() -> bool:
    return bool(getattr(settings, "DATABASE_REPLICA_READS", False)) and (
        REPLICA in settings.DATABASES
    )


@contextmanager
def replica_reads() -> Iterator[None]:
    """Let the reads of this block go to the replica (where the router allows it)."""
    token = _scope.set(True)
    try:
        yield
    finally:
        _scope.reset(token)


def read_connection(model):
    """The connection a read of `model` would use now: for hand-written SQL."""
    return connections[router.db_for_read(model)]


class ReplicaRouter:
    """Reads of `REPLICA_APPS` models in a replica scope, outside any transaction on the
    primary, go to `replica`; everything else, and every write, to `default`."""

    def db_for_read(self, model, **hints) -> str:
        if (
            _scope.get()
            and model._meta.app_label in REPLICA_APPS
            and replica_configured()
            and not connections[DEFAULT_DB_ALIAS].in_atomic_block
        ):
            return REPLICA
        # Explicitly the primary, so Django never falls back to the database an instance
        # was loaded from (a row read on the replica, then related rows read in a write).
        return DEFAULT_DB_ALIAS

    def db_for_write(self, model, **hints) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints) -> bool | None:
        # The replica holds the same rows as the primary.
        if {obj1._state.db, obj2._state.db} <= {DEFAULT_DB_ALIAS, REPLICA, None}:
            return True
        return None

    def allow_migrate(self, db, app_label, model_name=None, **hints) -> bool | None:
        # A replica is a physical copy: migrations run on the primary and stream over.
        if db == REPLICA:
            return False
        return None


class ReplicaReadsMiddleware:
    """Runs the safe-method requests of the views named in `REPLICA_READ_VIEWS` (URL
    names) in a replica scope."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            return self.get_response(request)
        finally:
            token = getattr(request, "_replica_scope", None)
            if token is not None:
                _scope.reset(token)

    def process_view(self, request, view_func, view_args, view_kwargs):
        match = request.resolver_match
        if (
            request.method in ("GET", "HEAD")
            and match is not None
            and match.url_name in getattr(settings, "REPLICA_READ_VIEWS", ())
        ):
            request._replica_scope = _scope.set(True)
        return None
