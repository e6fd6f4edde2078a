"""A clock for building the demo's past: demo data only, never used by the running shop.

The services stamp what they write with `django.utils.timezone.now()` (orders placed,
stock movements, points entries, returns). To make a year of history through those very
services, `DemoClock.running()` replaces `timezone.now` — the module attribute, and the
model fields whose default is that function — by the clock's own time for as long as it
runs; `clock.at(when)` sets that time around each historical operation. Outside `at`, the
clock shows the real time. Restored on exit, also after an error. Not thread-safe, by
design: `seed_demo` runs in one thread.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from django.apps import apps
from django.utils import timezone

_real_now = timezone.now


class DemoClock:
    def __init__(self) -> None:
        self.current: datetime | None = None

    def now(self) -> datetime:
        return self.current if self.current is not None else _real_now()

    @contextmanager
    def at(self, when: datetime) -> Iterator[DemoClock]:
        """Operations inside see `when` as now."""
        before, self.current = self.current, when
        try:
            yield self
        finally:
            self.current = before

    @contextmanager
    def running(self) -> Iterator[DemoClock]:
        """Put the clock in place of `timezone.now` (and of model defaults that are it)."""
        fields = [
            field
            for model in apps.get_models()
            for field in model._meta.concrete_fields
            if field.default is _real_now
        ]
        # Field.get_default reads a cached `_get_default`; swap that cache, then restore.
        saved = [(field, field.__dict__.get("_get_default")) for field in fields]
        timezone.now = self.now
        for field in fields:
            field.__dict__["_get_default"] = self.now
        try:
            yield self
        finally:
            timezone.now = _real_now
            for field, cached in saved:
                if cached is None:
                    field.__dict__.pop("_get_default", None)
                else:
                    field.__dict__["_get_default"] = cached
