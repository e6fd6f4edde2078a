"""Orders writes: carts, checkout, status transitions, expiry, and the customer-merge hook.

Every public function is atomic. Checkout and transitions call the lower apps' services
(pricing for the quote and coupon uses, inventory for reservations and sales, loyalty for
points) inside the same transaction, so an order, its stock and its points change together
or not at all. Notifications are queued with the transaction (`core.background.enqueue_on_commit`:
the outbox with a broker, else run after commit), so a rolled-back one sends nothing.
"""

import functools
import logging
import secrets
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import DateTimeField, F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from catalog.errors import UnknownSku
from catalog.selectors import variants_by_sku
from core.background import enqueue_on_commit
from core.db import atomic, insert_many, new, select_rows, write_later
from core.money import quantize
from customers import services as customer_services
from inventory import selectors as inventory_selectors
from inventory import services as inventory_services
from inventory.errors import InsufficientStock
from inventory.models import Transfer
from loyalty import selectors as loyalty_selectors
from loyalty import services as loyalty_services
from ops import metrics as ops_metrics
from orders import domain
from orders import selectors as order_selectors
from orders.domain import Actor, Channel, Effect, Fulfilment, Status
from orders.errors import (
    AuthenticationRequired,
    CartEmpty,
    CartLineNotFound,
    CartNotOpen,
    ContactRequired,
    IllegalTransition,
    InvalidAttribution,
    InvalidQuantity,
    NoShippingLocation,
    NotYourStore,
    PaymentRequired,
    PickupCodeLocked,
    PickupLocationInvalid,
    PriceChanged,
    ShipmentNotFound,
    ShipmentRequired,
    WrongPickupCode,
)
from orders.models import (
    AssistedSale,
    Cart,
    CartLine,
    Order,
    OrderLine,
    OrderTransition,
    PickupCodeAttempt,
    Shipment,
    Tender,
)
from orders.payments import payment_provider
from pricing import selectors as pricing_selectors
from pricing import services as pricing_services
from reports import services as report_services

logger = logging.getLogger(__name__)

MAX_LINE_QUANTITY = 999
NUMBER_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I: read aloud at the till


def _check_quantity(quantity: Any) -> int:
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise InvalidQuantity(details={"quantity": str(quantity)})
    if not 1 <= quantity <= MAX_LINE_QUANTITY:
        raise InvalidQuantity(details={"quantity": quantity})
    return quantity


def _locked_open_cart(cart: Cart) -> Cart:
    locked = Cart.objects.select_for_update().get(pk=cart.pk)
    if locked.state != Cart.State.OPEN:
        raise CartNotOpen(details={"cart": str(locked.token), "state": locked.state})
    return locked


# --- carts ---------------------------------------------------------------------------


def attribution_clean(attribution: dict[str, Any] | None) -> dict[str, str]:
    """The attribution as stored (`orders.domain.attribution_clean`); InvalidAttribution
    (400 `validation_error`) names the field and why."""
    try:
        return domain.attribution_clean(attribution)
    except domain.AttributionRefused as refused:
        raise InvalidAttribution(field=refused.field, reason=refused.reason) from None


@transaction.atomic
def cart_create(*, channel: str, customer=None, attribution: dict[str, Any] | None = None) -> Cart:
    """A new open cart. A customer has one open cart: theirs is returned when it exists.

    `attribution` (device, app_version, utm_source, utm_medium, utm_campaign, referrer) is
    where the shopper came from; it is cleaned (InvalidAttribution, 400, writes nothing)
    and travels to the order at checkout. A customer's existing cart keeps the attribution
    it was started with, and takes this one only when it has none.
    """
    cleaned = attribution_clean(attribution)
    if customer is not None:
        return cart_get_current(customer=customer, channel=channel, attribution=cleaned)
    return Cart.objects.create(channel=channel, **cleaned)


def cart_get_current(*, customer, channel: str, attribution: dict[str, str] | None = None) -> Cart:
    """The customer's one open cart on any device, created on first need (race-safe).

    `attribution` (already cleaned) is given to a new cart, or to an existing one that has
    none yet."""
    attribution = attribution or {}
    cart = Cart.objects.filter(customer=customer, state=Cart.State.OPEN).first()
    if cart is None:
        try:
            with transaction.atomic():
                return Cart.objects.create(customer=customer, channel=channel, **attribution)
        except IntegrityError:
            # A concurrent request created it first (unique open cart per customer).
            cart = Cart.objects.get(customer=customer, state=Cart.State.OPEN)
    if any(attribution.values()) and not any(cart.attribution.values()):
        _attribution_give(cart, attribution)
    return cart


def _attribution_give(cart: Cart, attribution: dict[str, str]) -> None:
    """Give a cart without attribution this one: a conditional UPDATE, so of two requests
    at once the first to commit wins and the other changes nothing."""
    unattributed = Q(**{name: "" for name in domain.ATTRIBUTION_FIELDS})
    if Cart.objects.filter(unattributed, pk=cart.pk).update(**attribution):
        for name, value in attribution.items():
            setattr(cart, name, value)


@transaction.atomic
def cart_line_add(*, cart: Cart, sku: str, quantity: int) -> Cart:
    """Add units of a SKU (quantities add up). Raises unknown_sku, invalid_quantity."""
    quantity = _check_quantity(quantity)
    cart = _locked_open_cart(cart)
    variant = _sellable_variant(sku)
    line = CartLine.objects.filter(cart=cart, variant=variant).first()
    if line is None:
        CartLine.objects.create(cart=cart, variant=variant, quantity=quantity)
    else:
        line.quantity = _check_quantity(line.quantity + quantity)
        line.save(update_fields=["quantity"])
    cart.save(update_fields=["updated_at"])
    return cart


@transaction.atomic
def cart_line_set(*, cart: Cart, sku: str, quantity: int) -> Cart:
    """Set a line's quantity. Raises cart_line_not_found, invalid_quantity."""
    quantity = _check_quantity(quantity)
    cart = _locked_open_cart(cart)
    updated = CartLine.objects.filter(cart=cart, variant__sku=sku).update(quantity=quantity)
    if not updated:
        raise CartLineNotFound(details={"sku": sku})
    cart.save(update_fields=["updated_at"])
    return cart


@transaction.atomic
def cart_line_remove(*, cart: Cart, sku: str) -> Cart:
    cart = _locked_open_cart(cart)
    deleted, _ = CartLine.objects.filter(cart=cart, variant__sku=sku).delete()
    if not deleted:
        raise CartLineNotFound(details={"sku": sku})
    cart.save(update_fields=["updated_at"])
    return cart


@transaction.atomic
def cart_update(
    *,
    cart: Cart,
    fulfilment_type: str | None = None,
    pickup_location: str | int | None = None,
    coupon_code: str | None = None,
    delivery_address: dict[str, str] | None = None,
    shipping_method: str | None = None,
) -> Cart:
    """Choose the fulfilment (pickup store or delivery), the coupon, and for a delivery the
    address (the cart plans its shipments for it) and the method (a `ShippingRate` code,
    blank for the default; ShippingMethodUnknown, 422, for one no active rate has)."""
    cart = _locked_open_cart(cart)
    fields = ["updated_at"]
    if delivery_address is not None:
        cart.delivery_address = delivery_address
        fields.append("delivery_address")
    if shipping_method is not None:
        method = shipping_method.strip().lower()
        if method:
            pricing_selectors.shipping_rule(method=method)  # refuses an unknown code
        cart.shipping_method = method
        fields.append("shipping_method")
    if fulfilment_type is not None:
        cart.fulfilment_type = Fulfilment(fulfilment_type)
        fields.append("fulfilment_type")
        if cart.fulfilment_type == Fulfilment.DELIVERY:
            cart.pickup_location = None
            fields.append("pickup_location")
    if pickup_location is not None:
        cart.pickup_location = _pickup_location(pickup_location)
        cart.fulfilment_type = Fulfilment.PICKUP
        fields += ["pickup_location", "fulfilment_type"]
    if coupon_code is not None:
        cart.coupon_code = coupon_code.strip()
        fields.append("coupon_code")
    if cart.checkout_at is None and (fulfilment_type is not None or pickup_location is not None):
        cart.checkout_at = timezone.now()
        fields.append("checkout_at")
    cart.save(update_fields=list(dict.fromkeys(fields)))
    return cart


def cart_remember_quote(*, cart: Cart, total: Decimal | None) -> None:
    """Record the total the shopper was shown, for checkout's price-changed check."""
    if cart.quoted_total != total:
        Cart.objects.filter(pk=cart.pk).update(quoted_total=total)
        cart.quoted_total = total


@dataclass
class MergeReport:
    merged: bool = False
    lines: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"merged": self.merged, "lines": self.lines}


