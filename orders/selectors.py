"""Orders reads: a cart with its fresh quote and availability, orders, pickup queues, timeline."""

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import Prefetch, Q, QuerySet
from django.db.transaction import TransactionManagementError
from django.utils import timezone
from django.utils.translation import gettext as _

from core.db import columns_of, select_models
from core.errors import DomainError
from customers.domain import phone_search_key
from customers.selectors import customer_list, customer_search
from inventory import selectors as inventory_selectors
from loyalty import selectors as loyalty_selectors
from orders import domain
from orders.domain import ASSISTED_CHANNELS, Fulfilment, Status
from orders.errors import CartNotFound, CartNotOpen, OrderNotFound
from orders.models import Cart, CartLine, Order, OrderLine, OrderTransition, Shipment
from pricing import selectors as pricing_selectors


def cart_current(*, customer) -> Cart:
    """The customer's one open cart; `cart_not_found` when they have none (POST /carts/)."""
    cart = (
        Cart.objects.select_related("pickup_location")
        .filter(customer=customer, state=Cart.State.OPEN)
        .first()
    )
    if cart is None:
        raise CartNotFound(
            _("No open cart: POST /api/v1/carts/ starts one."), details={"cart": None}
        )
    return cart


def cart_get(*, token: str, customer=None, assisted: bool = False, lock: bool = False) -> Cart:
    """An open cart by token. A customer's cart is only visible to that customer. A staff
    cart (selling on a customer's behalf) is reached only with `assisted` — and then only
    staff carts are: `orders.assisted.staff_cart_get` decides which member of staff.
    With `lock` (inside a transaction: a checkout), its row is locked as it is read, and
    whether it is open is decided on the locked row: to the cart's owner a cart that is no
    longer open answers 409 `cart_not_open` (as the checkout service does), to anybody
    else 404."""
    import uuid

    try:
        key = uuid.UUID(str(token))
    except ValueError:
        raise CartNotFound(details={"cart": str(token)}) from None
    if lock:  # a checkout: its store comes from the request, not the cart
        cart = _cart_locked(key)
    else:
        cart = Cart.objects.select_related("pickup_location").filter(token=key).first()
    if cart is None or (cart.state != Cart.State.OPEN and not lock):
        raise CartNotFound(details={"cart": str(token)})
    if (cart.channel in ASSISTED_CHANNELS) != assisted:
        raise CartNotFound(details={"cart": str(token)})
    if cart.customer_id is not None and (customer is None or customer.pk != cart.customer_id):
        raise CartNotFound(details={"cart": str(token)})
    if cart.state != Cart.State.OPEN:
        # Its owner checking out a cart that another checkout converted while this one
        # waited for its lock (or earlier): the service's answer, not "no such cart".
        raise CartNotOpen(details={"cart": str(cart.token), "state": cart.state})
    return cart


def _cart_locked(key) -> Cart | None:
    """The cart with this token, its row locked (`SELECT … FOR UPDATE`), as the ORM's
    `select_for_update()` reads it — in one hand-written statement, as every checkout
    takes this lock. Refused outside a transaction, as the ORM refuses it."""
    lock = connection.features.has_select_for_update
    if lock and connection.get_autocommit():
        raise TransactionManagementError(
            "select_for_update cannot be used outside of a transaction."
        )
    field = Cart._meta.get_field("token")
    found = select_models(
        f'SELECT {columns_of(Cart, "c")} FROM "{Cart._meta.db_table}" c '
        f'WHERE c."{field.column}" = %s' + (" FOR UPDATE" if lock else ""),
        [field.get_db_prep_value(key, connection)],
        Cart,
    )
    return found[0][0] if found else None


@dataclass
class CartView:
    cart: Cart
    lines: list[dict[str, Any]]
    quote: dict[str, Any] | None
    total: Any
    problems: list[dict[str, Any]] = field(default_factory=list)
    points: dict[str, Any] | None = None
    fulfilment: dict[str, Any] | None = None


def _bad_skus(error: DomainError) -> set[str]:
    details = error.details or {}
    found = set()
    for key in ("sku", "skus", "lines"):
        value = details.get(key)
        if isinstance(value, str):
            found.add(value)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, str):
                    found.add(item)
                elif isinstance(item, dict) and item.get("sku"):
                    found.add(item["sku"])
    return found


