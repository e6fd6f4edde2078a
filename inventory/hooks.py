"""Extension points that let higher apps take part in stock events, wired in settings so
inventory never imports the apps above it.

- `INVENTORY_TRANSFER_RECEIVED_HANDLERS`: `(transfer) -> None` runs inside the
  transaction that received `transfer` (its lines carry `received_quantity`), e.g. orders
  queuing the news for the ship-to-store order the transfer's `reference` names. A
  handler should only queue work after commit: the destination's levels are locked here.
"""

from collections.abc import Callable
from functools import cache
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string


@cache
def _load(paths: tuple[str, ...]) -> list[Callable[..., Any]]:
    return [import_string(path) for path in paths]


def transfer_received_handlers() -> list[Callable[[Any], None]]:
    return _load(tuple(getattr(settings, "INVENTORY_TRANSFER_RECEIVED_HANDLERS", ())))