@transaction.atomic
def cart_merge(*, source: Cart, target: Cart) -> MergeReport:
    """Move an anonymous cart's lines into the customer's cart.

    Quantities add up, capped by what is available for the target cart's fulfilment; each
    line of the report says what was asked, what was kept and why. Locks both carts in
    primary-key order so two logins merging at once cannot deadlock.
    """
    report = MergeReport()
    if source.pk == target.pk:
        return report
    first, second = sorted([source, target], key=lambda c: c.pk)
    locked = {
        c.pk: c for c in Cart.objects.select_for_update().filter(pk__in=[first.pk, second.pk])
    }
    source, target = locked[source.pk], locked[target.pk]
    if source.state != Cart.State.OPEN or target.state != Cart.State.OPEN:
        return report
    source_lines = list(source.lines.select_related("variant"))
    target_lines = {line.variant_id: line for line in target.lines.all()}
    available = _available_for_cart(target, [line.variant_id for line in source_lines])
    for line in source_lines:
        existing = target_lines.get(line.variant_id)
        before = existing.quantity if existing else 0
        wanted = before + line.quantity
        cap = min(MAX_LINE_QUANTITY, max(available.get(line.variant_id, 0), before))
        kept = min(wanted, cap)
        entry = {"sku": line.variant.sku, "before": before, "added": line.quantity}
        entry |= {"quantity": kept, "capped": kept < wanted}
        if kept < wanted:
            entry["reason"] = "limited_by_availability"
        report.lines.append(entry)
        if existing is not None:
            if kept != existing.quantity:
                existing.quantity = kept
                existing.save(update_fields=["quantity"])
        elif kept > 0:
            CartLine.objects.create(cart=target, variant_id=line.variant_id, quantity=kept)
    if not target.coupon_code and source.coupon_code:
        target.coupon_code = source.coupon_code
    # Where the shopper came from: the customer's cart keeps its own, or takes this one's.
    attribution_taken = not any(target.attribution.values())
    if attribution_taken:
        for name, value in source.attribution.items():
            setattr(target, name, value)
    source.state = Cart.State.MERGED
    source.merged_into = target
    source.save(update_fields=["state", "merged_into", "updated_at"])
    target.save(
        update_fields=[
            "coupon_code",
            "updated_at",
            *(domain.ATTRIBUTION_FIELDS if attribution_taken else ()),
        ]
    )
    report.merged = True
    return report


def cart_merge_on_login(customer, request_data: dict) -> dict:
    """Login hook: merge the anonymous cart named by `cart_token` into the customer's cart."""
    token = str(request_data.get("cart_token") or "").strip()
    if not token:
        return {}
    source = (
        Cart.objects.filter(token=_uuid_or_none(token), customer__isnull=True)
        .exclude(channel__in=domain.ASSISTED_CHANNELS)  # a staff cart is the staff's to check out
        .first()
    )
    if source is None:
        return {"cart_merge": {"merged": False, "reason": "cart_not_found", "lines": []}}
    target = cart_get_current(customer=customer, channel=source.channel)
    report = cart_merge(source=source, target=target)
    return {"cart_merge": report.as_dict() | {"cart": str(target.token)}}


def _uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _sellable_variant(sku: str):
    variant = variants_by_sku(skus=[sku]).get(sku)
    if variant is None or not variant.is_active or not variant.product.is_active:
        raise UnknownSku(details={"sku": sku})
    return variant


def _pickup_location(code_or_id):
    location = inventory_selectors.location_get(code_or_id=code_or_id)
    if not location.is_pickup_point or not location.is_active:
        raise PickupLocationInvalid(details={"location": location.code})
    return location


def _available_for_cart(cart: Cart, variant_ids: list[int]) -> dict[int, int]:
    if cart.fulfilment_type == Fulfilment.PICKUP and cart.pickup_location_id:
        per_location = inventory_selectors.availability(
            variant_ids=variant_ids, location_ids=[cart.pickup_location_id]
        )
        return {vid: sum(locs.values()) for vid, locs in per_location.items()}
    return inventory_selectors.delivery_available(variant_ids=variant_ids)


# --- checkout --------------------------------------------------------------------------


def _new_number() -> str:
    return "".join(secrets.choice(NUMBER_ALPHABET) for _ in range(8))


def _new_pickup_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


@dataclass(frozen=True)
class PaymentInput:
    """How the client pays the amount due: a provider token, or at the store's desk."""

    method: str = "online"  # online | pay_in_store
    provider: str = ""
    token: str = ""


@dataclass(frozen=True)
class DeskPayment:
    """Money taken at the store's desk when a pay-in-store order is handed over."""

    kind: str  # cash | card
    reference: str = ""


PAY_IN_STORE = PaymentInput(method="pay_in_store")
DESK_TENDER_KINDS = ("cash", "card")


def checkout_place(
    *,
    cart: Cart,
    fulfilment: dict[str, Any],
    payment: PaymentInput | None = None,
    customer=None,
    contact: dict[str, str] | None = None,
    redeem_points: int = 0,
    expected_total: Decimal | None = None,
    channel: str | None = None,
    user=None,
    cart_locked: bool = False,
) -> Order:
    """Turn an open cart into an order, in one transaction.

    `customer` is the authenticated owner (None for a guest, whose `contact` links the
    order to a profile for history only). Steps, in this order: lock the cart row; re-quote
    and refuse with `price_changed` (409, new quote in details) when the total differs from
    what the shopper saw; authorize the amount due with the payment provider before any
    balance is locked (402 `payment_declined` changes nothing); write the order (with the
    cart's attribution, and the pickup store as its `store`) and note the customer's first
    order (their row is locked only if it is one); then the balances in the global lock
    order — stock levels (`insufficient_stock` lists every short line), the points account,
    coupon counters. If anything after the authorization fails, the authorization is voided
    and nothing is written. After commit, the customer is notified. `cart_locked`: the
    caller read the open cart with its row lock, in this transaction (the API's checkout).
    """
    if redeem_points and customer is None:
        # Points are stored value: only their authenticated owner spends them.
        raise AuthenticationRequired()
    # No savepoint inside a request whose transaction rolls back on any error (core.db).
    with atomic():
        if not cart_locked:
            cart = _locked_open_cart(cart)
        lines = _cart_lines(cart)
        if not lines:
            raise CartEmpty(details={"cart": str(cart.token)})
        owner = customer or cart.customer
        linked = owner or _checkout_guest_profile(contact=contact or {})
        now = timezone.now()
        quote = _checkout_quote(
            cart=cart,
            lines=lines,
            customer=linked,
            expected_total=expected_total,
            now=now,
            fulfilment=fulfilment,
        )
        location, shipments = _fulfilment_location(fulfilment=fulfilment, quote=quote, cart=cart)
        number = _new_number()
        points_value = (
            loyalty_selectors.points_redeem_value(points=redeem_points, at=now)
            if redeem_points > 0
            else quantize(Decimal(0))  # what it gives for no points, without reading rules
        )
        amount_due = quantize(quote.total - points_value, quote.currency)
        method = _payment_method(payment=payment, amount_due=amount_due, fulfilment=fulfilment)
        authorization = _payment_authorize(
            payment=payment, method=method, amount=amount_due, quote=quote, number=number
        )
        try:
            first_order = None
            if linked is not None:
                # Before any balance: the customer row comes first in the lock order, and
                # is locked only when this is their first or second order. On PostgreSQL
                # its statement goes with the order's insert, in one round trip.
                first_order = customer_services.customer_first_order_statement(
                    seen=linked,
                    customer_id=linked.pk,
                    at=now,
                    channel=channel or cart.channel,
                    utm=(cart.utm_source, cart.utm_medium, cart.utm_campaign),  # the order's
                )
            order = _checkout_write(
                cart=cart,
                lines=lines,
                quote=quote,
                customer=linked,
                contact=contact or {},
                fulfilment=fulfilment,
                location=location,
                shipments=shipments,
                number=number,
                channel=channel or cart.channel,
                method=method,
                authorization=authorization,
                redeem_points=redeem_points,
                points_value=points_value,
                amount_due=amount_due,
                user=user,
                now=now,
                owned=owner is not None,
                before=first_order,
            )
            _checkout_take_balances(
                order=order,
                owner=owner,
                redeem_points=redeem_points,
                quote=quote,
                allow_transfer=bool(fulfilment.get("allow_transfer")),
                shipments=shipments,
            )
        except Exception:
            if authorization is not None:
                _payment_void_quietly(*authorization)
            raise
        # Nothing reads the cart again: inside the API's checkout this goes with its appends.
        write_later(_CART_CONVERTED_SQL, [Cart.State.CONVERTED, now, now, cart.pk])
        _notify_after_commit(order, Status.PLACED)
        ops_metrics.checkout_placed(order)
        return order