def cart_view(*, cart: Cart, at: datetime | None = None, customer=None) -> CartView:
    """The cart's lines with a fresh quote and availability for the chosen fulfilment.

    Priced for the cart's customer, or for `customer` (a staff cart is priced, and offers
    points, for the customer it is sold to).

    Lines the engine refuses to price (deactivated SKU, no current price) are shown with
    their problem and left out of the quote instead of failing the whole cart.
    """
    lines = list(CartLine.objects.filter(cart=cart).select_related("variant", "variant__product"))
    variant_ids = [line.variant_id for line in lines]
    if cart.fulfilment_type == Fulfilment.PICKUP and cart.pickup_location_id:
        per_location = inventory_selectors.availability(
            variant_ids=variant_ids, location_ids=[cart.pickup_location_id]
        )
        available = {vid: sum(locs.values()) for vid, locs in per_location.items()}
    else:
        available = inventory_selectors.delivery_available(variant_ids=variant_ids)

    problems: list[dict[str, Any]] = []
    priced = list(lines)
    coupon = cart.coupon_code or None
    method = cart.shipping_method or None
    quote = None
    for _attempt in range(5):
        if not priced:
            break
        try:
            quote = pricing_selectors.quote(
                [{"sku": line.variant.sku, "quantity": line.quantity} for line in priced],
                customer=customer.pk if customer is not None else cart.customer_id,
                coupon=coupon,
                at=at or timezone.now(),
                delivery=cart.fulfilment_type == Fulfilment.DELIVERY,
                shipping_method=method,
            )
            break
        except DomainError as error:
            if error.code == "shipping_method_unknown":  # the rate was switched off since
                problems.append(
                    {"shipping_method": method, "code": error.code, "message": error.message}
                )
                method = None
                continue
            if error.code == "coupon_not_found":
                problems.append({"coupon": coupon, "code": error.code, "message": error.message})
                coupon = None
                continue
            bad = _bad_skus(error) or {line.variant.sku for line in priced}
            problems += [{"sku": sku, "code": error.code, "message": error.message} for sku in bad]
            priced = [line for line in priced if line.variant.sku not in bad]
    problem_by_sku = {p["sku"]: p["code"] for p in problems if "sku" in p}
    quoted = {q.sku: q for q in quote.lines} if quote else {}
    view_lines = []
    for line in lines:
        sku = line.variant.sku
        stock = available.get(line.variant_id, 0)
        entry = {
            "sku": sku,
            "name": line.variant.name or line.variant.product.name,
            "quantity": line.quantity,
            "available": stock,
            "in_stock": stock >= line.quantity,
            "problem": problem_by_sku.get(sku),
        }
        if sku in quoted:
            entry["line_total"] = str(quoted[sku].line_total)
        view_lines.append(entry)
    return CartView(
        cart=cart,
        lines=view_lines,
        quote=quote.as_dict() if quote else None,
        total=quote.total if quote else None,
        problems=problems,
        points=_points_offer(customer or cart.customer, quote),
        fulfilment=_fulfilment_check(cart, lines, view_lines),
    )


def _fulfilment_check(cart: Cart, lines: list[CartLine], view_lines: list[dict]) -> dict:
    """Whether checkout could reserve the whole cart now, the way checkout will do it.

    A pickup needs every line at the chosen store; when some are short there, the block's
    `ship_to_store` says which units could come from another location on a transfer and
    from when the order would be ready (checkout with `allow_transfer`). A delivery ships
    from the locations `delivery_plan` chooses for the cart's address (`ships_from`: the
    first; `shipments`: each location with its lines), each line whole from one location,
    which is what checkout reserves.
    """
    if not lines:
        return {"ready": False, "reason": "cart_empty"}
    if cart.fulfilment_type == Fulfilment.PICKUP:
        if not cart.pickup_location_id:
            return {"ready": False, "reason": "pickup_location_required"}
        ready = all(line["in_stock"] for line in view_lines)
        if ready:
            return {"ready": True, "reason": None}
        requested: dict[int, int] = {}
        for line in lines:
            requested[line.variant_id] = requested.get(line.variant_id, 0) + line.quantity
        plan = ship_to_store_plan(location=cart.pickup_location, requested=requested)
        skus = {line.variant_id: line.variant.sku for line in lines}
        return {
            "ready": False,
            "reason": "insufficient_stock",
            "ship_to_store": plan.as_dict(skus),
        }
    requested: dict[int, int] = {}
    for line in lines:
        requested[line.variant_id] = requested.get(line.variant_id, 0) + line.quantity
    plan = delivery_plan(requested=requested, address=cart.delivery_address or {})
    skus = {line.variant_id: line.variant.sku for line in lines}
    if not plan.possible:
        return {
            "ready": False,
            "reason": plan.plan.reason,
            "unavailable": [skus[vid] for vid in plan.plan.unavailable],
        }
    return {"ready": True, "reason": None, **plan.as_dict(skus)}


