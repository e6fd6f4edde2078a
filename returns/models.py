"""Returns models: a return of an order of any channel, its lines, and how it was refunded.

A `Return` belongs to one original order (web, app or a till sale) and its `ReturnLine`s
point at that order's lines, so "never more than was bought" is a sum over the lines of
every return of that order (taken under the order's row lock). A customer's request from
the app is a return in status `requested` that moves nothing; staff complete it when the
goods arrive, and only then do stock, points and money move. `RefundTender` rows say how
the refund went back: points as points, card through the payment provider (pending until
the provider confirms), cash paid out at the desk, or credit towards an exchange.
Stock and points effects live in their own ledgers under the reference "return:<number>".
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

MONEY = {"max_digits": 12, "decimal_places": 2}


class ReturnReason(models.TextChoices):
    CHANGED_MIND = "changed_mind", _("changed mind")
    WRONG_SIZE = "wrong_size", _("wrong size or fit")
    DEFECTIVE = "defective", _("defective")
    NOT_AS_DESCRIBED = "not_as_described", _("not as described")
    DAMAGED_IN_TRANSIT = "damaged_in_transit", _("damaged in transit")
    WRONG_ITEM = "wrong_item", _("wrong item sent")
    EXCHANGE = "exchange", _("exchange for another item")
    OTHER = "other", _("other")


class Condition(models.TextChoices):
    RESALEABLE = "resaleable", _("resaleable")
    DAMAGED = "damaged", _("damaged (written off)")


class ReturnWindow(models.Model):
    """How many days after completion a category's goods may be returned (head office).

    Applies to the category and every category below it that has no window of its own;
    without one, the `RETURN_WINDOW_DAYS` setting applies.
    """

    category = models.OneToOneField(
        "catalog.Category",
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("category"),
    )
    days = models.PositiveIntegerField(_("return window, days"))
    note = models.CharField(_("note"), max_length=255, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("return window")
        verbose_name_plural = _("return windows")
        ordering = ["category__name"]

    def __str__(self) -> str:
        return f"{self.category}: {self.days} days"


class Return(models.Model):
    class Status(models.TextChoices):
        REQUESTED = "requested", _("requested by the customer")
        COMPLETED = "completed", _("completed")
        CANCELLED = "cancelled", _("cancelled")

    class Source(models.TextChoices):
        DESK = "desk", _("store desk (admin)")
        STAFF_API = "staff_api", _("store tablet")
        CUSTOMER = "customer", _("customer (app or web)")
        POS = "pos", _("till")

    number = models.CharField(_("number"), max_length=16, unique=True)
    order = models.ForeignKey(
        "orders.Order", on_delete=models.PROTECT, related_name="+", verbose_name=_("order")
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.COMPLETED
    )
    source = models.CharField(_("source"), max_length=10, choices=Source.choices)
    # Where the goods are handed in (any store or warehouse, not necessarily the seller).
    location = models.ForeignKey(
        "inventory.Location",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("received at"),
    )
    courier_pickup = models.BooleanField(_("courier pickup"), default=False)
    reason = models.CharField(_("reason"), max_length=20, choices=ReturnReason.choices)
    note = models.CharField(_("note"), max_length=255, blank=True)
    window_override_reason = models.CharField(
        _("return window overridden because"), max_length=255, blank=True
    )
    currency = models.CharField(max_length=3)
    # What the returned units were paid (points' money value included) …
    value = models.DecimalField(_("value of the returned units"), default=0, **MONEY)
    # … and what goes back as money, after points that could not be taken back.
    refund_amount = models.DecimalField(_("money refunded"), default=0, **MONEY)
    points_returned = models.PositiveIntegerField(_("spent points given back"), default=0)
    points_reversed = models.PositiveIntegerField(_("earned points taken back"), default=0)
    points_shortfall = models.PositiveIntegerField(_("points already spent"), default=0)
    shortfall_deduction = models.DecimalField(
        _("deducted for points already spent"), default=0, **MONEY
    )
    # An exchange: the new sale made in the same step.
    exchange_order = models.ForeignKey(
        "orders.Order",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("exchanged for"),
    )
    pos_sale = models.UUIDField(_("till sale"), null=True, blank=True, unique=True)
    processed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("processed by"),
    )
    terminal = models.CharField(_("terminal"), max_length=32, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("return")
        verbose_name_plural = _("returns")
        ordering = ["-created_at", "-id"]
        permissions = [
            ("override_return_window", _("Can accept a return after its window, with a reason")),
            ("refund_other_tender", _("Can refund to another tender than was paid")),
        ]
        indexes = [
            models.Index(fields=["location", "status"], name="return_location_status_idx"),
            models.Index(fields=["order", "status"], name="return_order_status_idx"),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def reference(self) -> str:
        return f"return:{self.number}"


class ReturnLine(models.Model):
    ret = models.ForeignKey(Return, related_name="lines", on_delete=models.CASCADE)
    order_line = models.ForeignKey("orders.OrderLine", on_delete=models.PROTECT, related_name="+")
    variant = models.ForeignKey("catalog.Variant", on_delete=models.PROTECT, related_name="+")
    sku = models.CharField(max_length=64)
    name = models.CharField(max_length=255)
    quantity = models.PositiveIntegerField()
    condition = models.CharField(max_length=12, choices=Condition.choices)
    value = models.DecimalField(_("paid for these units"), default=0, **MONEY)
    points_reversed = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="returnline_qty_pos"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.sku} ({self.condition})"


class RefundTender(models.Model):
    """One part of a refund: points back as points, card through the provider, cash at the
    desk or credit towards an exchange. A card refund is `pending` until the provider
    confirms it (a background task calls the provider after the return commits)."""

    class State(models.TextChoices):
        PENDING = "pending", _("pending at the provider")
        REFUNDED = "refunded", _("refunded")
        FAILED = "failed", _("failed, needs staff")

    ret = models.ForeignKey(Return, related_name="refunds", on_delete=models.CASCADE)
    kind = models.CharField(_("kind"), max_length=20)  # points, card, cash, exchange, …
    amount = models.DecimalField(_("amount"), **MONEY)
    points = models.PositiveIntegerField(_("points"), default=0)
    currency = models.CharField(max_length=3)
    # The tender of the original order this gives back (empty for another tender).
    original_tender = models.ForeignKey(
        "orders.Tender", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    provider = models.CharField(max_length=50, blank=True)
    provider_reference = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=10, choices=State.choices, default=State.REFUNDED)
    reason = models.CharField(_("why another tender"), max_length=255, blank=True)
    error = models.CharField(max_length=255, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    refunded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="refundtender_amount_pos"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} {self.currency} ({self.status})"