_CART_CONVERTED_SQL = (
    f'UPDATE "{Cart._meta.db_table}" SET state = %s, checkout_at = COALESCE(checkout_at, %s), '
    "updated_at = %s WHERE id = %s"
)


class _CartLine(NamedTuple):
    variant_id: int
    quantity: int
    sku: str
    name: str  # the variant's name, else its product's


def _cart_lines(cart: Cart) -> list[_CartLine]:
    """The cart's lines as plain values, in their order (added_at, id): one hand-written
    statement, run by every checkout (the ORM would compile its three-table join each time).
    """
    rows = select_rows(_cart_lines_sql(), [cart.pk], ())
    return [
        _CartLine(variant_id, quantity, sku, str(name or product_name))
        for variant_id, quantity, sku, name, product_name in rows
    ]


@functools.cache
def _cart_lines_sql() -> str:
    variant_field = CartLine._meta.get_field("variant")
    variant = variant_field.related_model
    product_field = variant._meta.get_field("product")
    product = product_field.related_model
    return (
        f'SELECT l."{variant_field.column}", l."quantity", v."sku", v."name", p."name" '
        f'FROM "{CartLine._meta.db_table}" l '
        f'JOIN "{variant._meta.db_table}" v ON v."{variant._meta.pk.column}" = '
        f'l."{variant_field.column}" '
        f'JOIN "{product._meta.db_table}" p ON p."{product._meta.pk.column}" = '
        f'v."{product_field.column}" '
        f'WHERE l."{CartLine._meta.get_field("cart").column}" = %s '
        'ORDER BY l."added_at", l."id"'
    )


def _checkout_quote(*, cart: Cart, lines, customer, expected_total, now, fulfilment=None):
    """The fresh quote (with the delivery fee of the chosen method for a delivery);
    `price_changed` when it is not the total the shopper was shown."""
    fulfilment = fulfilment or {}
    quote = pricing_selectors.quote(
        [{"sku": line.sku, "quantity": line.quantity} for line in lines],
        customer=customer.pk if customer else None,
        coupon=cart.coupon_code or None,
        at=now,
        delivery=fulfilment.get("type") == Fulfilment.DELIVERY,
        shipping_method=fulfilment.get("shipping_method") or cart.shipping_method or None,
    )
    shown = expected_total if expected_total is not None else cart.quoted_total
    if shown is not None and quantize(shown, quote.currency) != quote.total:
        raise PriceChanged(details={"expected_total": str(shown), "quote": quote.as_dict()})
    return quote


def _payment_method(*, payment: PaymentInput | None, amount_due: Decimal, fulfilment) -> str:
    if amount_due <= 0:
        return "none"  # points or discounts cover it all: nothing to authorize
    if payment is None:
        raise PaymentRequired(details={"amount_due": str(amount_due)})
    if payment.method == "pay_in_store":
        if fulfilment.get("type") != Fulfilment.PICKUP:
            raise PaymentRequired(
                _("Only a pickup can be paid in the store."),
                details={"amount_due": str(amount_due)},
            )
        return "pay_in_store"
    if not payment.provider or not payment.token:
        raise PaymentRequired(details={"amount_due": str(amount_due)})
    return "online"


def _payment_authorize(*, payment, method, amount, quote, number) -> tuple[str, str] | None:
    """(provider, authorization id) for an online payment; raises PaymentDeclined (402)."""
    if method != "online":
        return None
    provider = payment_provider(payment.provider)
    authorization = provider.authorize(
        token=payment.token, amount=amount, currency=quote.currency, reference=f"order:{number}"
    )
    return payment.provider, authorization


def _payment_void_quietly(provider_name: str, authorization: str) -> None:
    """Release an authorization whose checkout failed; a provider error is only logged
    (the authorization then lapses at the provider, as unused authorizations do)."""
    try:
        payment_provider(provider_name).void(authorization=authorization)
    except Exception:
        logger.exception("could not void authorization %s", authorization)


def _checkout_write(
    *,
    cart,
    lines,
    quote,
    customer,
    contact,
    fulfilment,
    location,
    number,
    channel,
    method,
    shipments=None,
    authorization,
    redeem_points,
    points_value,
    amount_due,
    user,
    now,
    owned: bool,
    before: tuple[str, list] | None = None,
) -> Order:
    """Insert the order, its lines, tenders and first transition (no balance is touched);
    `before`: a statement sent ahead of the order's insert, in its round trip."""
    profile = customer if owned else None
    order = new(
        Order,
        number=number,
        customer=customer,
        channel=channel,
        fulfilment_type=fulfilment["type"],
        status=Status.PLACED,
        location=location,
        store=location if fulfilment["type"] == Fulfilment.PICKUP else None,
        delivery_address=fulfilment.get("address") or {},
        # A guest's order is reached through the contact the guest gave, never through
        # the profile it is linked to (that could be someone else's).
        contact_name=contact.get("name", "") or (str(profile) if profile else ""),
        contact_email=contact.get("email") or (profile.email if profile else "") or "",
        contact_phone=contact.get("phone") or (profile.phone if profile else "") or "",
        currency=quote.currency,
        subtotal=quote.subtotal,
        discount_total=quote.discount_total,
        shipping_method=quote.shipping.method if quote.shipping else "",
        shipping_total=quote.shipping.amount if quote.shipping else 0,
        total=quote.total,
        points_redeemed=redeem_points,
        points_value=points_value,
        amount_due=amount_due,
        payment_method=method,
        coupon_code=(quote.coupon or {}).get("code", "")
        if (quote.coupon or {}).get("status") == "applied"
        else "",
        quote_snapshot=quote.as_dict(),
        pickup_code=_new_pickup_code() if fulfilment["type"] == Fulfilment.PICKUP else "",
        cart=cart,
        placed_at=now,
        **cart.attribution,
    )
    # The id read back; no ORM statement to build.
    insert_many(Order, [order], key="number", before=before)
    names = {line.variant_id: line.name for line in lines}
    # A delivery's shipments, the first (the order's own location) first; each line rides
    # whole on one of them.
    parcels = Shipment.objects.bulk_create(
        Shipment(order=order, location_id=location_id) for location_id in (shipments or {})
    )
    carried = {
        vid: parcel
        for parcel in parcels
        for vid in shipments[parcel.location_id]  # type: ignore[index]
    }
    # The lines, tenders and first transition are not read back (the caller gets them in
    # memory): inside a checkout they go with its other appends (core.db.batched_writes).
    order_lines = [
        new(
            OrderLine,
            order=order,
            shipment=carried.get(q.variant_id),
            variant_id=q.variant_id,
            sku=q.sku,
            name=names[q.variant_id],
            quantity=q.quantity,
            unit_price=q.unit_price,
            discount_total=q.discount_total,
            line_total=q.line_total,
            vat_rate=q.vat_rate,
            vat_amount=q.vat_amount,
            discounts=[_discount_json(d) for d in q.discounts],
        )
        for q in quote.lines
    ]
    insert_many(OrderLine, order_lines)
    tenders = []
    if authorization is not None:
        provider_name, reference = authorization
        tenders.append(
            new(
                Tender,
                order=order,
                kind="card",
                provider=provider_name,
                provider_reference=reference,
                amount=amount_due,
                currency=quote.currency,
                status=Tender.State.AUTHORIZED,
            )
        )
    if redeem_points:
        tenders.append(
            Tender(
                order=order,
                kind="points",
                amount=points_value,
                currency=quote.currency,
                provider_reference=str(redeem_points),
                status=Tender.State.CAPTURED,
                captured_at=now,
            )
        )
    insert_many(Tender, tenders)
    report_services.orders_placed([order], units={order.pk: sum(q.quantity for q in quote.lines)})
    placed = new(
        OrderTransition,
        order=order,
        from_status="",
        to_status=Status.PLACED,
        # Placed by staff when sold on the customer's behalf (`user` is then the staff).
        actor_kind=Actor.STAFF if channel in domain.ASSISTED_CHANNELS else Actor.CUSTOMER,
        actor_user=user if getattr(user, "is_authenticated", False) else None,
        at=now,
    )
    insert_many(OrderTransition, [placed])
    # The caller shows the order it just made: hand over what is already in memory rather
    # than reading it back while the stock rows are locked.
    order._prefetched_objects_cache = {
        "lines": order_lines,
        "tenders": tenders,
        "transitions": [placed],
        "shipments": parcels,
    }
    return order