@dataclass(frozen=True)
class DeliveryPlanView:
    """A delivery's shipments (`orders.domain.delivery_plan`) with their locations."""

    plan: domain.DeliveryPlan
    locations: dict[int, Any]  # location id → Location, every candidate

    @property
    def possible(self) -> bool:
        return self.plan.possible

    @property
    def first_location(self):
        return self.locations[next(iter(self.plan.shipments))]

    def as_dict(self, skus: dict[int, str]) -> dict[str, Any]:
        return {
            "ships_from": self.first_location.code,
            "shipments": [
                {
                    "from": self.locations[lid].code,
                    "lines": [
                        {"sku": skus[vid], "quantity": quantity}
                        for vid, quantity in sorted(lines.items())
                    ],
                }
                for lid, lines in self.plan.shipments.items()
            ],
        }


def delivery_plan(*, requested: dict[int, int], address: dict[str, Any]) -> DeliveryPlanView:
    """Which locations would ship a delivery of `requested` (variant id → units) to
    `address` now: the active ships-online locations, their availability and their
    nearness to the address, through the rule of `orders.domain.delivery_plan`. Two
    queries."""
    locations = {loc.pk: loc for loc in inventory_selectors.location_list(ships_online=True)}
    available = (
        inventory_selectors.availability(variant_ids=list(requested), location_ids=list(locations))
        if locations and requested
        else {}
    )
    sources = [
        domain.ShipFrom(
            location_id=loc.pk,
            nearness=domain.nearness(
                address=address if isinstance(address, dict) else {},
                latitude=float(loc.latitude) if loc.latitude is not None else None,
                longitude=float(loc.longitude) if loc.longitude is not None else None,
                postal_code=loc.postal_code,
                country=loc.country,
            ),
            is_warehouse=loc.kind == "warehouse",
            priority=loc.fulfilment_priority,
        )
        for loc in locations.values()
    ]
    return DeliveryPlanView(
        plan=domain.delivery_plan(requested, sources, available), locations=locations
    )


@dataclass(frozen=True)
class ShipToStorePlan:
    """A pickup store's share of a cart and, for the units it lacks, where they would come
    from (`orders.domain.transfer_plan`) and when the order would be ready there."""

    location: Any
    local: dict[int, int]  # variant id → units the store reserves itself
    missing: dict[int, int]  # variant id → units it lacks
    plan: domain.TransferPlan
    codes: dict[int, str]  # source location id → code
    now: datetime

    @property
    def ready_from(self) -> datetime:
        return self.now + timedelta(days=self.plan.days)

    def by_source(self) -> dict[int, dict[int, int]]:
        """source location id → {variant id → units to send}."""
        grouped: dict[int, dict[int, int]] = {}
        for vid, source_id in self.plan.sources.items():
            grouped.setdefault(source_id, {})[vid] = self.missing[vid]
        return grouped

    def as_dict(self, skus: dict[int, str]) -> dict[str, Any]:
        day = timezone.localtime(self.ready_from, ZoneInfo(self.location.time_zone)).date()
        return {
            "possible": self.plan.possible,
            "ready_from": day.isoformat() if self.plan.possible else None,
            "lines": [
                {
                    "sku": skus[vid],
                    "quantity": self.missing[vid],
                    "from": self.codes[source_id],
                }
                for vid, source_id in sorted(self.plan.sources.items())
            ],
            "unavailable": [skus[vid] for vid in self.plan.unavailable],
        }


