"""Demo carts and orders: every status of both flows, in every channel, for demo customers.

Written through the orders services (checkout, transitions), so each demo order has its
reservation or sale in the stock ledger, its price snapshot, and its transition history.
Deterministic for a given `rng` apart from order numbers and pickup codes, which are
random by design (they must not be guessable).
"""

import random

from django.db import transaction

from core.errors import DomainError
from customers.selectors import customer_list
from inventory import selectors as inventory_selectors
from orders import services
from orders.domain import Actor, Status
from orders.models import Order
from pricing import selectors as pricing_selectors

PICKUP_PATHS = [
    [],
    [Status.READY_FOR_PICKUP],
    [Status.READY_FOR_PICKUP, Status.COLLECTED],
    [Status.READY_FOR_PICKUP, Status.EXPIRED],
    [Status.CANCELLED],
]
DELIVERY_PATHS = [[], [Status.SHIPPED], [Status.SHIPPED, Status.DELIVERED], [Status.CANCELLED]]
CHANNELS = ["web", "app", "pos"]


def _sellable_skus(location_id: int, limit: int = 400) -> list[str]:
    """SKUs with a current price and stock at the location."""
    levels = inventory_selectors.stock_levels(location_ids=[location_id]).filter(
        on_hand__gt=5, reserved=0
    )[:limit]
    variants = {level.variant_id: level.variant.sku for level in levels if level.variant.is_active}
    prices = pricing_selectors.unit_prices(variant_ids=list(variants))
    return [sku for vid, sku in variants.items() if vid in prices]


def seed(*, rng: random.Random, stdout) -> None:
    if Order.objects.exists():
        stdout.write("  orders: demo orders already present")
        return
    customers = list(customer_list()[:12])
    stores = [loc for loc in inventory_selectors.pickup_locations().order_by("pk")]
    if not customers or not stores:
        stdout.write("  orders: no customers or pickup stores; skipped")
        return
    made = 0
    plans = [("pickup", path) for path in PICKUP_PATHS] + [
        ("delivery", path) for path in DELIVERY_PATHS
    ]
    for index, (kind, path) in enumerate(plans * 2):
        customer = customers[index % len(customers)]
        store = stores[index % len(stores)]
        skus = _sellable_skus(store.pk)
        if len(skus) < 3:
            continue
        channel = CHANNELS[index % len(CHANNELS)] if kind == "pickup" else CHANNELS[index % 2]
        try:
            with transaction.atomic():
                cart = services.cart_get_current(customer=customer, channel=channel)
                for sku in rng.sample(skus, k=rng.randint(1, 3)):
                    services.cart_line_add(cart=cart, sku=sku, quantity=rng.randint(1, 2))
                fulfilment = (
                    {"type": "pickup", "location": store.code}
                    if kind == "pickup"
                    else {
                        "type": "delivery",
                        "address": {"line1": "Demo street 1", "city": "Berlin"},
                    }
                )
                order = services.checkout_place(
                    cart=cart,
                    customer=customer,
                    fulfilment=fulfilment,
                    payment=services.PaymentInput(provider="test", token="tok_ok")
                    if index % 3
                    else services.PAY_IN_STORE
                    if kind == "pickup"
                    else services.PaymentInput(provider="test", token="tok_ok"),
                    channel=channel,
                )
                for target in path:
                    actor = Actor.SYSTEM if target == Status.EXPIRED else Actor.STAFF
                    if target == Status.CANCELLED and index % 2:
                        actor = Actor.CUSTOMER
                    order = services.order_transition(
                        order=order,
                        target=target,
                        actor=actor,
                        pickup_code=order.pickup_code,
                        desk_payment=services.DeskPayment(kind="card"),
                    )
            made += 1
        except DomainError as error:  # e.g. a delivery nobody can ship in full: skip it
            stdout.write(f"  orders: skipped a demo order ({error.code})")
    # A few open carts, so carts that follow the customer can be seen in the admin.
    for customer in customers[:3]:
        cart = services.cart_get_current(customer=customer, channel="app")
        skus = _sellable_skus(stores[0].pk, limit=50)
        if skus:
            services.cart_line_add(cart=cart, sku=rng.choice(skus), quantity=1)
    stdout.write(f"  orders: {made} demo orders")