def _checkout_take_balances(
    *,
    order: Order,
    owner,
    redeem_points: int,
    quote,
    allow_transfer: bool = False,
    shipments: dict[int, dict[int, int]] | None = None,
) -> None:
    """Reserve stock (ship-to-store when allowed, at each shipment's location for a split
    delivery), spend points, count the coupon use — in the global lock order."""
    reference = order.reference
    lines = [(q.variant_id, q.quantity) for q in quote.lines]
    if allow_transfer and order.fulfilment_type == Fulfilment.PICKUP:
        ship_to_store_reserve(order=order, lines=lines)
    elif shipments and len(shipments) > 1:
        inventory_services.stock_reserve_split(reference=reference, shipments=shipments)
    else:
        inventory_services.stock_reserve(
            lines=lines, location=order.location, reference=reference, expires_at=None
        )
    if redeem_points:
        loyalty_services.points_redeem(
            customer=owner,
            points=redeem_points,
            reference=reference,
            order_total=quote.total,
            channel=order.channel,
            location_id=order.location_id,
        )
    if order.coupon_code:
        pricing_services.coupon_redemption_record(
            code=order.coupon_code,
            customer_id=order.customer_id,
            reference=reference,
        )


def _discount_json(discount) -> dict[str, Any]:
    if isinstance(discount, dict):
        return {k: str(v) if isinstance(v, Decimal) else v for k, v in discount.items()}
    return {
        "promotion_id": discount.promotion_id,
        "promotion_name": discount.promotion_name,
        "kind": discount.kind,
        "amount": str(discount.amount),
    }


def _checkout_guest_profile(*, contact: dict[str, str]):
    """The profile a guest order is linked to for history, found (or made) by email/phone.

    The customers service never changes a profile that has a login, and nothing of the
    profile is shown to the guest; points can only be spent by their authenticated owner.
    """
    email, phone = contact.get("email") or None, contact.get("phone") or None
    if not email and not phone:
        raise ContactRequired()
    name = (contact.get("name") or "").strip()
    first, _sep, last = name.partition(" ")
    return customer_services.customer_get_or_create(
        email=email, phone=phone, first_name=first, last_name=last
    )


def _fulfilment_location(*, fulfilment: dict[str, Any], quote, cart: Cart | None = None):
    """(the order's location, the delivery's shipments or None): the pickup store; or the
    shipping locations `orders.selectors.delivery_plan` chooses for the address (location
    id → {variant id → units}, the first being the order's location)."""
    kind = fulfilment.get("type")
    if kind == Fulfilment.PICKUP:
        return _pickup_location(fulfilment.get("location")), None
    requested: dict[int, int] = defaultdict(int)
    for q in quote.lines:
        requested[q.variant_id] += q.quantity
    address = fulfilment.get("address") or (cart.delivery_address if cart else None) or {}
    plan = order_selectors.delivery_plan(requested=dict(requested), address=address)
    if not plan.possible:
        raise NoShippingLocation(
            details={
                "reason": plan.plan.reason,
                "lines": [{"sku": q.sku, "requested": q.quantity} for q in quote.lines],
            }
        )
    return plan.first_location, plan.plan.shipments


# --- transitions -----------------------------------------------------------------------


def order_transition(
    *,
    order: Order,
    target: str,
    actor: Actor,
    user=None,
    note: str = "",
    pickup_code: str | None = None,
    desk_payment: DeskPayment | None = None,
    staff_location_ids: set[int] | None = None,
    at: datetime | None = None,
) -> Order:
    """Move an order to `target` if the transition table allows it for this actor.

    Locks the order row; refuses with `illegal_transition` (409) and changes nothing
    otherwise. Staff acting for a store pass `staff_location_ids`: another store's order
    answers `order_not_found`, exactly like a missing one. Handing over a pickup needs the
    customer's pickup code: every attempt is recorded (a wrong one in its own transaction,
    so the record outlives the refused request) and after `PICKUP_CODE_MAX_ATTEMPTS` wrong
    codes within `PICKUP_CODE_LOCK_MINUTES` the handover answers `pickup_code_locked` (429).
    A pay-in-store order is handed over only with `desk_payment` (cash or card at the desk).
    Effects run in the table's order — payment (capture or void at the provider) before any
    balance lock, then stock, points, coupon; the notification is queued after commit.
    """
    now = at or timezone.now()
    try:
        with transaction.atomic():
            return _order_transition_locked(
                order=order,
                target=target,
                actor=actor,
                user=user,
                note=note,
                pickup_code=pickup_code,
                desk_payment=desk_payment,
                staff_location_ids=staff_location_ids,
                now=now,
            )
    except WrongPickupCode:
        with transaction.atomic():
            PickupCodeAttempt.objects.create(
                order=order, user=_real_user(user), succeeded=False, at=now
            )
        raise


def _real_user(user):
    return user if getattr(user, "is_authenticated", False) else None


def _order_transition_locked(
    *, order, target, actor, user, note, pickup_code, desk_payment, staff_location_ids, now
) -> Order:
    order = Order.objects.select_for_update().get(pk=order.pk)
    if staff_location_ids is not None and order.location_id not in staff_location_ids:
        raise NotYourStore(details={"order": order.number})
    try:
        move = domain.transition_check(
            fulfilment=order.fulfilment_type, source=order.status, target=target, actor=actor
        )
    except domain.TransitionRefused as refused:
        raise IllegalTransition(
            details={
                "order": order.number,
                "status": order.status,
                "target": target,
                "reason": refused.reason,
                "allowed": refused.allowed,
            }
        ) from None
    if move.target == Status.COLLECTED:
        _check_pickup_code(order=order, pickup_code=pickup_code, user=user, now=now)
    if move.target == Status.CANCELLED and _shipped_parcels(order).exists():
        # Part of it is on its way: its goods are sold, so the rest ships too.
        raise IllegalTransition(
            details={
                "order": order.number,
                "status": order.status,
                "target": target,
                "reason": "partly_shipped",
                "allowed": [Status.SHIPPED.value],
            }
        )
    _apply_effects(order, move.effects, now, desk_payment=desk_payment)
    if move.target == Status.SHIPPED:  # whatever is still on the shelf leaves now
        Shipment.objects.filter(order=order, shipped_at__isnull=True).update(shipped_at=now)
    elif move.target == Status.DELIVERED:
        Shipment.objects.filter(order=order, delivered_at__isnull=True).update(delivered_at=now)
    source = order.status
    order.status = move.target
    order.save(update_fields=["status", "pickup_expires_at", "updated_at"])
    report_services.order_moved(order, source_status=source)
    if order.fulfilment_type == Fulfilment.PICKUP:
        if move.target == Status.READY_FOR_PICKUP:
            report_services.pickup_ready(order, at=now)
        elif move.target == Status.COLLECTED:
            report_services.pickup_collected(order, at=now)
    OrderTransition.objects.create(
        order=order,
        from_status=source,
        to_status=move.target,
        actor_kind=actor,
        actor_user=_real_user(user),
        note=note[:255],
        at=now,
    )
    _notify_after_commit(order, move.target)
    return order


def _shipped_parcels(order: Order):
    return Shipment.objects.filter(order=order, shipped_at__isnull=False)


def _parcel(parcels: list[Shipment], shipment_id: int | None, *, open_ones, order: Order):
    """The shipment named by `shipment_id`, or the only one of `open_ones` (None when none
    is left: the order's own transition then says why); ShipmentNotFound (404),
    ShipmentRequired (422) when several could be meant."""
    if shipment_id is not None:
        for parcel in parcels:
            if parcel.pk == shipment_id:
                return parcel
        raise ShipmentNotFound(details={"order": order.number, "shipment": shipment_id})
    if len(open_ones) > 1:
        raise ShipmentRequired(
            details={"order": order.number, "shipments": [p.pk for p in open_ones]}
        )
    return open_ones[0] if open_ones else None