def ship_to_store_plan(
    *, location, requested: dict[int, int], now: datetime | None = None
) -> ShipToStorePlan:
    """What the pickup store `location` holds of `requested` (variant id → units) and where
    the rest would come from over the routes head office opened into it. Three queries."""
    now = now or timezone.now()
    variant_ids = list(requested)
    here = inventory_selectors.availability(variant_ids=variant_ids, location_ids=[location.pk])
    held = {vid: here.get(vid, {}).get(location.pk, 0) for vid in variant_ids}
    local = {vid: min(q, held[vid]) for vid, q in requested.items() if held[vid] > 0}
    missing = {vid: q - held[vid] for vid, q in requested.items() if q > held[vid]}
    routes = inventory_selectors.transfer_routes_into(destination_id=location.pk) if missing else []
    available = (
        inventory_selectors.availability(
            variant_ids=list(missing), location_ids=[route.source_id for route in routes]
        )
        if routes
        else {}
    )
    plan = domain.transfer_plan(
        missing,
        [
            domain.Source(
                location_id=route.source_id,
                days=route.days,
                is_warehouse=route.is_warehouse,
                priority=route.priority,
            )
            for route in routes
        ],
        available,
    )
    return ShipToStorePlan(
        location=location,
        local=local,
        missing=missing,
        plan=plan,
        codes={route.source_id: route.source_code for route in routes},
        now=now,
    )


def _points_offer(customer, quote) -> dict[str, Any] | None:
    """For a customer's cart: how many points could pay for it, and what they are worth.

    Points are a payment at checkout (`redeem_points`), never a price change, so the quote
    above stays as it is.
    """
    if customer is None or quote is None:
        return None
    redeemable = loyalty_selectors.points_redeemable_max(customer=customer, order_total=quote.total)
    return {
        "balance": loyalty_selectors.balance_get(customer=customer),
        "redeemable_max": redeemable,
        "redeemable_value": str(loyalty_selectors.points_redeem_value(points=redeemable)),
    }


def _order_queryset() -> QuerySet[Order]:
    return Order.objects.select_related("location").prefetch_related(
        "lines",
        "tenders",
        Prefetch(
            "shipments",
            queryset=Shipment.objects.select_related("location"),
        ),
        Prefetch("transitions", queryset=OrderTransition.objects.order_by("at", "id")),
    )


def order_get(*, number: str) -> Order:
    order = _order_queryset().filter(number=str(number).upper()).first()
    if order is None:
        raise OrderNotFound(details={"order": number})
    return order


def order_get_for_customer(*, number: str, customer) -> Order:
    """The order if it belongs to this customer; otherwise not found (no existence leak)."""
    order = order_get(number=number)
    if customer is None or order.customer_id != customer.pk:
        raise OrderNotFound(details={"order": number})
    return order


def orders_for_customer(*, customer) -> QuerySet[Order]:
    return _order_queryset().filter(customer=customer).order_by("-id")


# A store's open pickups: on their way to it (ship-to-store), to prepare, waiting.
PICKUP_QUEUE_STATUSES = (Status.IN_TRANSIT, Status.PLACED, Status.READY_FOR_PICKUP)


def pickup_queue(
    *, location_ids: set[int] | list[int], status: str | None = None
) -> QuerySet[Order]:
    """A store's open pickups, oldest first: ship-to-store ones still on their way to it
    (`ready_from` says when they should arrive), placed ones to prepare and ready ones
    waiting for the customer (or only those of `status`).

    Lines, tenders and history are prefetched, so a page costs the same few queries
    however many orders it holds; callers page it (the queue of a busy store is long).
    """
    statuses = [status] if status else list(PICKUP_QUEUE_STATUSES)
    return (
        _order_queryset()
        .filter(
            fulfilment_type=Fulfilment.PICKUP,
            location_id__in=list(location_ids),
            status__in=statuses,
        )
        .order_by("placed_at", "id")
    )


