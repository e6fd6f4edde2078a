"""Bonuses at the till, the POS side: find a customer by what the till knows, show the
till only what it needs (initials, tier, points), and hand the points tendered in synced
sales to the loyalty ledger.

The till never sees a profile: no names beyond initials, no contacts, no history.
"""

from typing import Any

from customers import selectors as customer_selectors
from customers.models import Customer
from loyalty import domain as loyalty_domain
from loyalty import selectors as loyalty_selectors
from loyalty import services as loyalty_services
from loyalty.errors import HoldNotFound


def customer_identify(
    *, phone: str | None = None, card: str | None = None, id: int | None = None
) -> Customer:
    """The (surviving) profile named by exactly one of phone, card number or id: the
    customers app's `customer_identify` (400 for none or several or an unreadable one,
    404 for an unknown one)."""
    return customer_selectors.customer_identify(phone=phone, card=card, id=id)


def customer_card(*, customer: Customer, order_total=None) -> dict[str, Any]:
    """What a till shows of a customer: initials, tier and the points usable now/on a basket."""
    summary = loyalty_selectors.till_summary(customer=customer, order_total=order_total)
    return {
        "id": customer.pk,
        "initials": loyalty_domain.initials(customer.first_name, customer.last_name),
        **summary,
    }


def sales_points_redeem(*, sales, record) -> dict[str, dict[str, Any]]:
    """Redeem the points tendered in freshly recorded till sales (and convert their holds).

    `sales` are the sync's resolved sales, `record` what `till_sales_record` returned.
    Returns the points flags per sale reference (only sales staff should look at).
    """
    items = []
    for r in sales:
        points = sum(t.points for t in r.raw.tenders if t.kind == "points")
        if not points and not r.raw.hold:
            continue
        items.append(
            loyalty_services.TillRedemption(
                key=r.sale.reference,
                reference=record.orders[r.sale.reference].reference,
                customer=r.sale.customer,
                points=points,
                hold=r.raw.hold,
                occurred_at=r.sale.occurred_at,
                location_id=record.orders[r.sale.reference].location_id,
            )
        )
    if not items:
        return {}
    return loyalty_services.points_redeem_at_till(items=items)


def points_to_earn(*, customer: Customer, quote) -> int:
    """Points the quoted basket would earn this customer now (tier and exclusions included)."""
    return loyalty_selectors.points_earn_preview(
        customer=customer,
        lines=[
            {"variant_id": line.variant_id, "category_id": None, "amount_paid": line.line_total}
            for line in quote.lines
        ],
    )


def hold_of_terminal(*, hold_id: str, terminal):
    """A hold this till made; another till's, or an unknown id, is HoldNotFound (404)."""
    hold = loyalty_selectors.hold_for_terminal(hold_id=hold_id, terminal_code=terminal.code)
    if hold is None:
        raise HoldNotFound(details={"hold": hold_id})
    return hold
