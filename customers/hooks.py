"""Extension points that let higher apps (orders, carts, loyalty) take part in customer events.

Settings list dotted paths, wired in config/settings.py at the top of the dependency
graph, so customers never imports the apps above it:

- `CUSTOMER_MERGE_HANDLERS`: `(survivor_id: int, duplicate_id: int) -> dict` moves that
  app's rows inside the merge transaction and says what it moved;
- `CUSTOMER_TIMELINE_SOURCES`: `(customer_id: int, *, limit: int, before: datetime | None)
  -> list[dict]` returns at most `limit` entries older than `before` (exclusive), newest
  first, each {"at", "kind", "channel", "title", "reference", "details"};
- `CUSTOMER_LOGIN_HANDLERS`: `(customer, request_data: dict) -> dict` runs inside the
  login transaction (e.g. merging an anonymous cart) and its result is added to the
  login response. `request_data` never contains the password.
"""

from collections.abc import Callable
from functools import cache
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string


@cache
def _load(paths: tuple[str, ...]) -> list[tuple[str, Callable[..., Any]]]:
    return [(path, import_string(path)) for path in paths]


def merge_handlers() -> list[tuple[str, Callable[[int, int], dict]]]:
    return _load(tuple(getattr(settings, "CUSTOMER_MERGE_HANDLERS", ())))


def timeline_sources() -> list[tuple[str, Callable[..., list[dict]]]]:
    return _load(tuple(getattr(settings, "CUSTOMER_TIMELINE_SOURCES", ())))


def login_handlers() -> list[tuple[str, Callable[[Any, dict], dict]]]:
    return _load(tuple(getattr(settings, "CUSTOMER_LOGIN_HANDLERS", ())))
