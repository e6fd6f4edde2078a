"""PostgreSQL, counting statements for django-prometheus's metrics at less cost per statement.

The same metrics as django-prometheus's own backend (`django_db_execute_total`,
`django_db_execute_many_total`, `django_db_query_duration_seconds`,
`django_db_errors_total`, and new connections), by database alias and vendor. Its cursor
looks up each metric's labelled child and builds two context managers on every statement:
about 5% of a checkout's time in a gunicorn worker. Here the children are looked up once
per cursor class, and a statement pays for two increments and one observation.
"""

import functools
from time import perf_counter

from django.db.backends.postgresql import base
from django_prometheus.db import (
    errors_total,
    execute_many_total,
    execute_total,
    query_duration_seconds,
)
from django_prometheus.db.common import DatabaseWrapperMixin


@functools.cache
def counting_cursor(cursor_class: type, alias: str, vendor: str) -> type:
    """`cursor_class`, counting its statements, their errors and time for `alias`."""
    executed = execute_total.labels(alias, vendor)
    executed_many = execute_many_total.labels(alias, vendor)
    duration = query_duration_seconds.labels(alias, vendor)

    class CountingCursor(cursor_class):
        def execute(self, *args, **kwargs):
            executed.inc()
            began = perf_counter()
            try:
                return super().execute(*args, **kwargs)
            except Exception as exc:
                errors_total.labels(alias, vendor, type(exc).__name__).inc()
                raise
            finally:
                duration.observe(perf_counter() - began)

        def executemany(self, query, params_seq, *args, **kwargs):
            params_seq = list(params_seq)
            executed.inc(len(params_seq))
            executed_many.inc(len(params_seq))
            began = perf_counter()
            try:
                return super().executemany(query, params_seq, *args, **kwargs)
            except Exception as exc:
                errors_total.labels(alias, vendor, type(exc).__name__).inc()
                raise
            finally:
                duration.observe(perf_counter() - began)

    CountingCursor.__name__ = CountingCursor.__qualname__ = f"Counting{cursor_class.__name__}"
    return CountingCursor


class DatabaseWrapper(DatabaseWrapperMixin, base.DatabaseWrapper):
    """Django's PostgreSQL backend; new connections counted by the mixin, statements by
    `counting_cursor` (also for `core.db.prepared_cursor`'s server-binding cursors)."""

    def get_connection_params(self):
        params = super().get_connection_params()
        params["cursor_factory"] = self.counting_cursor(params["cursor_factory"])
        return params

    def create_cursor(self, name=None):
        # psycopg makes counting cursors already (the connection's cursor_factory); the
        # mixin's create_cursor is written for psycopg 2.
        return base.DatabaseWrapper.create_cursor(self, name=name)

    def counting_cursor(self, cursor_class: type) -> type:
        return counting_cursor(cursor_class, self.alias, self.vendor)
