"""Terminals: the registered tills of a store, each with its own hashed API token."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from orders.models import Order


class Terminal(models.Model):
    """A till of one store. Its token is shown once at registration and stored hashed.

    `last_cursor` and `last_sale_at` say how far the till has synced (admin: sync lag).
    """

    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100, blank=True)
    location = models.ForeignKey(
        "inventory.Location", on_delete=models.PROTECT, related_name="+", verbose_name=_("store")
    )
    is_active = models.BooleanField(_("active"), default=True)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    token_hint = models.CharField(
        _("token hint"), max_length=8, editable=False, help_text=_("The token's first characters.")
    )
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_seen_at = models.DateTimeField(_("last seen"), null=True, blank=True, editable=False)
    last_cursor = models.JSONField(default=dict, blank=True, editable=False)
    last_sale_at = models.DateTimeField(
        _("last sale synced"), null=True, blank=True, editable=False
    )

    class Meta:
        ordering = ["location__code", "code"]

    def __str__(self) -> str:
        return self.code

    # DRF's permission checks read these of `request.user`-like objects; a terminal is
    # authenticated, but it is not a person and has no staff rights.
    is_authenticated = True
    is_staff = False


class PosSale(models.Model):
    """One sale made at a till, by its terminal-generated UUID: the row that makes sync
    exactly-once. Claimed (inserted) in the same transaction that records the sale's order,
    stock and points, so a replay finds it and records nothing again."""

    id = models.UUIDField(primary_key=True)
    terminal = models.ForeignKey(Terminal, on_delete=models.PROTECT, related_name="sales")
    order_number = models.CharField(max_length=16, db_index=True)
    occurred_at = models.DateTimeField(_("happened at the till"))
    recorded_at = models.DateTimeField(_("recorded"), auto_now_add=True)
    cashier = models.CharField(max_length=32, blank=True)
    customer_id = models.BigIntegerField(null=True, blank=True)
    # What staff should look at: {"coupon": "usage_limit", "points": {...}, "prices": n}
    flags = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-occurred_at"]
        indexes = [models.Index(fields=["terminal", "occurred_at"], name="possale_terminal_at_idx")]

    def __str__(self) -> str:
        return f"{self.id} → {self.order_number}"


class PriceDiscrepancy(models.Model):
    """A till charged another price than the engine would have at the sale's time.

    Listed for staff, never rejected: the customer paid what the till said."""

    sale = models.ForeignKey(PosSale, on_delete=models.CASCADE, related_name="discrepancies")
    location = models.ForeignKey("inventory.Location", on_delete=models.PROTECT, related_name="+")
    sku = models.CharField(max_length=64)
    quantity = models.IntegerField()
    charged = models.DecimalField(max_digits=12, decimal_places=2)
    expected = models.DecimalField(max_digits=12, decimal_places=2)
    difference = models.DecimalField(max_digits=12, decimal_places=2)
    occurred_at = models.DateTimeField()

    class Meta:
        ordering = ["-occurred_at"]

    def __str__(self) -> str:
        return f"{self.sku}: charged {self.charged}, expected {self.expected}"


class ShortPickup(Order):
    """Pickup orders a till sale left short, as the store's reconciliation list (a proxy)."""

    class Meta:
        proxy = True
        verbose_name = _("short pickup")
        verbose_name_plural = _("short pickups")