def days_left(order: Order, *, now: datetime | None = None) -> int | None:
    if order.pickup_expires_at is None:
        return None
    seconds = (order.pickup_expires_at - (now or timezone.now())).total_seconds()
    return max(0, int(seconds // 86400) + (1 if seconds % 86400 else 0))


def timeline_entries(customer_id: int, *, limit: int, before: datetime | None) -> list[dict]:
    """Timeline source: every order and status change (pickups, deliveries, cancellations)."""
    transitions = OrderTransition.objects.select_related("order__location").filter(
        order__customer_id=customer_id
    )
    if before is not None:
        transitions = transitions.filter(at__lt=before)
    entries = []
    for t in transitions.order_by("-at", "-id")[:limit]:
        order = t.order
        kind = "order_placed" if not t.from_status else f"order_{t.to_status}"
        entries.append(
            {
                "at": t.at,
                "kind": kind,
                "channel": order.channel,
                "title": f"Order {order.number}: {t.to_status.replace('_', ' ')}",
                "reference": order.reference,
                "details": {
                    "order": order.number,
                    "status": t.to_status,
                    "fulfilment": order.fulfilment_type,
                    "store": order.location.name,
                    "total": str(order.total),
                    "currency": order.currency,
                },
            }
        )
    return entries


# --- returns: finding what was sold -------------------------------------------------


def order_for_return(*, reference: str) -> Order | None:
    """An order by its number, or a till sale by its UUID (as printed on the receipt)."""
    import uuid

    value = (reference or "").strip()
    if not value or len(value) > 64 or not value.isprintable():
        return None
    queryset = Order.objects.select_related("location", "customer")
    try:
        return queryset.filter(till_sale=uuid.UUID(value)).first()
    except ValueError:
        return queryset.filter(number=value.upper()).first()


def order_completed_at(*, order: Order) -> datetime:
    """When the goods reached the customer (collected, delivered, or the till sale)."""
    done = (
        OrderTransition.objects.filter(
            order=order, to_status__in=[Status.COLLECTED, Status.DELIVERED]
        )
        .order_by("-at")
        .values_list("at", flat=True)
        .first()
    )
    return done or order.placed_at


# --- the pickup desk: what to pick, and finding the customer's order -------------------

# Scanned payloads (a QR's URL, "order:<number>") are split on anything but letters and
# digits; a part this long may be an order number (numbers are 8 characters today).
_NUMBER_TOKEN = re.compile(r"[A-Za-z0-9]{6,16}")
# A desk search lists at most this many orders, newest first.
DESK_FIND_LIMIT = 20


def _picking_lines() -> Prefetch:
    return Prefetch(
        "lines", queryset=OrderLine.objects.select_related("variant__product").order_by("id")
    )


def pickup_desk_queue(*, location_ids: set[int] | list[int]) -> dict[str, list[Order]]:
    """`pickup_queue` with each order's lines, product and variant loaded (what to pick),
    split by what the desk does with them; `incoming` are ship-to-store orders still on
    their way (nothing to do yet, unless flagged `needs_attention`).

    Three queries whatever the queue's length: the orders, their lines with variants and
    products.
    """
    orders = list(
        Order.objects.select_related("customer", "location")
        .prefetch_related(_picking_lines())
        .filter(
            fulfilment_type=Fulfilment.PICKUP,
            location_id__in=list(location_ids),
            status__in=PICKUP_QUEUE_STATUSES,
        )
        .order_by("placed_at", "id")
    )
    return {
        "incoming": [o for o in orders if o.status == Status.IN_TRANSIT],
        "to_prepare": [o for o in orders if o.status == Status.PLACED],
        "waiting": [o for o in orders if o.status == Status.READY_FOR_PICKUP],
    }


def order_number_candidates(text: str) -> list[str]:
    """The order numbers a typed or scanned text may carry, upper-cased, without repeats.

    A barcode scanner types the number itself; a QR code may hold a URL or a reference
    such as "order:K7M2QX9A", so every run of 6 to 16 letters and digits is a candidate.
    """
    seen: dict[str, None] = {}
    for token in _NUMBER_TOKEN.findall((text or "")[:500]):
        seen.setdefault(token.upper(), None)
    return list(seen)[:20]


def pickup_orders_find(
    *, text: str, location_ids: set[int] | None, limit: int = DESK_FIND_LIMIT
) -> list[Order]:
    """Pickup orders at these stores (None: every store) matching what the desk typed.

    The text may be an order number or a scanned payload that contains one, a phone in any
    format (matched in E.164 against the order's contact phone and the customer's profile),
    or a name (the order's contact name, the customer's first and last names). A text with
    letters is never read as a phone: phone parsing turns letters into keypad digits.
    """
    text = (text or "").strip()[:200]
    if not text:
        return []
    condition = Q(number__in=order_number_candidates(text))
    if re.search(r"[A-Za-z]", text):
        if len(text) >= 2:
            condition |= (
                Q(contact_name__icontains=text)
                | Q(customer__first_name__icontains=text)
                | Q(customer__last_name__icontains=text)
            )
            first, _sep, last = text.partition(" ")
            if last.strip():
                condition |= Q(
                    customer__first_name__icontains=first, customer__last_name__icontains=last
                )
    else:
        key = phone_search_key(text)
        if key:
            condition |= Q(contact_phone__startswith=key) | Q(customer__phone__startswith=key)
    orders = Order.objects.select_related("customer", "location").filter(
        condition, fulfilment_type=Fulfilment.PICKUP
    )
    if location_ids is not None:
        orders = orders.filter(location_id__in=list(location_ids))
    return list(orders.order_by("-placed_at", "-id")[:limit])


# A lookup finding more rows than this is left to the database as a subquery: a long list
# of ids costs more to plan and probe than the subquery's one pass.
SEARCH_IDS_LISTED = 2000


def _ids_or_subquery(queryset: QuerySet, field: str) -> list[int] | QuerySet:
    """The values of `field` as a list when few (read once, without an order, so through
    the lookup's own index), else the subquery."""
    values = queryset.order_by().values_list(field, flat=True)
    listed = list(values[: SEARCH_IDS_LISTED + 1])
    return listed if len(listed) <= SEARCH_IDS_LISTED else values


def order_search_condition(*, text: str) -> Q:
    """Which orders the orders list finds for what staff typed: an order number (or a
    scanned payload that holds one) alone when there is such an order; otherwise orders
    whose number begins with the text, or of a customer the customers list finds (a name
    in any word order, a phone in any format, an email, a card).

    Each part is read first, through its own lookup (the number's unique and pattern
    indexes, the customers list's search), so the list and its count filter on plain ids
    (the primary key, `order_customer_id_idx`) instead of testing every order; a part
    matching thousands stays a subquery. An order's own contact fields are not indexed
    and not searched: a guest's contact is the profile the order is linked to.
    """
    text = " ".join((text or "").split())[:200]
    exact = list(
        Order.objects.filter(number__in=order_number_candidates(text)).values_list("pk", flat=True)
    )
    if exact:
        return Q(pk__in=exact)
    condition = Q(pk__in=[])
    if re.fullmatch(r"[A-Za-z0-9]{3,16}", text):
        by_number = Order.objects.filter(number__startswith=text.upper())
        condition |= Q(pk__in=_ids_or_subquery(by_number, "pk"))
    customers = customer_search(queryset=customer_list(active=None), term=text)
    return condition | Q(customer_id__in=_ids_or_subquery(customers, "pk"))


def picking_slip(*, number: str, location_ids: set[int] | None) -> Order:
    """A pickup order with the lines to pick, if it is at one of these stores.

    Another store's order answers like a missing one (`order_not_found`).
    """
    order = (
        Order.objects.select_related("customer", "location")
        .prefetch_related(_picking_lines())
        .filter(number=str(number).upper()[:16], fulfilment_type=Fulfilment.PICKUP)
        .first()
    )
    if order is None or (location_ids is not None and order.location_id not in location_ids):
        raise OrderNotFound(details={"order": str(number)[:16]})
    return order


def reroute_targets(*, order: Order) -> list:
    """The other active pickup stores that hold every line of `order` now, by code: where
    `orders.services.order_reroute` could move it. Two queries (stores, availability)."""
    lines = list(order.lines.all())
    stores = [loc for loc in inventory_selectors.pickup_locations() if loc.pk != order.location_id]
    available = inventory_selectors.availability(
        variant_ids=[line.variant_id for line in lines],
        location_ids=[loc.pk for loc in stores],
    )
    return [
        loc
        for loc in stores
        if all(available.get(line.variant_id, {}).get(loc.pk, 0) >= line.quantity for line in lines)
    ]
