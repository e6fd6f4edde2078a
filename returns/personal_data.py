"""The returns app's part in a customer's personal data: export, erasure, the admin panel.

Wired through the customers hooks (settings CUSTOMER_EXPORT_SOURCES,
CUSTOMER_ERASE_HANDLERS, CUSTOMER_ADMIN_PANELS). A return holds no contact data of its
own (the order has them, blanked by the orders handler); returns stay for accounting. A
return the customer asked for and staff have not completed yet is still owed to the
person: the erasure waits for it.
"""

from typing import Any

from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.admin import staff_location_ids
from core.errors import Conflict
from returns.models import Return

VIEW_PERMISSION = "returns.view_return"


class CustomerHasOpenReturns(Conflict):
    code = "customer_has_open_returns"
    message = gettext_lazy(
        "The customer has a return waiting to be completed: complete or cancel it before "
        "erasing the customer's data."
    )


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def _of_customer(customer_id: int):
    return Return.objects.filter(order__customer_id=customer_id)


def export(customer_id: int) -> dict[str, Any]:
    """Every return of the customer's orders, with its lines and refund."""
    returns = (
        _of_customer(customer_id)
        .select_related("order", "location")
        .prefetch_related("lines")
        .order_by("created_at", "id")
    )
    return {
        "returns": [
            {
                "number": r.number,
                "order": r.order.number,
                "status": r.status,
                "source": r.source,
                "store": r.location.name,
                "reason": r.reason,
                "created_at": _iso(r.created_at),
                "completed_at": _iso(r.completed_at),
                "currency": r.currency,
                "refund_amount": str(r.refund_amount),
                "points_returned": r.points_returned,
                "points_reversed": r.points_reversed,
                "lines": [
                    {"sku": line.sku, "name": line.name, "quantity": line.quantity}
                    for line in r.lines.all()
                ],
            }
            for r in returns
        ]
    }


def erase(customer_id: int) -> dict[str, int]:
    """Refuses (409) while a requested return is open; otherwise keeps every return."""
    open_numbers = list(
        _of_customer(customer_id)
        .filter(status=Return.Status.REQUESTED)
        .order_by("number")
        .values_list("number", flat=True)
    )
    if open_numbers:
        raise CustomerHasOpenReturns(details={"returns": open_numbers})
    return {"returns_kept": _of_customer(customer_id).count()}


def panel(customer_id: int, *, user, limit: int) -> dict[str, Any] | None:
    """The customer page's returns, newest first, each linked to its page when it was taken
    at one of the user's stores (the returns list is store-scoped). Three queries."""
    if not user.has_perm(VIEW_PERMISSION):
        return None
    allowed = staff_location_ids(user)
    total = _of_customer(customer_id).count()
    latest = (
        _of_customer(customer_id)
        .select_related("order", "location")
        .order_by("-created_at", "-id")[:limit]
    )
    rows = []
    for ret in latest:
        linked = allowed is None or ret.location_id in allowed
        url = reverse("admin:returns_return_change", args=[ret.pk]) if linked else ""
        rows.append(
            [
                {"text": ret.number, "url": url},
                {"text": ret.created_at.strftime("%Y-%m-%d %H:%M")},
                {"text": ret.order.number},
                {"text": ret.get_status_display()},
                {"text": ret.location.name},
                {"text": f"{ret.refund_amount} {ret.currency}", "numeric": True},
            ]
        )
    return {
        "key": "returns",
        "title": _("Returns"),
        "summary": [(_("returns"), total)],
        "head": [
            _("number"),
            _("created"),
            _("order"),
            _("status"),
            _("received at"),
            _("refunded"),
        ],
        "rows": rows,
        "total": total,
        "more_url": "",
    }
