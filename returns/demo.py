"""Demo returns: what a store sees after a few weeks — goods bought online brought back to
another store, a till sale returned, a damaged item written off, a request from the app.

Written through the returns services, so each has its stock movements, points reversal
and refund tenders. Runs after the orders and POS demo; deterministic for a given `rng`.
"""

import random

from core.errors import DomainError
from inventory import selectors as inventory_selectors
from orders.models import Order
from returns import services
from returns.models import Return

REASONS = ["wrong_size", "changed_mind", "defective", "not_as_described"]


def seed(*, rng: random.Random, stdout) -> None:
    if Return.objects.exists():
        stdout.write("  returns: demo returns already present")
        return
    stores = list(inventory_selectors.pickup_locations().order_by("pk"))
    done = (
        Order.objects.filter(status__in=["collected", "delivered"])
        .exclude(customer=None)
        .order_by("pk")
    )
    made = 0
    orders = list(done[:40])
    rng.shuffle(orders)
    for index, order in enumerate(orders[:8]):
        line = order.lines.order_by("id").first()
        if line is None or not stores:
            continue
        # Mostly another store than where it was bought: "return anywhere".
        others = [s for s in stores if s.pk != order.location_id] or stores
        location = others[index % len(others)]
        quantity = 1 if line.quantity == 1 else rng.randint(1, line.quantity)
        condition = "damaged" if index % 4 == 3 else "resaleable"
        try:
            if index == 5 and order.customer_id:
                services.return_request(
                    order=order,
                    customer=order.customer,
                    location=location,
                    reason="wrong_size",
                    lines=[{"sku": line.sku, "quantity": quantity}],
                    note="Will bring it on Saturday.",
                )
            else:
                services.return_create(
                    order=order,
                    location=location,
                    reason=rng.choice(REASONS),
                    lines=[{"sku": line.sku, "quantity": quantity, "condition": condition}],
                    source="desk",
                    enforce_window=False,
                )
            made += 1
        except DomainError as exc:  # e.g. an order the POS demo already returned
            stdout.write(f"  returns: skipped {order.number} ({exc.code})")
    stdout.write(f"  returns: {made} returns and requests")
