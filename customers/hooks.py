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
  login response. `request_data` never contains the password;
- `CUSTOMER_EXPORT_SOURCES`: `(customer_id: int) -> dict` returns everything that app
  holds about the customer, as JSON-ready data, for the export a customer may ask for;
- `CUSTOMER_ERASE_HANDLERS`: `(customer_id: int) -> dict` runs inside the erasure
  transaction: it removes or blanks that app's personal data of the customer (records
  needed for accounting stay, without the person's contacts), says what it did, and
  raises a DomainError to refuse the whole erasure (e.g. an order still open);
- `CUSTOMER_ADMIN_PANELS`: `(customer_id: int, *, user, limit: int) -> dict | None`
  gives the customer's admin page one read-only panel of that app (None when `user` may
  not see it): {"key", "title", "summary": [(label, value)], "head": [str],
  "rows": [[{"text", "url"}]], "total": int, "more_url": str}, in a bounded number of
  queries whatever the customer holds. `summary` is also what the merge page says moves.
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


def export_sources() -> list[tuple[str, Callable[[int], dict]]]:
    return _load(tuple(getattr(settings, "CUSTOMER_EXPORT_SOURCES", ())))


def erase_handlers() -> list[tuple[str, Callable[[int], dict]]]:
    return _load(tuple(getattr(settings, "CUSTOMER_ERASE_HANDLERS", ())))


def admin_panels() -> list[tuple[str, Callable[..., dict | None]]]:
    return _load(tuple(getattr(settings, "CUSTOMER_ADMIN_PANELS", ())))