def shipment_ship(
    *,
    order: Order,
    shipment_id: int | None = None,
    carrier: str = "",
    tracking_number: str = "",
    user=None,
    note: str = "",
    staff_location_ids: set[int] | None = None,
    at: datetime | None = None,
) -> Order:
    """Ship one shipment of a delivery: its stock at its location becomes a sale, its
    carrier and tracking number are recorded. The last one ships the order (`placed →
    shipped`: the payment is captured then, before any stock lock, and the customer told).

    Without `shipment_id`, the only shipment not shipped yet (ShipmentRequired, 422, when
    several are left). Staff act for the shipment's location (`staff_location_ids`;
    another's answers `order_not_found`). Locks the order row, then the shipment
    location's levels. A shipment shipped already, or an order not `placed`, is an
    `illegal_transition` (409). An order placed before shipments existed ships whole.
    """
    now = at or timezone.now()
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        parcels = list(Shipment.objects.filter(order=order).select_related("location"))
        if not parcels:
            return order_transition(
                order=order,
                target=Status.SHIPPED,
                actor=Actor.STAFF,
                user=user,
                note=note,
                staff_location_ids=staff_location_ids,
                at=now,
            )
        waiting = [p for p in parcels if p.shipped_at is None]
        parcel = _parcel(parcels, shipment_id, open_ones=waiting, order=order)
        where = parcel.location_id if parcel is not None else order.location_id
        if staff_location_ids is not None and where not in staff_location_ids:
            raise NotYourStore(details={"order": order.number})
        if parcel is None or parcel.shipped_at is not None or order.status != Status.PLACED:
            raise IllegalTransition(
                details={
                    "order": order.number,
                    "status": order.status,
                    "target": Status.SHIPPED.value,
                    "shipment": parcel.pk if parcel else None,
                    "reason": "already_shipped" if parcel is not None else "no_such_transition",
                    "allowed": [],
                }
            )
        parcel.carrier, parcel.tracking_number = carrier[:64], tracking_number[:100]
        if len(waiting) > 1:
            inventory_services.stock_consume(
                reference=order.reference, location=parcel.location_id, actor=user
            )
            parcel.shipped_at = now
            parcel.save(update_fields=["carrier", "tracking_number", "shipped_at"])
            return order
        parcel.save(update_fields=["carrier", "tracking_number"])
        note = note or (f"{parcel.carrier} {parcel.tracking_number}".strip())
        return _order_transition_locked(
            order=order,
            target=Status.SHIPPED,
            actor=Actor.STAFF,
            user=user,
            note=note,
            pickup_code=None,
            desk_payment=None,
            staff_location_ids=None,
            now=now,
        )


def shipment_deliver(
    *,
    order: Order,
    shipment_id: int | None = None,
    actor: Actor = Actor.STAFF,
    user=None,
    note: str = "",
    staff_location_ids: set[int] | None = None,
    at: datetime | None = None,
) -> Order:
    """Record that one shipped shipment reached the customer; the last one delivers the
    order (`shipped → delivered`: points are earned then, and the customer told).

    Without `shipment_id`, the only shipped one not delivered yet (ShipmentRequired, 422,
    when several are). Staff act for the shipment's location. A shipment not shipped or
    delivered already is an `illegal_transition` (409). Locks the order row.
    """
    now = at or timezone.now()
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        parcels = list(Shipment.objects.filter(order=order).select_related("location"))
        if not parcels:
            return order_transition(
                order=order,
                target=Status.DELIVERED,
                actor=actor,
                user=user,
                note=note,
                staff_location_ids=staff_location_ids,
                at=now,
            )
        on_the_way = [p for p in parcels if p.shipped_at is not None and p.delivered_at is None]
        parcel = _parcel(parcels, shipment_id, open_ones=on_the_way, order=order)
        where = parcel.location_id if parcel is not None else order.location_id
        if staff_location_ids is not None and where not in staff_location_ids:
            raise NotYourStore(details={"order": order.number})
        if parcel is None or parcel.shipped_at is None or parcel.delivered_at is not None:
            reason = (
                "no_such_transition"
                if parcel is None
                else "not_shipped"
                if parcel.shipped_at is None
                else "already_delivered"
            )
            raise IllegalTransition(
                details={
                    "order": order.number,
                    "status": order.status,
                    "target": Status.DELIVERED.value,
                    "shipment": parcel.pk if parcel else None,
                    "reason": reason,
                    "allowed": [],
                }
            )
        parcel.delivered_at = now
        parcel.save(update_fields=["delivered_at"])
        if order.status != Status.SHIPPED or any(
            p.delivered_at is None for p in parcels if p.pk != parcel.pk
        ):
            return order
        return _order_transition_locked(
            order=order,
            target=Status.DELIVERED,
            actor=actor,
            user=user,
            note=note,
            pickup_code=None,
            desk_payment=None,
            staff_location_ids=None,
            now=now,
        )


def _check_pickup_code(*, order: Order, pickup_code: str | None, user, now: datetime) -> None:
    window_start = now - timedelta(minutes=settings.PICKUP_CODE_LOCK_MINUTES)
    wrong = list(
        PickupCodeAttempt.objects.filter(order=order, succeeded=False, at__gt=window_start)
        .order_by("-at")
        .values_list("at", flat=True)[: settings.PICKUP_CODE_MAX_ATTEMPTS]
    )
    if len(wrong) >= settings.PICKUP_CODE_MAX_ATTEMPTS:
        unlock_at = wrong[-1] + timedelta(minutes=settings.PICKUP_CODE_LOCK_MINUTES)
        retry_after = max(1, int((unlock_at - now).total_seconds()))
        raise PickupCodeLocked(
            details={"order": order.number, "retry_after": retry_after},
            headers={"Retry-After": str(retry_after)},
        )
    if not secrets.compare_digest((pickup_code or "").encode(), order.pickup_code.encode()):
        raise WrongPickupCode(details={"order": order.number})
    PickupCodeAttempt.objects.create(order=order, user=_real_user(user), succeeded=True, at=now)


def _apply_effects(
    order: Order, effects: tuple[Effect, ...], now: datetime, *, desk_payment=None
) -> None:
    reference = order.reference
    for effect in effects:
        if effect == Effect.START_PICKUP_CLOCK:
            order.pickup_expires_at = now + timedelta(days=settings.PICKUP_HOLD_DAYS)
        elif effect == Effect.CAPTURE_PAYMENT:
            _payment_capture(order=order, desk_payment=desk_payment, now=now)
        elif effect == Effect.VOID_PAYMENT:
            _payment_void(order=order, now=now)
        elif effect == Effect.CONSUME_STOCK:
            inventory_services.stock_consume(reference=reference)
        elif effect == Effect.RELEASE_STOCK:
            inventory_services.stock_release(reference=reference, reason=f"order {order.status}")
        elif effect == Effect.GIVE_BACK:
            if order.points_redeemed:
                loyalty_services.points_reverse(reference=reference, kind="redeem")
            if order.coupon_code:
                pricing_services.coupon_redemption_release(reference=reference)
        elif effect == Effect.EARN_POINTS and order.customer_id:
            loyalty_services.points_earn(
                customer=order.customer,
                reference=reference,
                channel=order.channel,
                lines=_earning_lines(order),
                # Rule changes apply to new orders only: earn under the rules of the order's time.
                at=order.placed_at,
                location_id=order.location_id,
            )


def _payment_capture(*, order: Order, desk_payment: DeskPayment | None, now: datetime) -> None:
    """Capture the authorized amount, or record the money taken at the desk."""
    if order.payment_method == "pay_in_store" and order.amount_due > 0:
        if desk_payment is None or desk_payment.kind not in DESK_TENDER_KINDS:
            raise PaymentRequired(
                _("This order is paid in the store: record the cash or card payment."),
                code="desk_payment_required",
                details={"order": order.number, "amount_due": str(order.amount_due)},
            )
        Tender.objects.create(
            order=order,
            kind=desk_payment.kind,
            provider="desk",
            provider_reference=(desk_payment.reference or "")[:100],
            amount=order.amount_due,
            currency=order.currency,
            status=Tender.State.CAPTURED,
            captured_at=now,
        )
        return
    for tender in Tender.objects.filter(order=order, status=Tender.State.AUTHORIZED):
        payment_provider(tender.provider).capture(
            authorization=tender.provider_reference, amount=tender.amount
        )
        tender.status, tender.captured_at = Tender.State.CAPTURED, now
        tender.save(update_fields=["status", "captured_at"])


def _payment_void(*, order: Order, now: datetime) -> None:
    for tender in Tender.objects.filter(order=order, status=Tender.State.AUTHORIZED):
        payment_provider(tender.provider).void(authorization=tender.provider_reference)
        tender.status, tender.voided_at = Tender.State.VOIDED, now
        tender.save(update_fields=["status", "voided_at"])


def _earning_lines(order: Order) -> list[dict[str, Any]]:
    """Money captured per line after discounts (pro rata): points earn nothing, and neither
    does money that was only authorized or promised."""
    lines = list(order.lines.select_related("variant__product"))
    captured = sum(
        (
            t.amount
            for t in order.tenders.all()
            if t.status == Tender.State.CAPTURED and t.kind != "points"
        ),
        Decimal("0"),
    )
    paid_share = (captured / order.total) if order.total else Decimal("0")
    return [
        {
            "variant_id": line.variant_id,
            "category_id": line.variant.product.category_id,
            "amount_paid": quantize(line.line_total * paid_share, order.currency),
        }
        for line in lines
    ]


def order_cancel_by_customer(*, order: Order, user) -> Order:
    return order_transition(order=order, target=Status.CANCELLED, actor=Actor.CUSTOMER, user=user)


