"""Returns reads: a staff member's returns, a customer's returns, the timeline."""

from collections import defaultdict
from datetime import datetime

from django.db.models import Prefetch, QuerySet

from returns.errors import ReturnNotFound
from returns.models import RefundTender, Return, ReturnLine


def units_returned(*, order, exclude_id: int | None = None) -> tuple[dict, dict]:
    """Per order line id: units in completed returns, and units in completed returns or
    open requests — what may not be returned again (one definition for the service and
    the desk). `exclude_id` leaves out one return (the request being completed)."""
    rows = ReturnLine.objects.filter(
        ret__order=order, ret__status__in=[Return.Status.COMPLETED, Return.Status.REQUESTED]
    )
    if exclude_id is not None:
        rows = rows.exclude(ret_id=exclude_id)
    completed: dict[int, int] = defaultdict(int)
    claimed: dict[int, int] = defaultdict(int)
    for line_id, status, quantity in rows.values_list("order_line_id", "ret__status", "quantity"):
        claimed[line_id] += quantity
        if status == Return.Status.COMPLETED:
            completed[line_id] += quantity
    return completed, claimed


def _with_parts(queryset: QuerySet[Return]) -> QuerySet[Return]:
    return queryset.select_related("order", "location", "exchange_order").prefetch_related(
        Prefetch("lines", queryset=ReturnLine.objects.order_by("id")),
        Prefetch("refunds", queryset=RefundTender.objects.order_by("id")),
    )


def return_list_for_staff(
    *, location_ids: set[int] | None, location_id: int | None = None, status: str = ""
) -> QuerySet[Return]:
    """Returns received (or to be received) at the staff member's locations, newest first;
    `location_ids` None means every location (superusers)."""
    queryset = Return.objects.all()
    if location_ids is not None:
        queryset = queryset.filter(location_id__in=location_ids)
    if location_id is not None:
        queryset = queryset.filter(location_id=location_id)
    if status:
        queryset = queryset.filter(status=status)
    return _with_parts(queryset.order_by("-created_at", "-id"))


def return_get_for_staff(*, number: str, location_ids: set[int] | None) -> Return:
    """A return by number at one of the staff member's locations (404 otherwise)."""
    ret = _with_parts(Return.objects.filter(number=str(number).upper()[:16])).first()
    if ret is None or (location_ids is not None and ret.location_id not in location_ids):
        raise ReturnNotFound(details={"return": str(number)[:16]})
    return ret


def return_list_for_customer(*, customer) -> QuerySet[Return]:
    """The customer's returns of every channel, newest first."""
    return _with_parts(Return.objects.filter(order__customer=customer)).order_by(
        "-created_at", "-id"
    )


def return_get_for_customer(*, number: str, customer) -> Return:
    ret = _with_parts(
        Return.objects.filter(number=str(number).upper()[:16], order__customer=customer)
    ).first()
    if ret is None:
        raise ReturnNotFound(details={"return": str(number)[:16]})
    return ret


def returns_of_order(*, order) -> QuerySet[Return]:
    return _with_parts(Return.objects.filter(order=order)).order_by("created_at", "id")


def timeline_entries(customer_id: int, *, limit: int, before: datetime | None) -> list[dict]:
    """Timeline source: each return requested or completed, with its refund and points."""
    returns = Return.objects.select_related("order", "location").filter(
        order__customer_id=customer_id
    )
    entries = []
    for ret in returns.order_by("-created_at", "-id")[: limit * 2]:
        moments = []
        if ret.status == Return.Status.COMPLETED and ret.completed_at:
            moments.append((ret.completed_at, "return_completed"))
        if ret.source == Return.Source.CUSTOMER or ret.status == Return.Status.REQUESTED:
            moments.append((ret.created_at, "return_requested"))
        for at, kind in moments:
            if before is not None and at >= before:
                continue
            entries.append(
                {
                    "at": at,
                    "kind": kind,
                    "channel": ret.order.channel,
                    "title": (
                        f"Return {ret.number} of order {ret.order.number} at {ret.location.name}"
                        if kind == "return_completed"
                        else f"Return {ret.number} of order {ret.order.number} requested"
                    ),
                    "reference": ret.reference,
                    "details": {
                        "return": ret.number,
                        "order": ret.order.number,
                        "store": ret.location.name,
                        "status": ret.status,
                        "refund": str(ret.refund_amount),
                        "value": str(ret.value),
                        "currency": ret.currency,
                        "points_returned": ret.points_returned,
                        "points_reversed": ret.points_reversed,
                        "points_shortfall": ret.points_shortfall,
                    },
                }
            )
    entries.sort(key=lambda e: e["at"], reverse=True)
    return entries[:limit]
