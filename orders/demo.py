"""Demo online orders: what the year of demo history (`demo.history`) does with the web
shop and the app — carts with where the shopper came from, checkouts paid by card, in the
store or partly with points, and the orders' later steps (ready, collected or expired;
shipped and delivered; cancelled).

Everything goes through the orders services, so each order has its reservation and sale in
the stock ledger, its price snapshot, its points and its transition history. Order numbers
and pickup codes come from the services' secure random source (they must not be
guessable), so they differ between runs; everything else follows the `rng`.
"""

from __future__ import annotations

import inspect
import random
from dataclasses import dataclass

from orders import services
from orders.domain import Actor, Status
from orders.models import Order

# Where online shoppers come from (utm source, medium, campaign), with weights.
ATTRIBUTIONS = [
    (("", "", ""), 40),
    (("google", "cpc", "brand"), 15),
    (("google", "organic", ""), 12),
    (("newsletter", "email", "weekly"), 10),
    (("instagram", "social", "season"), 8),
    (("facebook", "social", "retargeting"), 5),
    (("idealo", "comparison", ""), 5),
    (("tiktok", "social", "creators"), 5),
]
APP_VERSIONS = ["4.12.0", "4.13.1", "4.14.0", "4.15.2"]
DEVICES = {"web": ["desktop", "desktop", "mobile", "tablet"], "app": ["ios", "android"]}
STREETS = ["Hauptstraße", "Bahnhofstraße", "Gartenweg", "Lindenallee", "Schillerstraße"]
CITIES = [
    ("10115", "Berlin"),
    ("20095", "Hamburg"),
    ("80331", "München"),
    ("50667", "Köln"),
    ("60311", "Frankfurt am Main"),
    ("04109", "Leipzig"),
    ("70173", "Stuttgart"),
    ("40213", "Düsseldorf"),
]


@dataclass(frozen=True)
class OnlineOrder:
    """One online order to place: who, where from, what, how it is fulfilled and paid."""

    channel: str  # web | app
    customer: object | None  # the logged-in owner; None for a guest
    contact: dict | None  # a guest's contact
    lines: list[tuple[str, int]]
    pickup_store: str | None  # store code; None for a delivery
    pay_in_store: bool = False
    redeem_points: int = 0
    coupon: str = ""


def attribution(rng: random.Random, channel: str) -> dict[str, str]:
    (source, medium, campaign), _w = rng.choices(
        ATTRIBUTIONS, weights=[w for _a, w in ATTRIBUTIONS]
    )[0]
    result = {"device": rng.choice(DEVICES[channel])}
    if channel == "app":
        result["app_version"] = rng.choice(APP_VERSIONS)
    if source:
        result.update(utm_source=source, utm_medium=medium)
        if campaign:
            result["utm_campaign"] = campaign
    return result


def address(rng: random.Random) -> dict[str, str]:
    postal_code, city = rng.choice(CITIES)
    return {
        "line1": f"{rng.choice(STREETS)} {rng.randint(1, 120)}",
        "postal_code": postal_code,
        "city": city,
        "country": "DE",
    }


def cart_start(rng: random.Random, *, channel: str, customer=None):
    """A new cart with where the shopper came from (when the cart records it)."""
    if "attribution" in inspect.signature(services.cart_create).parameters:
        return services.cart_create(
            channel=channel, customer=customer, attribution=attribution(rng, channel)
        )
    return services.cart_create(channel=channel, customer=customer)


def place(rng: random.Random, plan: OnlineOrder) -> Order:
    """Cart → checkout through the services (raises their DomainErrors)."""
    cart = cart_start(rng, channel=plan.channel, customer=plan.customer)
    for sku, quantity in plan.lines:
        services.cart_line_add(cart=cart, sku=sku, quantity=quantity)
    if plan.coupon:
        services.cart_update(cart=cart, coupon_code=plan.coupon)
    if plan.pickup_store:
        fulfilment = {"type": "pickup", "location": plan.pickup_store}
    else:
        fulfilment = {"type": "delivery", "address": address(rng)}
    payment = (
        services.PAY_IN_STORE
        if plan.pay_in_store
        else services.PaymentInput(provider="test", token="tok_ok")
    )
    return services.checkout_place(
        cart=cart,
        customer=plan.customer,
        contact=plan.contact,
        fulfilment=fulfilment,
        payment=payment,
        channel=plan.channel,
        redeem_points=plan.redeem_points,
    )


def advance(order: Order, target: str, *, by_customer: bool = False) -> Order:
    """Move an order on as staff (or the system, for an expiry) would."""
    actor = Actor.STAFF
    if target == Status.EXPIRED:
        actor = Actor.SYSTEM
    elif target == Status.CANCELLED and by_customer:
        actor = Actor.CUSTOMER
    return services.order_transition(
        order=order,
        target=target,
        actor=actor,
        pickup_code=order.pickup_code if target == Status.COLLECTED else None,
        desk_payment=services.DeskPayment(kind="card") if target == Status.COLLECTED else None,
    )
