"""Orders models: server-side carts, orders with their price snapshot, transitions, tenders.

An order keeps the quote it was sold at (lines, discounts, VAT, totals) as columns and as a
JSON snapshot, so later price changes never alter it. Status changes are recorded as
append-only `OrderTransition` rows; stock and points effects live in their own ledgers
and point back here by the reference "order:<number>".
"""

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from orders.domain import ATTRIBUTION_FIELDS, ATTRIBUTION_LIMITS, Channel, Fulfilment, Status

MONEY = {"max_digits": 12, "decimal_places": 2}


class Attributed(models.Model):
    """Where a cart, and the order made from it, came from: the client's device and app
    version, the campaign's UTM values and the referrer, as the client gave them when the
    cart was created (cleaned by `orders.domain.attribution_clean`; blank when not given)."""

    device = models.CharField(
        max_length=ATTRIBUTION_LIMITS["device"], blank=True, help_text='e.g. "ios", "web"'
    )
    app_version = models.CharField(max_length=ATTRIBUTION_LIMITS["app_version"], blank=True)
    utm_source = models.CharField(max_length=ATTRIBUTION_LIMITS["utm_source"], blank=True)
    utm_medium = models.CharField(max_length=ATTRIBUTION_LIMITS["utm_medium"], blank=True)
    utm_campaign = models.CharField(max_length=ATTRIBUTION_LIMITS["utm_campaign"], blank=True)
    referrer = models.CharField(max_length=ATTRIBUTION_LIMITS["referrer"], blank=True)

    class Meta:
        abstract = True

    @property
    def attribution(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in ATTRIBUTION_FIELDS}


class Cart(Attributed):
    class State(models.TextChoices):
        OPEN = "open", _("open")
        CONVERTED = "converted", _("converted to an order")
        MERGED = "merged", _("merged into another cart")

    token = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    customer = models.ForeignKey(
        "customers.Customer",
        null=True,
        blank=True,
        related_name="carts",
        on_delete=models.SET_NULL,
    )
    channel = models.CharField(max_length=16, choices=[(c.value, c.value) for c in Channel])
    state = models.CharField(max_length=12, choices=State.choices, default=State.OPEN)
    coupon_code = models.CharField(max_length=64, blank=True)
    fulfilment_type = models.CharField(
        max_length=10, choices=[(f.value, f.value) for f in Fulfilment], default=Fulfilment.DELIVERY
    )
    pickup_location = models.ForeignKey(
        "inventory.Location", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # A delivery: where to (the cart's fulfilment block plans the shipments for it) and by
    # which method (a `pricing.ShippingRate` code; blank: the default rate).
    delivery_address = models.JSONField(default=dict, blank=True)
    shipping_method = models.CharField(max_length=32, blank=True)
    # The total of the last quote this cart showed; checkout answers 409 if the price moved.
    quoted_total = models.DecimalField(null=True, blank=True, **MONEY)
    # When the shopper first reached checkout: chose how to get the goods (pickup store or
    # delivery) or placed the order. The funnel report counts checkouts by it.
    checkout_at = models.DateTimeField(null=True, blank=True)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["customer"],
                condition=models.Q(state="open", customer__isnull=False),
                name="cart_one_open_per_customer",
            )
        ]

    def __str__(self) -> str:
        return f"cart {self.token}"