def orders_expire_uncollected(*, at: datetime | None = None, limit: int = 500) -> int:
    """Expire pickups whose hold ran out; each in its own transaction. Safe to run twice.

    Rows are claimed with SKIP LOCKED (on PostgreSQL) so two beat workers never expire the
    same order twice; an order already moved on is skipped by the transition check.
    """
    now = at or timezone.now()
    expired = 0
    due = Order.objects.filter(
        status=Status.READY_FOR_PICKUP, pickup_expires_at__lte=now
    ).values_list("pk", flat=True)[:limit]
    for pk in list(due):
        with transaction.atomic():
            order = Order.objects.select_for_update(skip_locked=True).filter(pk=pk).first()
            if order is None or order.status != Status.READY_FOR_PICKUP:
                continue
            order_transition(order=order, target=Status.EXPIRED, actor=Actor.SYSTEM, at=now)
            expired += 1
    return expired


# --- deadlines: no reservation is held forever ------------------------------------------


def _waiting_since():
    """When an order last became `placed`: its placing, or its latest re-route."""
    latest = (
        OrderTransition.objects.filter(order=OuterRef("pk"), to_status=Status.PLACED)
        .order_by("-at", "-id")
        .values("at")[:1]
    )
    return Coalesce(Subquery(latest, output_field=DateTimeField()), F("placed_at"))


def _unprepared():
    """Placed pickups nobody prepared and placed deliveries nobody shipped, with
    `waiting_since`."""
    return Order.objects.filter(
        status=Status.PLACED, fulfilment_type__in=[Fulfilment.PICKUP, Fulfilment.DELIVERY]
    ).annotate(waiting_since=_waiting_since())


@dataclass(frozen=True)
class DeadlineRun:
    escalated: int
    cancelled: int
    transfers_overdue: int = 0


def orders_enforce_prepare_deadlines(
    *, at: datetime | None = None, limit: int = 500
) -> DeadlineRun:
    """Escalate, then cancel, placed orders nobody prepared (pickup) or shipped (delivery).

    An order still `placed` `ORDER_ESCALATE_AFTER_HOURS` after it was placed (or re-routed
    to its store) gets `escalated_at` (the store manager's start page lists it) by one
    conditional UPDATE, so a second run or a second worker changes nothing. One still
    placed `ORDER_CANCEL_AFTER_HOURS` after is cancelled by the system through the
    transition table (payment voided, stock released, points and coupon given back, the
    customer notified after commit), each in its own transaction: its row is claimed with
    SKIP LOCKED and re-checked under the lock, so two workers never cancel it twice and an
    order prepared, cancelled or re-routed meanwhile is left alone. A ship-to-store order
    still `in_transit` that deadline after its `ready_from` is flagged `needs_attention`
    (its transfer is lost or late: staff cancel it or find the goods). Safe to run twice.
    """
    now = at or timezone.now()
    escalate_before = now - timedelta(hours=settings.ORDER_ESCALATE_AFTER_HOURS)
    cancel_before = now - timedelta(hours=settings.ORDER_CANCEL_AFTER_HOURS)
    due = list(
        _unprepared()
        .filter(waiting_since__lte=escalate_before, escalated_at__isnull=True)
        .values_list("pk", flat=True)[:limit]
    )
    escalated = 0
    if due:
        escalated = Order.objects.filter(
            pk__in=due, status=Status.PLACED, escalated_at__isnull=True
        ).update(escalated_at=now)
    # Ship-to-store goods that should have arrived a deadline ago: lost, for staff to see.
    lost_before = now - timedelta(hours=settings.ORDER_ESCALATE_AFTER_HOURS)
    transfers_overdue = Order.objects.filter(
        status=Status.IN_TRANSIT, ready_from__lte=lost_before, needs_attention=False
    ).update(
        needs_attention=True,
        attention_note=_("The transfer to the store is overdue (lost?): cancel or find it."),
    )
    cancelled = 0
    # A delivery partly shipped cannot be cancelled: it stays escalated for staff.
    overdue = (
        _unprepared()
        .filter(waiting_since__lte=cancel_before)
        .exclude(shipments__shipped_at__isnull=False)
        .values_list("pk", flat=True)
    )
    for pk in list(overdue[:limit]):
        with transaction.atomic():
            order = (
                _unprepared()
                .select_for_update(skip_locked=True, of=("self",))
                .filter(pk=pk, waiting_since__lte=cancel_before)
                .exclude(shipments__shipped_at__isnull=False)
                .first()
            )
            if order is None:  # another worker has it, or it moved on meanwhile
                continue
            hours = settings.ORDER_CANCEL_AFTER_HOURS
            order_transition(
                order=order,
                target=Status.CANCELLED,
                actor=Actor.SYSTEM,
                note=f"not prepared or shipped within {hours} hours",
                at=now,
            )
            cancelled += 1
    return DeadlineRun(
        escalated=escalated, cancelled=cancelled, transfers_overdue=transfers_overdue
    )


# --- hooks for the customers app -------------------------------------------------------


def customer_merged(survivor_id: int, duplicate_id: int) -> dict[str, int]:
    """Merge hook: the duplicate's orders and carts move to the survivor.

    The duplicate's open cart is merged into the survivor's (or simply handed over when
    the survivor has none), so the one-open-cart rule holds.
    """
    moved_orders = Order.objects.filter(customer_id=duplicate_id).update(customer_id=survivor_id)
    open_dup = Cart.objects.filter(customer_id=duplicate_id, state=Cart.State.OPEN).first()
    open_survivor = Cart.objects.filter(customer_id=survivor_id, state=Cart.State.OPEN).first()
    if open_dup is not None and open_survivor is not None:
        cart_merge(source=open_dup, target=open_survivor)
    moved_carts = Cart.objects.filter(customer_id=duplicate_id).update(customer_id=survivor_id)
    # Sales staff made (or are making) for the duplicate are the survivor's.
    AssistedSale.objects.filter(customer_id=duplicate_id).update(customer_id=survivor_id)
    return {"orders": moved_orders, "carts": moved_carts}


def _notify_after_commit(order: Order, status: str, extra: str = "") -> None:
    from orders.tasks import order_notify

    if extra:
        enqueue_on_commit(order_notify, order.pk, str(status), extra)
    else:
        enqueue_on_commit(order_notify, order.pk, str(status))


def order_notify_after_commit(*, order: Order, event: str, extra: str = "") -> None:
    """Tell the order's customer about `event` once the current transaction commits
    (e.g. "refund_made:R-7KQ2"; sent once per event and channel, retried by the worker)."""
    _notify_after_commit(order, event, extra)


# --- sales that already happened at a till ---------------------------------------------


@dataclass(frozen=True)
class TillLine:
    variant_id: int
    sku: str
    name: str
    category_id: int | None
    quantity: int
    unit_price: Decimal  # what the till charged per unit, VAT included
    discount: Decimal  # the discounts the till applied to the whole line
    vat_rate: Decimal


@dataclass(frozen=True)
class TillTender:
    kind: str  # cash, card, points, gift_card
    amount: Decimal
    points: int = 0


@dataclass(frozen=True)
class TillSale:
    reference: str  # "pos:<sale uuid>"
    occurred_at: datetime
    cashier: str
    customer: Any  # the identified customer profile, or None
    lines: tuple[TillLine, ...]
    tenders: tuple[TillTender, ...]


@dataclass
class TillRecord:
    """What recording a batch of till sales made, and what staff must look at."""

    orders: dict[str, Order] = field(default_factory=dict)  # reference → order
    short_levels: list[Any] = field(default_factory=list)


