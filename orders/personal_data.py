"""The orders app's part in a customer's personal data: export, erasure, the admin panel.

Wired through the customers hooks (settings CUSTOMER_EXPORT_SOURCES,
CUSTOMER_ERASE_HANDLERS, CUSTOMER_ADMIN_PANELS), because customers sits below orders.
An erased customer's orders stay for accounting (lines, money, tenders, status history,
and the ledgers that name them), still attached to the now anonymous profile, but their
contact fields, delivery address and notification recipients are blanked. An order that
is still open (to pick up, to ship) needs those contacts: the erasure waits for it.
"""

from typing import Any

from django.db.models import Count, Prefetch, Q
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.admin import staff_location_ids
from core.errors import Conflict
from orders.domain import ASSISTED_CHANNELS, TERMINAL, Channel
from orders.models import AssistedSale, Cart, CartLine, Notification, Order, OrderLine

VIEW_PERMISSION = "orders.view_order"


class CustomerHasOpenOrders(Conflict):
    code = "customer_has_open_orders"
    message = gettext_lazy(
        "The customer has orders still open (to pick up or to ship): finish or cancel them "
        "before erasing the customer's data."
    )


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def _seller(user) -> str | None:
    return (user.get_full_name() or str(user)) if user is not None else None


def export(customer_id: int) -> dict[str, Any]:
    """Every order of the customer (contacts, address, lines, payments), their carts, and
    the sales staff made on their behalf (who, through which channel and store, when, when
    the customer confirmed with their code, and the order it became)."""
    orders = (
        Order.objects.filter(customer_id=customer_id)
        .select_related("location")
        .prefetch_related(Prefetch("lines", queryset=OrderLine.objects.order_by("id")), "tenders")
        .order_by("placed_at", "id")
    )
    carts = (
        Cart.objects.filter(customer_id=customer_id, state=Cart.State.OPEN)
        .prefetch_related(
            Prefetch("lines", queryset=CartLine.objects.select_related("variant").order_by("id"))
        )
        .order_by("id")
    )
    assisted = (
        AssistedSale.objects.filter(customer_id=customer_id)
        .select_related("staff", "placed_by", "store", "order")
        .order_by("created_at", "id")
    )
    return {
        "orders": [
            {
                "number": o.number,
                "channel": o.channel,
                "fulfilment": o.fulfilment_type,
                "status": o.status,
                "store": o.location.name,
                "placed_at": _iso(o.placed_at),
                "contact_name": o.contact_name,
                "contact_email": o.contact_email,
                "contact_phone": o.contact_phone,
                "delivery_address": o.delivery_address,
                "currency": o.currency,
                "subtotal": str(o.subtotal),
                "discount_total": str(o.discount_total),
                "shipping_total": str(o.shipping_total),
                "total": str(o.total),
                "points_redeemed": o.points_redeemed,
                "coupon_code": o.coupon_code,
                "lines": [
                    {
                        "sku": line.sku,
                        "name": line.name,
                        "quantity": line.quantity,
                        "unit_price": str(line.unit_price),
                        "line_total": str(line.line_total),
                    }
                    for line in o.lines.all()
                ],
                "payments": [
                    {"kind": t.kind, "amount": str(t.amount), "status": t.status}
                    for t in o.tenders.all()
                ],
            }
            for o in orders
        ],
        "carts": [
            {
                "channel": cart.channel,
                "updated_at": _iso(cart.updated_at),
                "delivery_address": cart.delivery_address,
                "lines": [
                    {"sku": line.variant.sku, "quantity": line.quantity}
                    for line in cart.lines.all()
                ],
            }
            for cart in carts
        ],
        "assisted_sales": [
            {
                "channel": sale.channel,
                "store": sale.store.name if sale.store_id else None,
                "staff": _seller(sale.staff),
                "placed_by": _seller(sale.placed_by),
                "started_at": _iso(sale.created_at),
                "consent_confirmed_at": _iso(sale.consent_confirmed_at),
                "order": sale.order.number if sale.order_id else None,
            }
            for sale in assisted
        ],
    }


def erase(customer_id: int) -> dict[str, int]:
    """Blank the contacts of the customer's orders (and whom their messages went to).

    Runs inside the erasure's transaction; raises CustomerHasOpenOrders (409) while an
    order is not finished, so a pickup or a delivery never loses its contact midway.
    """
    orders = Order.objects.filter(customer_id=customer_id)
    open_numbers = list(
        orders.exclude(status__in=[s.value for s in TERMINAL])
        .order_by("number")
        .values_list("number", flat=True)
    )
    if open_numbers:
        raise CustomerHasOpenOrders(details={"orders": open_numbers})
    blanked = orders.update(
        contact_name="", contact_email="", contact_phone="", delivery_address={}
    )
    # A cart's delivery address is the customer's too (a cart is kept after checkout),
    # staff carts sold on their behalf included.
    Cart.objects.filter(
        Q(customer_id=customer_id) | Q(assisted_sale__customer_id=customer_id)
    ).exclude(delivery_address={}).update(delivery_address={})
    recipients = Notification.objects.filter(order__customer_id=customer_id).update(recipient="")
    return {"orders_kept": blanked, "notification_recipients_blanked": recipients}


def panel(customer_id: int, *, user, limit: int) -> dict[str, Any] | None:
    """The customer page's orders: how many per channel, the latest `limit`, each linked to
    its order page when it is one of the user's stores (the order list is store-scoped).
    Three queries whatever the number of orders."""
    if not user.has_perm(VIEW_PERMISSION):
        return None
    by_channel = dict(
        Order.objects.filter(customer_id=customer_id)
        .values("channel")
        .annotate(n=Count("id"))
        .values_list("channel", "n")
    )
    allowed = staff_location_ids(user)
    latest = (
        Order.objects.filter(customer_id=customer_id)
        .select_related("location")
        .order_by("-placed_at", "-id")[:limit]
    )
    rows = []
    for order in latest:
        linked = allowed is None or order.location_id in allowed
        url = reverse("admin:orders_order_change", args=[order.pk]) if linked else ""
        rows.append(
            [
                {"text": order.number, "url": url},
                {"text": order.placed_at.strftime("%Y-%m-%d %H:%M")},
                {"text": order.channel},
                {"text": order.fulfilment_type},
                {"text": order.status.replace("_", " ")},
                {"text": order.location.name},
                {"text": f"{order.total} {order.currency}", "numeric": True},
            ]
        )
    total = sum(by_channel.values())
    labels = {
        Channel.WEB: _("web"),
        Channel.APP: _("app"),
        Channel.POS: _("till"),
        Channel.STORE_ASSISTED: _("store associate"),
        Channel.CALL_CENTRE: _("call centre"),
    }
    return {
        "key": "orders",
        "title": _("Orders"),
        "summary": [(_("orders"), total)]
        + [
            (labels.get(c, c), by_channel.get(c.value, 0))
            for c in Channel
            # Sales staff made for the customer show only when there are some.
            if c not in ASSISTED_CHANNELS or by_channel.get(c.value)
        ],
        "head": [
            _("number"),
            _("placed"),
            _("channel"),
            _("fulfilment"),
            _("status"),
            _("store"),
            _("total"),
        ],
        "rows": rows,
        "total": total,
        "more_url": reverse("admin:orders_order_changelist")
        + f"?customer__id__exact={customer_id}",
    }