class CartLine(models.Model):
    cart = models.ForeignKey(Cart, related_name="lines", on_delete=models.CASCADE)
    variant = models.ForeignKey("catalog.Variant", on_delete=models.CASCADE, related_name="+")
    quantity = models.PositiveIntegerField()
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["added_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["cart", "variant"], name="cartline_cart_variant_uniq"),
            models.CheckConstraint(condition=models.Q(quantity__gt=0), name="cartline_qty_pos"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × variant {self.variant_id}"


class Order(Attributed):
    number = models.CharField(max_length=16, unique=True)
    # Indexed by `order_customer_id_idx` (customer, id), which also serves every lookup by
    # customer alone: a second index of its own would only slow down writes.
    customer = models.ForeignKey(
        "customers.Customer",
        null=True,
        blank=True,
        related_name="orders",
        on_delete=models.PROTECT,
        db_index=False,
    )
    channel = models.CharField(max_length=16, choices=[(c.value, c.value) for c in Channel])
    fulfilment_type = models.CharField(
        max_length=10, choices=[(f.value, f.value) for f in Fulfilment]
    )
    status = models.CharField(
        max_length=20, choices=[(s.value, s.value) for s in Status], default=Status.PLACED
    )
    # Where the stock is reserved: the pickup store, or the shipping location for delivery.
    location = models.ForeignKey("inventory.Location", on_delete=models.PROTECT, related_name="+")
    # The store the sale belongs to: the till's store for a POS sale, the pickup store for a
    # pickup (it follows a re-route); none for a delivery, which no store sold.
    store = models.ForeignKey(
        "inventory.Location",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    delivery_address = models.JSONField(default=dict, blank=True)
    contact_name = models.CharField(max_length=200, blank=True)
    contact_email = models.EmailField(blank=True)
    contact_phone = models.CharField(max_length=20, blank=True)
    currency = models.CharField(max_length=3)
    subtotal = models.DecimalField(**MONEY)
    discount_total = models.DecimalField(**MONEY)
    # The delivery fee (VAT included), part of `total`: total = subtotal - discount_total
    # + shipping_total.
    shipping_method = models.CharField(max_length=32, blank=True)
    shipping_total = models.DecimalField(default=0, **MONEY)
    total = models.DecimalField(**MONEY)
    points_redeemed = models.PositiveIntegerField(default=0)
    points_value = models.DecimalField(default=0, **MONEY)
    amount_due = models.DecimalField(**MONEY)
    coupon_code = models.CharField(max_length=64, blank=True)
    quote_snapshot = models.JSONField()
    pickup_code = models.CharField(max_length=8, blank=True)
    # How the amount due is paid: authorized online through a provider at checkout, at the
    # store's desk on handover, or nothing to pay (points or discounts cover it all).
    payment_method = models.CharField(
        max_length=16,
        choices=[
            ("online", "online"),
            ("pay_in_store", "pay_in_store"),
            ("till", "till"),
            ("none", "none"),
        ],
        default="online",
    )
    pickup_expires_at = models.DateTimeField(null=True, blank=True)
    # Ship-to-store: when the transfers should have brought the goods to the pickup store
    # (checkout + the longest lead time); a transfer overdue by a day is flagged as lost.
    ready_from = models.DateTimeField(null=True, blank=True)
    # Staff must look at it: e.g. a till sale took units this pickup had reserved.
    needs_attention = models.BooleanField(default=False, db_index=True)
    attention_note = models.CharField(max_length=255, blank=True)
    # When the deadline task found it placed and still not prepared (pickup) or shipped
    # (delivery) after `ORDER_ESCALATE_AFTER_HOURS`: it shows on the store manager's start
    # page until it moves on. A re-route clears it (the new store's clock starts afresh).
    escalated_at = models.DateTimeField(null=True, blank=True)
    cart = models.ForeignKey(
        Cart, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # A till sale's own UUID: a receipt is found by it (e.g. to return its goods).
    till_sale = models.UUIDField(null=True, blank=True, unique=True)
    placed_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # Store operations beyond the model's add/change/view, granted through the roles.
        permissions = [
            ("work_pickup_queue", "Can work the pickup queue (prepare, mark ready, hand over)"),
            ("ship_order", "Can ship and deliver orders"),
            ("cancel_order", "Can cancel an order for the customer"),
            ("reroute_order", "Can move a pickup order to another store"),
            ("sell_for_customer", "Can sell on a customer's behalf at their stores"),
            ("sell_by_phone", "Can sell on a customer's behalf for any store (call centre)"),
        ]
        indexes = [
            models.Index(fields=["location", "status"], name="order_location_status_idx"),
            models.Index(fields=["status", "pickup_expires_at"], name="order_status_expiry_idx"),
            # Reports and the admin's date drill-down select orders by when they were placed.
            models.Index(fields=["placed_at"], name="order_placed_at_idx"),
            # A customer's orders newest first (`me/orders/`, the customer's admin page):
            # the page is read in index order and stops after it, however many orders
            # other customers have.
            models.Index(fields=["customer", "id"], name="order_customer_id_idx"),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def reference(self) -> str:
        return f"order:{self.number}"


class Shipment(models.Model):
    """One parcel of a delivery, from one location: a delivery no single location can fill
    ships in several (`orders.domain.delivery_plan`). Its lines' stock is reserved at and
    consumed from its own location; staff ship and deliver it on its own. The order is
    `shipped` when every shipment is, and `delivered` when every one is."""

    order = models.ForeignKey(Order, related_name="shipments", on_delete=models.CASCADE)
    location = models.ForeignKey("inventory.Location", on_delete=models.PROTECT, related_name="+")
    carrier = models.CharField(max_length=64, blank=True)
    tracking_number = models.CharField(max_length=100, blank=True)
    shipped_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["order", "location"], name="shipment_order_location"),
        ]

    def __str__(self) -> str:
        return f"shipment {self.pk} of {self.order_id} from {self.location_id}"


class OrderLine(models.Model):
    order = models.ForeignKey(Order, related_name="lines", on_delete=models.CASCADE)
    # The delivery shipment that carries the whole line (a line is never split).
    shipment = models.ForeignKey(
        Shipment, null=True, blank=True, related_name="lines", on_delete=models.SET_NULL
    )
    variant = models.ForeignKey("catalog.Variant", on_delete=models.PROTECT, related_name="+")
    sku = models.CharField(max_length=64)
    name = models.CharField(max_length=255)
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(**MONEY)
    discount_total = models.DecimalField(**MONEY)
    line_total = models.DecimalField(**MONEY)
    vat_rate = models.DecimalField(max_digits=5, decimal_places=2)
    vat_amount = models.DecimalField(**MONEY)
    discounts = models.JSONField(default=list)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.sku}"


class AssistedSale(models.Model):
    """A sale made by staff on an identified customer's behalf: a store associate on a
    tablet (`store_assisted`, at `store`) or a call-centre agent (`call_centre`).

    Staff build a cart of its own (no customer on the cart, so the customer's own open
    cart in their app is left alone); the customer it is for is named here. Points and
    coupons need the customer's confirmation code (`consent`, a contact verification of
    the customers app); `consent_confirmed_at` says it was given. At checkout the order
    is recorded here: who sold it, through which channel, from which store.
    """

    cart = models.OneToOneField(Cart, related_name="assisted_sale", on_delete=models.CASCADE)
    customer = models.ForeignKey(
        "customers.Customer", related_name="assisted_sales", on_delete=models.PROTECT
    )
    channel = models.CharField(max_length=16, choices=[(c.value, c.value) for c in Channel])
    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL, related_name="assisted_sales", on_delete=models.PROTECT
    )
    # The associate's store (the one they sell from); none for the call centre.
    store = models.ForeignKey(
        "inventory.Location", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    consent = models.ForeignKey(
        "customers.ContactVerification",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    consent_confirmed_at = models.DateTimeField(null=True, blank=True)
    order = models.OneToOneField(
        Order, null=True, blank=True, related_name="assisted_sale", on_delete=models.PROTECT
    )
    # Who placed the order (the member of staff who checked out; may differ from `staff`,
    # who started the cart).
    placed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        related_name="+",
        on_delete=models.PROTECT,
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.channel} for customer {self.customer_id}"


class OrderTransition(models.Model):
    """Append-only history of status changes: who moved the order, from what, to what, when."""

    order = models.ForeignKey(Order, related_name="transitions", on_delete=models.CASCADE)
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20)
    actor_kind = models.CharField(max_length=10)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(max_length=255, blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.from_status or '—'} → {self.to_status}"


class Tender(models.Model):
    """How part of an order is paid, and where that payment stands.

    An online card tender is `authorized` at checkout through the payment provider and
    `captured` on handover or shipping, or `voided` on cancel or expiry. Points and money
    taken at the store's desk are captured when recorded. Only captured money earns points.
    """

    class State(models.TextChoices):
        AUTHORIZED = "authorized"
        CAPTURED = "captured"
        VOIDED = "voided"

    order = models.ForeignKey(Order, related_name="tenders", on_delete=models.CASCADE)
    kind = models.CharField(max_length=20)  # card, cash, points
    provider = models.CharField(max_length=50, blank=True)
    provider_reference = models.CharField(max_length=100, blank=True)
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=12, choices=State.choices, default=State.CAPTURED)
    captured_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} {self.currency}"