def till_sales_record(
    *, location, sales: list[TillSale], currency: str, numbers: list[str] | None = None
) -> TillRecord:
    """Record sales that already happened at a till of `location` as completed orders.

    Never refused for stock or prices: a till sale is a fact. Per sale, an order of channel
    `pos`, fulfilment `in_store`, status `collected`, store `location`, placed when the sale
    happened, with the lines and tenders as charged; identified customers' first orders
    noted (one statement for the batch); then, for the whole batch in the global lock
    order, the stock sale at the store (levels
    locked once; below zero allowed and flagged) and the points earned by identified
    customers under the rules at each sale's time. Deduplication is the caller's (one row
    per sale UUID, claimed in the same transaction). Statements per batch do not grow with
    the number of sales (points are earned for the whole batch in one call).
    """
    record = TillRecord()
    if not sales:
        return record
    with transaction.atomic():
        numbers = numbers or order_numbers_new(count=len(sales))
        orders = []
        for sale, number in zip(sales, numbers, strict=True):
            subtotal = sum((line.unit_price * line.quantity for line in sale.lines), Decimal(0))
            discounts = sum((line.discount for line in sale.lines), Decimal(0))
            total = quantize(subtotal - discounts, currency)
            points_value = quantize(
                sum((t.amount for t in sale.tenders if t.kind == "points"), Decimal(0)), currency
            )
            orders.append(
                Order(
                    number=number,
                    customer=sale.customer,
                    channel=Channel.POS,
                    fulfilment_type=Fulfilment.IN_STORE,
                    status=Status.COLLECTED,
                    location=location,
                    store=location,
                    contact_name=str(sale.customer) if sale.customer else "",
                    currency=currency,
                    subtotal=quantize(subtotal, currency),
                    discount_total=quantize(discounts, currency),
                    total=total,
                    points_redeemed=sum(t.points for t in sale.tenders if t.kind == "points"),
                    points_value=points_value,
                    amount_due=quantize(total - points_value, currency),
                    payment_method="till",
                    quote_snapshot={"priced_by": "till", "sale": sale.reference},
                    till_sale=_uuid_or_none(sale.reference.rpartition(":")[2]),
                    placed_at=sale.occurred_at,
                )
            )
        insert_many(Order, orders, key="number")
        lines, tenders, transitions = [], [], []
        for sale, order in zip(sales, orders, strict=True):
            record.orders[sale.reference] = order
            for line in sale.lines:
                line_total = quantize(line.unit_price * line.quantity - line.discount, currency)
                lines.append(
                    OrderLine(
                        order=order,
                        variant_id=line.variant_id,
                        sku=line.sku,
                        name=line.name,
                        quantity=line.quantity,
                        unit_price=quantize(line.unit_price, currency),
                        discount_total=quantize(line.discount, currency),
                        line_total=line_total,
                        vat_rate=line.vat_rate,
                        vat_amount=quantize(
                            line_total * line.vat_rate / (100 + line.vat_rate), currency
                        ),
                        discounts=[{"kind": "till", "amount": str(line.discount)}]
                        if line.discount
                        else [],
                    )
                )
            for tender in sale.tenders:
                tenders.append(
                    Tender(
                        order=order,
                        kind=tender.kind,
                        provider="till",
                        provider_reference=str(tender.points) if tender.kind == "points" else "",
                        amount=quantize(tender.amount, currency),
                        currency=currency,
                        status=Tender.State.CAPTURED,
                        captured_at=sale.occurred_at,
                    )
                )
            transitions.append(
                OrderTransition(
                    order=order,
                    from_status="",
                    to_status=Status.COLLECTED,
                    actor_kind=Actor.STAFF,
                    note=f"till sale {sale.reference} by cashier {sale.cashier}"[:255],
                    at=sale.occurred_at,
                )
            )
        # Nobody reads these rows back here: insert them without the ORM's per-value work.
        insert_many(OrderLine, lines)
        insert_many(Tender, tenders)
        insert_many(OrderTransition, transitions)
        report_services.orders_placed(
            orders,
            units={
                order.pk: sum(line.quantity for line in sale.lines)
                for sale, order in zip(sales, orders, strict=True)
            },
        )
        # A sale is the customer's first order when nothing of theirs is older: its time is
        # when it happened at the till, however late the till synced it. Customer rows come
        # before stock levels in the lock order (and only first orders lock them).
        customer_services.customers_first_orders_record(
            orders=[
                (sale.customer.pk, sale.occurred_at, Channel.POS.value)
                for sale in sales
                if sale.customer is not None
            ]
        )
        # Balances, in the global lock order: stock levels first, then points accounts.
        record.short_levels = inventory_services.stock_record_pos_sales(
            location=location,
            sales=[
                (order.reference, [(line.variant_id, line.quantity) for line in sale.lines])
                for sale, order in zip(sales, orders, strict=True)
            ],
        )
        if record.short_levels:
            pickups_flag_short(
                levels=[(short.variant_id, short.location_id) for short in record.short_levels]
            )
        earns = []
        for sale, order in zip(sales, orders, strict=True):
            if sale.customer is None:
                continue
            paid_share = (order.amount_due / order.total) if order.total else Decimal(0)
            earns.append(
                {
                    "customer": sale.customer,
                    "reference": order.reference,
                    "channel": Channel.POS,
                    "lines": [
                        {
                            "variant_id": line.variant_id,
                            "category_id": line.category_id,
                            "amount_paid": quantize(
                                (line.unit_price * line.quantity - line.discount) * paid_share,
                                currency,
                            ),
                        }
                        for line in sale.lines
                    ],
                    "at": sale.occurred_at,
                    "location_id": location.pk,
                    "place": location.name,  # the app shows where the points came from
                }
            )
        # One call for the batch: accounts locked once in pk order, entries written in bulk.
        loyalty_services.points_earn_many(items=earns)
    return record


def order_numbers_new(*, count: int) -> list[str]:
    """`count` order numbers no order has yet (one query to check, retried on a clash)."""
    numbers: set[str] = set()
    while len(numbers) < count:
        wanted = {_new_number() for _ in range(count - len(numbers))} - numbers
        taken = set(Order.objects.filter(number__in=wanted).values_list("number", flat=True))
        numbers |= wanted - taken
    return list(numbers)


# --- reconciliation: pickups a till sale left short -----------------------------------


def pickups_flag_short(*, levels: list[tuple[int, int]]) -> list[str]:
    """Flag the open pickup orders whose reserved units a till sale took.

    The order that reserved first keeps its units (`inventory.selectors.
    reservations_left_short`); each later one is flagged `needs_attention` for the store,
    to re-route or cancel. Returns the numbers flagged. Writes only the order rows.
    """
    short = inventory_selectors.reservations_left_short(levels=levels)
    numbers = [ref.split(":", 1)[1] for ref in short if ref.startswith("order:")]
    if not numbers:
        return []
    flagged = Order.objects.filter(
        number__in=numbers,
        fulfilment_type=Fulfilment.PICKUP,
        status__in=[Status.PLACED, Status.READY_FOR_PICKUP],
    )
    note = _("A till sale took units reserved for this pickup: re-route or cancel.")
    flagged.update(needs_attention=True, attention_note=note[:255])
    return sorted(numbers)


@transaction.atomic
def order_reroute(
    *, order: Order, location, user=None, staff_location_ids: set[int] | None = None
) -> Order:
    """Move an open pickup to another pickup store that holds its units, and tell the customer.

    Locks the order row, then the stock levels of both stores (pk order). The reservation
    moves (released here, reserved there, `insufficient_stock` 409 listing short lines
    otherwise); an order that was ready goes back to `placed` for the new store to prepare,
    and its hold clock stops. Staff must act for the order's store (`staff_location_ids`).
    Sets off the "rerouted" notification after commit.
    """
    order = Order.objects.select_for_update().get(pk=order.pk)
    if staff_location_ids is not None and order.location_id not in staff_location_ids:
        raise NotYourStore(details={"order": order.number})
    if order.fulfilment_type != Fulfilment.PICKUP or order.status not in (
        Status.PLACED,
        Status.READY_FOR_PICKUP,
    ):
        raise IllegalTransition(
            _("Only an open pickup order can move to another store."),
            details={"order": order.number, "status": order.status},
        )
    target = _pickup_location(location)
    if target.pk == order.location_id:
        raise PickupLocationInvalid(details={"location": target.code, "reason": "same_store"})
    inventory_services.stock_reservation_move(
        reference=order.reference, to_location=target, actor=user
    )
    now = timezone.now()
    source_status, previous = order.status, order.location
    order.location = target
    order.store = target  # a pickup belongs to the store that hands it over
    order.status = Status.PLACED
    order.pickup_expires_at = None
    order.needs_attention = False
    order.attention_note = ""
    order.escalated_at = None  # the new store's deadline starts now
    order.save(
        update_fields=[
            "location",
            "store",
            "status",
            "pickup_expires_at",
            "needs_attention",
            "attention_note",
            "escalated_at",
            "updated_at",
        ]
    )
    report_services.order_moved(order, source_status=source_status, source_location=previous)
    OrderTransition.objects.create(
        order=order,
        from_status=source_status,
        to_status=Status.PLACED,
        actor_kind=Actor.STAFF,
        actor_user=_real_user(user),
        note=f"re-routed from {previous.code} to {target.code}"[:255],
        at=now,
    )
    _notify_after_commit(order, "rerouted")
    return order


# --- ship-to-store: a pickup whose missing lines travel to the store ---------------------


