"""Selling on a customer's behalf (endless aisle, call centre): staff carts, the customer's
consent to their points and coupons, and the staff checkout.

A staff cart is an ordinary cart without a customer — the customer's own open cart in
their app is left alone — with an `AssistedSale` naming the customer it is for, the
channel, the member of staff and the store they sell from. Lines, fulfilment and checkout
go through the cart and checkout services of `orders.services`; this module adds who may
sell what and the consent rule: the customer's points and coupons are used only after the
customer gave the code sent to a contact of their profile (`customers.services.
assisted_sale_consent_start`, the same one-time codes as a contact's verification).

Who sells: holders of `orders.sell_for_customer` (store associates and managers) from one
of their own stores, channel `store_assisted`; holders of `orders.sell_by_phone` (the call
centre) for any store, channel `call_centre`. Either may order for pickup in any store or
for delivery, from any location's stock. A staff cart is reached only by staff of the
same kind — the store's staff for a store's cart, the call centre for its own — and
answers 404 to everyone else, like another store's order.
"""

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from customers import services as customer_services
from customers.models import Customer
from inventory import selectors as inventory_selectors
from orders import selectors, services
from orders.domain import Channel
from orders.errors import (
    CartNotFound,
    ConfirmationNotRequested,
    CustomerConfirmationRequired,
    SellingNotAllowed,
    StoreNotAllowed,
    StoreRequired,
)
from orders.models import AssistedSale, Cart, CartLine, Order

SELL_FOR_CUSTOMER = "orders.sell_for_customer"  # at their own stores
SELL_BY_PHONE = "orders.sell_by_phone"  # the call centre: any store

# The permission each assisted channel needs.
CHANNEL_PERMISSION = {
    Channel.STORE_ASSISTED: SELL_FOR_CUSTOMER,
    Channel.CALL_CENTRE: SELL_BY_PHONE,
}


# --- reads ---------------------------------------------------------------------------


def seller_channels(*, user) -> list[str]:
    """The assisted channels this member of staff may sell through (none for a customer)."""
    if not getattr(user, "is_authenticated", False) or not user.is_staff or not user.is_active:
        return []
    return [str(c) for c, perm in CHANNEL_PERMISSION.items() if user.has_perm(perm)]


def staff_cart_get(*, token: str, user) -> tuple[Cart, AssistedSale]:
    """An open staff cart and its sale, if `user` may work on it: the call centre's carts
    for the call centre, a store's carts for staff of that store who sell for customers.
    Anything else (a customer's cart, another store's) is CartNotFound (404)."""
    cart = selectors.cart_get(token=token, assisted=True)
    assisted = (
        AssistedSale.objects.select_related("customer", "store", "staff", "consent")
        .filter(cart=cart)
        .first()
    )
    if assisted is None or assisted.channel not in seller_channels(user=user):
        raise CartNotFound(details={"cart": str(token)})
    if assisted.channel == Channel.STORE_ASSISTED:
        stores = inventory_selectors.locations_for_staff(user=user)
        if not stores.filter(pk=assisted.store_id).exists():
            raise CartNotFound(details={"cart": str(token)})
    return cart, assisted


def staff_cart_stock(*, cart: Cart) -> dict[str, list[dict[str, Any]]]:
    """SKU → where its units are now: [{"location", "name", "available"}], every active
    location holding some, most first. The endless aisle: staff sell from any of them."""
    lines = list(CartLine.objects.filter(cart=cart).select_related("variant"))
    per_variant = inventory_selectors.availability(variant_ids=[line.variant_id for line in lines])
    locations = {loc.pk: loc for loc in inventory_selectors.location_list()}
    stock = {}
    for line in lines:
        places = [
            {"location": locations[pk].code, "name": locations[pk].name, "available": units}
            for pk, units in per_variant.get(line.variant_id, {}).items()
            if units > 0 and pk in locations
        ]
        stock[line.variant.sku] = sorted(places, key=lambda p: (-p["available"], p["location"]))
    return stock


@dataclass
class StaffCartView(selectors.CartView):
    """The cart as the customer API shows it, priced for the sale's customer, with the
    sale and where each line's units are."""

    assisted: AssistedSale | None = None
    stock: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def staff_cart_view(*, cart: Cart, assisted: AssistedSale) -> StaffCartView:
    view = selectors.cart_view(cart=cart, customer=assisted.customer)
    return StaffCartView(**vars(view), assisted=assisted, stock=staff_cart_stock(cart=cart))


def consent_state(assisted: AssistedSale) -> str:
    """`confirmed`, `requested` (a code was sent, not yet given) or `none`."""
    if assisted.consent_confirmed_at is not None:
        return "confirmed"
    return "requested" if assisted.consent_id else "none"


# --- writes --------------------------------------------------------------------------


def _selling_store(*, user, store):
    """The store an associate sells from: the one named (it must be theirs), or their only
    one. Raises StoreNotAllowed (403), StoreRequired (400)."""
    stores = inventory_selectors.locations_for_staff(user=user)
    if store is None:
        only = list(stores[:2])
        if len(only) != 1:
            raise StoreRequired(details={"stores": [loc.code for loc in only]})
        return only[0]
    location = inventory_selectors.location_get(code_or_id=store)
    if not stores.filter(pk=location.pk).exists():
        raise StoreNotAllowed(details={"store": location.code})
    return location