class Notification(models.Model):
    """One message per (order, event, channel): the row makes a retried task a no-op."""

    order = models.ForeignKey(Order, related_name="notifications", on_delete=models.CASCADE)
    event = models.CharField(max_length=40)
    channel = models.CharField(max_length=20)
    recipient = models.CharField(max_length=255)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["order", "event", "channel"], name="notification_once_per_event"
            )
        ]

    def __str__(self) -> str:
        return f"{self.event} via {self.channel}"


class PickupCodeAttempt(models.Model):
    """Every pickup code tried at the desk, right or wrong: guessing locks the handover."""

    order = models.ForeignKey(Order, related_name="pickup_attempts", on_delete=models.CASCADE)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    succeeded = models.BooleanField()
    at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["order", "at"], name="pickup_attempt_order_at_idx")]

    def __str__(self) -> str:
        return f"{'right' if self.succeeded else 'wrong'} code at {self.at:%Y-%m-%d %H:%M}"


class TestProviderCharge(models.Model):
    """The `test` payment provider's own books (what a real provider keeps on its side).

    Only `orders.payments.TestPaymentProvider` writes here; it lets the test provider refuse
    what a real one refuses (capturing a voided authorization, refunding more than captured).
    """

    __test__ = False  # not a pytest test class, whatever its name

    reference = models.CharField(max_length=64, unique=True)
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3)
    captured = models.DecimalField(default=0, **MONEY)
    refunded = models.DecimalField(default=0, **MONEY)
    status = models.CharField(max_length=12)  # authorized, captured, voided
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.reference} {self.status}"