def ship_to_store_reserve(*, order: Order, lines: list[tuple[int, int]]) -> list:
    """Reserve a just-placed pickup, sending what its store lacks from other locations.

    What the store holds is reserved there; each missing line comes from the source
    `orders.domain.transfer_plan` picks among the routes head office opened
    (`inventory.TransferLeadTime`), reserved at that source and sent at once on a transfer
    whose reference is the order's. The order then moves `placed → in_transit` (system),
    with `ready_from` = now + the longest lead time (the checkout's own "placed" message
    tells the customer). A cart the store holds entirely is simply reserved there and stays
    `placed`.

    Raises InsufficientStock (409) listing the lines no route can bring, or every short
    line of every location when stock moved since the plan was read. All levels involved
    are locked in one statement (`inventory.services.stock_reserve_ship_to_store`).
    Returns the transfers sent.
    """
    requested: dict[int, int] = defaultdict(int)
    for vid, quantity in lines:
        requested[vid] += quantity
    plan = order_selectors.ship_to_store_plan(location=order.location, requested=dict(requested))
    if not plan.missing:
        inventory_services.stock_reserve(
            lines=lines, location=order.location, reference=order.reference, expires_at=None
        )
        return []
    if not plan.plan.possible:
        # The checkout's lines, in memory (they may not be written yet).
        skus = {line.variant_id: line.sku for line in order.lines.all()}
        raise InsufficientStock(
            _("No route brings these lines to the store."),
            details={
                "location": order.location.code,
                "lines": [
                    {"sku": skus[vid], "requested": requested[vid], "missing": plan.missing[vid]}
                    for vid in plan.plan.unavailable
                ],
            },
        )
    transfers = inventory_services.stock_reserve_ship_to_store(
        reference=order.reference,
        destination=order.location,
        local=plan.local,
        sources=plan.by_source(),
    )
    move = domain.transition_check(
        fulfilment=order.fulfilment_type,
        source=order.status,
        target=Status.IN_TRANSIT,
        actor=Actor.SYSTEM,
    )
    order.status = move.target
    order.ready_from = plan.ready_from
    order.save(update_fields=["status", "ready_from", "updated_at"])
    report_services.order_moved(order, source_status=Status.PLACED)
    sent = OrderTransition.objects.create(
        order=order,
        from_status=Status.PLACED,
        to_status=Status.IN_TRANSIT,
        actor_kind=Actor.SYSTEM,
        note=("ship-to-store: " + ", ".join(t.number for t in transfers))[:255],
        at=timezone.now(),
    )
    cache = getattr(order, "_prefetched_objects_cache", None)
    if cache is not None and "transitions" in cache:
        cache["transitions"] = [*cache["transitions"], sent]
    # No message of its own: the checkout's "placed" message goes out in the same moment.
    return transfers


def order_transfer_received(transfer) -> None:
    """Inventory hook (`INVENTORY_TRANSFER_RECEIVED_HANDLERS`), inside the receipt's
    transaction: a transfer sent for an order arrived, so queue `order_transfer_arrived`
    for after commit (the store's levels are locked now; the order comes first in a
    transition's lock order, so it is handled in its own transaction)."""
    kind, _sep, number = (transfer.reference or "").partition(":")
    if kind != "order" or not number:
        return
    from orders.tasks import order_transfer_arrived

    enqueue_on_commit(order_transfer_arrived, number)


def order_transfer_arrived(*, number: str, at: datetime | None = None) -> Order | None:
    """A ship-to-store order's transfers arrived: ready for pickup, or flagged for staff.

    Locks the order row, then (reserving) the store's levels — a transition's lock order.
    Nothing happens unless the order is `in_transit` and every transfer sent for it has
    been received (a cancelled order's goods simply stay the store's stock). When every
    unit arrived, the units are reserved at the store and the order moves to
    `ready_for_pickup` (system): the hold clock starts and the customer is told. A transfer
    short (or lost: nothing arrived), or units a till sale took before they could be
    reserved, flag the order `needs_attention` for the store instead; it stays in transit
    until staff cancel it. Safe to run twice.
    """
    now = at or timezone.now()
    with transaction.atomic():
        order = Order.objects.select_for_update().filter(number=number).first()
        if order is None or order.status != Status.IN_TRANSIT:
            return order
        transfers = inventory_selectors.transfers_for_reference(reference=order.reference)
        if not transfers or any(t.status != Transfer.Status.RECEIVED for t in transfers):
            return order  # wait for the others
        shipped: dict[int, int] = defaultdict(int)
        arrived: dict[int, int] = defaultdict(int)
        for transfer in transfers:
            for line in transfer.lines.all():
                shipped[line.variant_id] += line.quantity
                arrived[line.variant_id] += line.received_quantity or 0
        numbers = ", ".join(t.number for t in transfers)
        missing = sum(max(shipped[vid] - arrived[vid], 0) for vid in shipped)
        if missing:
            return _order_flag(
                order,
                _("Transfer %(t)s arrived %(n)d unit(s) short: cancel the order or find them.")
                % {"t": numbers, "n": missing},
            )
        try:
            with transaction.atomic():  # a till sale may have taken them since they arrived
                inventory_services.stock_reserve(
                    lines=sorted(shipped.items()),
                    location=order.location,
                    reference=order.reference,
                )
        except InsufficientStock:
            return _order_flag(
                order,
                _("Transfer %(t)s arrived but a till sale took units: cancel or re-stock.")
                % {"t": numbers},
            )
        return order_transition(
            order=order,
            target=Status.READY_FOR_PICKUP,
            actor=Actor.SYSTEM,
            note=f"received on {numbers}",
            at=now,
        )


def order_goods_at_store(
    *, order: Order, user=None, staff_location_ids: set[int] | None = None
) -> Order:
    """Staff say a ship-to-store order's goods are at its store after all — the units a
    short transfer lacked were found, the shelf was restocked, a lost parcel turned up —
    whatever became of its transfers: make it ready for pickup from the store's stock.

    Locks the order row, then (reserving) the store's levels — a transition's lock order,
    as `order_transfer_arrived`. Every unit its transfers were to bring is reserved at the
    store (what the store held at checkout is reserved already) and the order moves
    `in_transit → ready_for_pickup` (the table's system move, recorded with the member of
    staff): the hold clock starts, the flag is cleared, the customer is told after commit.
    A transfer received later simply adds to the store's stock. Raises NotYourStore (404)
    for another store's order, IllegalTransition (409) unless `in_transit`, and
    InsufficientStock (409, every short line) when the store does not hold the units —
    then nothing changes and the order stays flagged.
    """
    now = timezone.now()
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        if staff_location_ids is not None and order.location_id not in staff_location_ids:
            raise NotYourStore(details={"order": order.number})
        if order.status != Status.IN_TRANSIT:
            raise IllegalTransition(
                _("Only an order on its way to the store can be made ready from its stock."),
                details={"order": order.number, "status": order.status},
            )
        transfers = inventory_selectors.transfers_for_reference(reference=order.reference)
        shipped: dict[int, int] = defaultdict(int)
        for transfer in transfers:
            for line in transfer.lines.all():
                shipped[line.variant_id] += line.quantity
        inventory_services.stock_reserve(
            lines=sorted(shipped.items()),
            location=order.location,
            reference=order.reference,
            actor=user,
        )
        if order.needs_attention:
            order.needs_attention, order.attention_note = False, ""
            order.save(update_fields=["needs_attention", "attention_note", "updated_at"])
        numbers = ", ".join(t.number for t in transfers)
        return order_transition(
            order=order,
            target=Status.READY_FOR_PICKUP,
            actor=Actor.SYSTEM,
            user=user,
            note=f"goods at the store, confirmed by staff (transfers {numbers})"[:255],
            at=now,
        )


def _order_flag(order: Order, note: str) -> Order:
    if not order.needs_attention or order.attention_note != note[:255]:
        order.needs_attention, order.attention_note = True, note[:255]
        order.save(update_fields=["needs_attention", "attention_note", "updated_at"])
    return order


# --- returns: the order side ----------------------------------------------------------


def order_lock(*, order_id: int) -> Order:
    """The order row, locked (FOR UPDATE): returns of one order are taken one at a time,
    so "never more than was bought" holds under concurrent returns. First in the lock
    order, like a checkout's cart row."""
    # Only the order's own row: the store row joined in is read, never locked (every sale
    # and checkout of that store references it).
    return Order.objects.select_for_update(of=("self",)).select_related("location").get(pk=order_id)


def order_returned(*, order: Order, fully: bool, note: str, user=None, at: datetime) -> Order:
    """Record that goods of a completed order came back: `partially_returned` or
    `returned`, with a transition naming the return. The caller holds the order's lock
    (`order_lock`); an order already in that status gets only the transition row."""
    target = Status.RETURNED if fully else Status.PARTIALLY_RETURNED
    source = order.status
    if source != target:
        order.status = target
        order.save(update_fields=["status", "updated_at"])
        report_services.order_moved(order, source_status=source)
    OrderTransition.objects.create(
        order=order,
        from_status=source,
        to_status=target,
        actor_kind=Actor.STAFF if _real_user(user) else Actor.SYSTEM,
        actor_user=_real_user(user),
        note=note[:255],
        at=at,
    )
    return order
