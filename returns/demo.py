"""Demo returns: what the year of demo history (`demo.history`) brings back — goods bought
online returned in a store ("return anywhere"), till sales returned at the same or another
store, now and then a damaged item, and requests from the app.

Written through the returns services, so each return has its stock movements, points
reversal and refund tenders; the window is enforced as for any store.
"""

from __future__ import annotations

import random

from returns import services
from returns.models import Return

REASONS = ["wrong_size", "changed_mind", "defective", "not_as_described"]
REASON_WEIGHTS = [40, 35, 10, 15]


def _lines(rng: random.Random, order, *, condition: bool) -> list[dict]:
    lines = list(order.lines.order_by("id").values_list("sku", "quantity"))
    chosen = rng.sample(lines, k=1 if len(lines) == 1 or rng.random() < 0.7 else 2)
    result = []
    for sku, quantity in chosen:
        line = {"sku": sku, "quantity": 1 if quantity == 1 else rng.randint(1, quantity)}
        if condition:
            line["condition"] = "damaged" if rng.random() < 0.1 else "resaleable"
        result.append(line)
    return result


def at_store(rng: random.Random, *, order, location) -> Return:
    """The customer brings goods of `order` to `location`'s desk (raises DomainErrors)."""
    reason = rng.choices(REASONS, weights=REASON_WEIGHTS)[0]
    return services.return_create(
        order=order,
        location=location,
        reason=reason,
        lines=_lines(rng, order, condition=True),
        source="desk",
    )


def request(rng: random.Random, *, order, location) -> Return:
    """The customer asks in the app to bring goods back to `location` (nothing moves yet)."""
    return services.return_request(
        order=order,
        customer=order.customer,
        location=location,
        reason=rng.choices(REASONS, weights=REASON_WEIGHTS)[0],
        lines=_lines(rng, order, condition=False),
        note="Will bring it on Saturday.",
    )
