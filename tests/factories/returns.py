"""Helpers for returns: orders completed the way real ones are (checkout, then handover).

Every order here went through `checkout_place` and `order_transition`, so its price
snapshot, tenders, stock sale and points earn are exactly what the services write.
"""

from decimal import Decimal

from django.contrib.auth.models import Permission

from orders import services as order_services
from orders.domain import Actor, Status
from tests.factories.inventory import LocationStaffFactory
from tests.factories.orders import CARD, CartFactory, order_staff

RETURN_PERMISSIONS = ("add_return", "view_return")
MANAGER_PERMISSIONS = (*RETURN_PERMISSIONS, "override_return_window", "refund_other_tender")


def collected_order(
    shop,
    customer,
    lines,
    *,
    redeem_points: int = 0,
    coupon: str = "",
    location=None,
    payment=CARD,
):
    """A pickup order of `customer` (None: a guest) for `lines` [(variant, quantity)],
    paid by card (and points), prepared and handed over at `location` (the shop's store)."""
    location = location or shop.store
    cart = CartFactory(customer=customer, channel="web")
    for variant, quantity in lines:
        order_services.cart_line_add(cart=cart, sku=variant.sku, quantity=quantity)
    if coupon:
        order_services.cart_update(cart=cart, coupon_code=coupon)
    order = order_services.checkout_place(
        cart=cart,
        fulfilment={"type": "pickup", "location": location.code},
        payment=payment if redeem_points == 0 or payment else None,
        customer=customer,
        contact={} if customer else {"email": "guest@example.com", "name": "Guest"},
        redeem_points=redeem_points,
        user=customer.user if customer is not None and customer.user_id else None,
    )
    staff = order_staff(location)
    order_services.order_transition(
        order=order, target=Status.READY_FOR_PICKUP, actor=Actor.STAFF, user=staff
    )
    order.refresh_from_db()
    order_services.order_transition(
        order=order,
        target=Status.COLLECTED,
        actor=Actor.STAFF,
        user=staff,
        pickup_code=order.pickup_code,
    )
    order.refresh_from_db()
    return order


def returns_staff(location, *, manager: bool = False):
    """A member of staff of `location` who may take returns (and, as a manager, accept
    late ones and refund to another tender)."""
    user = LocationStaffFactory(location=location).user
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="returns",
            codename__in=MANAGER_PERMISSIONS if manager else RETURN_PERMISSIONS,
        )
    )
    return type(user).objects.get(pk=user.pk)


def money(value: str) -> Decimal:
    return Decimal(value)