@transaction.atomic
def staff_cart_create(
    *,
    user,
    customer: Customer,
    channel: str,
    store: str | int | None = None,
    attribution: dict[str, Any] | None = None,
) -> tuple[Cart, AssistedSale]:
    """Start a cart that `user` builds for `customer`, through an assisted channel.

    `store_assisted`: the associate sells from `store` (one of theirs; default their only
    one). `call_centre`: no store (the pickup store is chosen at checkout). Locks nothing.
    Raises SellingNotAllowed (403) without the channel's permission, StoreNotAllowed
    (403), StoreRequired (400), InvalidAttribution (400).
    """
    if channel not in seller_channels(user=user):
        raise SellingNotAllowed(details={"channel": channel})
    location = _selling_store(user=user, store=store) if channel == Channel.STORE_ASSISTED else None
    cart = services.cart_create(channel=channel, customer=None, attribution=attribution)
    assisted = AssistedSale.objects.create(
        cart=cart, customer=customer, channel=channel, staff=user, store=location
    )
    return cart, assisted


@transaction.atomic
def staff_cart_update(
    *,
    cart: Cart,
    assisted: AssistedSale,
    fulfilment_type: str | None = None,
    pickup_location: str | int | None = None,
    coupon_code: str | None = None,
    delivery_address: dict[str, str] | None = None,
    shipping_method: str | None = None,
) -> Cart:
    """Choose the fulfilment (pickup in any store, or delivery) and the coupon of a staff
    cart (`services.cart_update`). A coupon is the customer's: CustomerConfirmationRequired
    (403) until they confirmed; taking a coupon off needs nothing."""
    if coupon_code and coupon_code.strip() and assisted.consent_confirmed_at is None:
        raise CustomerConfirmationRequired(details={"coupon": coupon_code.strip()})
    return services.cart_update(
        cart=cart,
        fulfilment_type=fulfilment_type,
        pickup_location=pickup_location,
        coupon_code=coupon_code,
        delivery_address=delivery_address,
        shipping_method=shipping_method,
    )


def _locked(assisted: AssistedSale) -> AssistedSale:
    return (
        AssistedSale.objects.select_for_update(of=("self",))
        .select_related("customer")
        .get(pk=assisted.pk)
    )


@transaction.atomic
def staff_cart_consent_request(*, assisted: AssistedSale) -> AssistedSale:
    """Send the customer the code that lets staff use their points and coupons on this
    cart; asked again, a new code (the old one stops working).

    Once confirmed, nothing is sent. Locks the sale row, then the verification. The code
    goes out after commit. Raises ContactUnreachable (400) when no code channel reaches
    the customer, TooManyCodes (409) past CUSTOMER_CODE_MAX_SENDS codes, VerificationLocked
    (410) after too many wrong codes (start a new cart then).
    """
    assisted = _locked(assisted)
    if assisted.consent_confirmed_at is not None:
        return assisted
    if assisted.consent_id is not None:
        assisted.consent = customer_services.verification_resend(
            verification_id=assisted.consent_id
        )
        return assisted
    assisted.consent = customer_services.assisted_sale_consent_start(customer=assisted.customer)
    assisted.save(update_fields=["consent"])
    return assisted


def staff_cart_consent_confirm(*, assisted: AssistedSale, code: str) -> AssistedSale:
    """The customer's code, given to the member of staff: their points and coupons may be
    used on this cart from now on.

    Locks the sale row, then the verification. A wrong code is counted and the count
    committed before the error is raised (do not call inside another transaction).
    Raises ConfirmationNotRequested (409), InvalidCode (400), VerificationExpired /
    VerificationLocked (410).
    """
    with transaction.atomic():
        assisted = _locked(assisted)
        if assisted.consent_confirmed_at is not None:
            return assisted
        if assisted.consent_id is None:
            raise ConfirmationNotRequested()
        verification, error = customer_services.assisted_sale_consent_take(
            customer=assisted.customer, verification_id=assisted.consent_id, code=code
        )
        if verification is not None:
            assisted.consent_confirmed_at = timezone.now()
            assisted.save(update_fields=["consent_confirmed_at"])
    if error is not None:
        raise error
    return assisted


def staff_checkout_place(
    *,
    cart: Cart,
    assisted: AssistedSale,
    user,
    fulfilment: dict[str, Any],
    payment: services.PaymentInput | None = None,
    redeem_points: int = 0,
    expected_total: Decimal | None = None,
) -> Order:
    """Place the order of a staff cart for its customer (`services.checkout_place`).

    The order is the customer's (in their app at once, notified like any order), of the
    sale's channel, its first transition made by staff (`user`); the sale records the
    order and who placed it. Points and a coupon need the customer's confirmation
    (CustomerConfirmationRequired, 403, before anything is locked). Otherwise the
    checkout's own locks, errors and after-commit effects.
    """
    if (redeem_points or cart.coupon_code) and assisted.consent_confirmed_at is None:
        raise CustomerConfirmationRequired(
            details={"redeem_points": redeem_points, "coupon": cart.coupon_code}
        )
    with transaction.atomic():
        order = services.checkout_place(
            cart=cart,
            fulfilment=fulfilment,
            payment=payment,
            customer=assisted.customer,
            redeem_points=redeem_points,
            expected_total=expected_total,
            channel=assisted.channel,
            user=user,
        )
        AssistedSale.objects.filter(pk=assisted.pk).update(order=order, placed_by=user)
    return order
