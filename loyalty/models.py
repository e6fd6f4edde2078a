"""Loyalty models: one points account per customer, its append-only ledger, versioned rules.

`LoyaltyAccount.balance` is a stored copy of the sum of the account's ledger entries, kept
under the account's row lock so the never-negative rule holds under concurrency; the
`verify` service checks it against the ledger. Entries that add points (earns, positive
adjustments) are *lots*: `remaining` says how much of the lot is still unspent, and each
`LoyaltyAllocation` row records how much a debit (redeem, expire, reversal of an earn,
negative adjustment) took from which lot, or how much a redeem's reversal gave back, so
FIFO expiry stays exact after partial redemptions and returns. `remaining` (and, on a
customer merge, `account`) are the only entry columns ever updated.

Rules are versioned: staff never edit a rules row, they publish a new one with its own
tiers, and the row in force at a sale's time is the one that applies to it.

A `LoyaltyHold` sets points aside at a till for a sale in progress: not a ledger entry,
but subtracted from what any other redemption may take until it ends.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class LoyaltyRules(models.Model):
    """One version of the programme's rules, in force from `effective_from` until the next."""

    effective_from = models.DateTimeField(_("effective from"), db_index=True)
    earn_rate = models.DecimalField(
        _("earn rate, points per currency unit"),
        max_digits=9,
        decimal_places=4,
        help_text=_("Points earned per currency unit paid, after discounts and points."),
    )
    redemption_value = models.DecimalField(
        _("redemption value of one point"),
        max_digits=9,
        decimal_places=4,
        help_text=_("1 point pays this many currency units."),
    )
    max_redeem_percent = models.DecimalField(
        _("max share of an order payable with points, %"), max_digits=5, decimal_places=2
    )
    points_lifetime_days = models.PositiveIntegerField(
        _("points lifetime, days"),
        null=True,
        blank=True,
        help_text=_("Empty: points never expire."),
    )
    excluded_categories = models.ManyToManyField(
        "catalog.Category",
        blank=True,
        related_name="+",
        verbose_name=_("categories excluded from earning"),
        help_text=_("Sub-categories are excluded too."),
    )
    excluded_variants = models.ManyToManyField(
        "catalog.Variant",
        blank=True,
        related_name="+",
        verbose_name=_("variants excluded from earning"),
    )
    note = models.CharField(_("note"), max_length=255, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        related_name="+",
        on_delete=models.SET_NULL,
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("loyalty rules")
        verbose_name_plural = _("loyalty rules")
        ordering = ["-effective_from", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(earn_rate__gte=0), name="loyalty_rules_earn_rate"),
            models.CheckConstraint(
                condition=Q(redemption_value__gt=0), name="loyalty_rules_redemption_value"
            ),
            models.CheckConstraint(
                condition=Q(max_redeem_percent__gte=0) & Q(max_redeem_percent__lte=100),
                name="loyalty_rules_max_redeem_percent",
            ),
            models.CheckConstraint(
                condition=Q(points_lifetime_days__isnull=True) | Q(points_lifetime_days__gte=1),
                name="loyalty_rules_lifetime",
            ),
        ]

    def __str__(self) -> str:
        return f"Rules #{self.pk} from {self.effective_from:%Y-%m-%d %H:%M}"


class Tier(models.Model):
    """A level reached by rolling 12-month spend; its multiplier scales earned points."""

    rules = models.ForeignKey(LoyaltyRules, related_name="tiers", on_delete=models.CASCADE)
    name = models.CharField(_("name"), max_length=50)
    min_spend = models.DecimalField(
        _("minimum rolling 12-month spend"), max_digits=12, decimal_places=2
    )
    multiplier = models.DecimalField(_("earn multiplier"), max_digits=5, decimal_places=2)

    class Meta:
        verbose_name = _("tier")
        verbose_name_plural = _("tiers")
        ordering = ["rules", "min_spend"]
        constraints = [
            models.UniqueConstraint(fields=["rules", "name"], name="loyalty_tier_name_uniq"),
            models.UniqueConstraint(fields=["rules", "min_spend"], name="loyalty_tier_spend_uniq"),
            models.CheckConstraint(condition=Q(min_spend__gte=0), name="loyalty_tier_min_spend"),
            models.CheckConstraint(condition=Q(multiplier__gt=0), name="loyalty_tier_multiplier"),
        ]

    def __str__(self) -> str:
        return f"{self.name} (×{self.multiplier})"


class LoyaltyAccount(models.Model):
    """The one points account of a customer; `balance` always equals the sum of its entries."""

    customer = models.OneToOneField(
        "customers.Customer",
        related_name="loyalty_account",
        on_delete=models.PROTECT,
        verbose_name=_("customer"),
    )
    balance = models.IntegerField(_("balance, points"), default=0)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("loyalty account")
        verbose_name_plural = _("loyalty accounts")
        constraints = [
            models.CheckConstraint(condition=Q(balance__gte=0), name="loyalty_balance_not_negative")
        ]
        permissions = [
            # Within the limit of the user's role (staff.roles; LOYALTY_ADJUST_LIMIT_RESOLVER).
            ("adjust_points", _("Can adjust points by hand, within the role's limit")),
            ("adjust_points_unlimited", _("Can adjust points by hand above any role's limit")),
        ]

    def __str__(self) -> str:
        return f"{self.customer} — {self.balance} pts"


class EntryKind(models.TextChoices):
    EARN = "earn", _("earn")
    REDEEM = "redeem", _("redeem")
    REVERSE = "reverse", _("reverse")
    EXPIRE = "expire", _("expire")
    ADJUST = "adjust", _("adjust")


class AdjustReason(models.TextChoices):
    """Why points were adjusted by hand: reportable codes; the free text says the rest."""

    GOODWILL = "goodwill", _("goodwill gesture")
    MISSING_PURCHASE = "missing_purchase", _("purchase not credited")
    CORRECTION = "correction", _("correction of an error")
    COMPLAINT = "complaint", _("complaint settlement")
    CAMPAIGN = "campaign", _("campaign or welcome bonus")
    OTHER = "other", _("other (explain in the text)")


class Channel(models.TextChoices):
    WEB = "web", _("web")
    APP = "app", _("app")
    POS = "pos", _("store (POS)")
    STORE_ASSISTED = "store_assisted", _("store associate for the customer")
    CALL_CENTRE = "call_centre", _("call centre")
    ADMIN = "admin", _("staff (admin)")
    SYSTEM = "system", _("system")


# Where a sale happens; earns and redemptions carry one of these.
SALES_CHANNELS = frozenset(
    {Channel.WEB, Channel.APP, Channel.POS, Channel.STORE_ASSISTED, Channel.CALL_CENTRE}
)


class LoyaltyEntry(models.Model):
    """One append-only movement of points; `points` is signed (earns +, redeems −)."""

    account = models.ForeignKey(
        LoyaltyAccount, related_name="entries", on_delete=models.PROTECT, verbose_name=_("account")
    )
    kind = models.CharField(_("kind"), max_length=10, choices=EntryKind.choices)
    points = models.IntegerField(_("points"))
    # What the entry belongs to, named by reference because orders and POS sit above
    # loyalty: "order:W-1001", "pos-sale:<uuid>", "return:R-17".
    reference = models.CharField(_("reference"), max_length=100, blank=True, db_index=True)
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    reverses = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        related_name="reversals",
        on_delete=models.PROTECT,
        verbose_name=_("reverses"),
    )
    # For a reversal: how many of the original's points it accounts for. For an earn's
    # reversal this can exceed |points| when the customer had already spent the points
    # (the balance never goes negative; the shortfall is recorded in `details`).
    reversed_points = models.PositiveIntegerField(_("reversed points"), null=True, blank=True)
    # For earns: the money paid that earned them (tier spend); negative on an earn's reversal.
    amount_paid = models.DecimalField(
        _("amount paid"), max_digits=12, decimal_places=2, null=True, blank=True
    )
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    remaining = models.IntegerField(_("unspent points of this lot"), null=True, blank=True)
    rules = models.ForeignKey(
        LoyaltyRules,
        null=True,
        blank=True,
        related_name="+",
        on_delete=models.PROTECT,
        verbose_name=_("rules applied"),
    )
    reason = models.TextField(_("reason"), blank=True)
    # Manual adjustments only (AdjustReason); empty on every other kind of entry.
    reason_code = models.CharField(
        _("reason code"), max_length=20, choices=AdjustReason.choices, blank=True, default=""
    )
    details = models.JSONField(_("details"), default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        related_name="+",
        on_delete=models.SET_NULL,
        verbose_name=_("created by"),
    )
    # The store (or shipping location) of the sale the entry belongs to, when it was written;
    # a reversal has its original's. None for entries of no sale (adjustments, expiry).
    location = models.ForeignKey(
        "inventory.Location",
        null=True,
        blank=True,
        related_name="+",
        on_delete=models.PROTECT,
        verbose_name=_("location"),
    )
    # The business time (the sale's time for an earn); created_at is when it was written.
    occurred_at = models.DateTimeField(_("occurred at"), default=timezone.now)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("loyalty entry")
        verbose_name_plural = _("loyalty entries")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["account", "-id"], name="loyalty_entry_account_idx"),
            models.Index(
                fields=["account", "expires_at"],
                condition=Q(remaining__gt=0),
                name="loyalty_open_lots_idx",
            ),
            models.Index(
                fields=["expires_at"], condition=Q(remaining__gt=0), name="loyalty_due_lots_idx"
            ),
            models.Index(fields=["occurred_at"], name="loyalty_entry_occurred_idx"),
        ]
        constraints = [
            # Once per sale: one earn and one redemption per reference.
            models.UniqueConstraint(
                fields=["kind", "reference"],
                condition=Q(kind__in=["earn", "redeem"]),
                name="loyalty_entry_once_per_reference",
            ),
            models.CheckConstraint(
                condition=~Q(kind="earn") | Q(points__gte=0), name="loyalty_earn_not_negative"
            ),
            models.CheckConstraint(
                condition=~Q(kind__in=["redeem", "expire"]) | Q(points__lt=0),
                name="loyalty_debit_negative",
            ),
            models.CheckConstraint(
                condition=~Q(kind="adjust") | ~Q(points=0), name="loyalty_adjust_not_zero"
            ),
            models.CheckConstraint(
                condition=Q(remaining__isnull=True)
                | (Q(remaining__gte=0) & Q(remaining__lte=models.F("points"))),
                name="loyalty_remaining_within_lot",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.points:+d} {self.reference}".strip()


class LoyaltyAllocation(models.Model):
    """How one entry changed one lot: negative = points taken from it, positive = given back."""

    entry = models.ForeignKey(LoyaltyEntry, related_name="allocations", on_delete=models.PROTECT)
    lot = models.ForeignKey(LoyaltyEntry, related_name="lot_allocations", on_delete=models.PROTECT)
    points = models.IntegerField()

    class Meta:
        verbose_name = _("lot allocation")
        verbose_name_plural = _("lot allocations")
        constraints = [
            models.CheckConstraint(condition=~Q(points=0), name="loyalty_allocation_not_zero")
        ]

    def __str__(self) -> str:
        return f"{self.entry_id} → lot {self.lot_id}: {self.points:+d}"


class HoldStatus(models.TextChoices):
    HELD = "held", _("held")
    CONFIRMED = "confirmed", _("confirmed by the customer")
    CONVERTED = "converted", _("converted into a redemption")
    EXPIRED = "expired", _("expired")
    RELEASED = "released", _("released")


# A hold in one of these keeps its points out of every other redemption until it expires.
OPEN_HOLD_STATUSES = (HoldStatus.HELD, HoldStatus.CONFIRMED)


class LoyaltyHold(models.Model):
    """Points set aside at a till for a sale in progress, so no other channel spends them.

    A hold is not a ledger entry: the balance does not change until a synced sale converts
    the hold into a redemption. While it is open and not past `expires_at` its points are
    subtracted from what any other redemption may take. Above the confirmation limit the
    customer confirms it with a one-time code (only its HMAC is stored).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey(
        LoyaltyAccount, related_name="holds", on_delete=models.PROTECT, verbose_name=_("account")
    )
    points = models.PositiveIntegerField(_("points"))
    order_total = models.DecimalField(_("basket total"), max_digits=12, decimal_places=2)
    status = models.CharField(
        _("status"), max_length=10, choices=HoldStatus.choices, default=HoldStatus.HELD
    )
    terminal_code = models.CharField(_("terminal"), max_length=32)
    # The till's own name for the basket, to find the hold again after a restart.
    reference = models.CharField(_("till reference"), max_length=100, blank=True)
    expires_at = models.DateTimeField(_("expires at"))
    confirmation_required = models.BooleanField(_("needs the customer's code"), default=False)
    code_hash = models.CharField(_("code (HMAC)"), max_length=64, blank=True)
    code_expires_at = models.DateTimeField(_("code expires at"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("wrong attempts"), default=0)
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)
    redeem_entry = models.OneToOneField(
        LoyaltyEntry,
        null=True,
        blank=True,
        related_name="hold",
        on_delete=models.PROTECT,
        verbose_name=_("redemption"),
    )
    sale_reference = models.CharField(_("sale"), max_length=100, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("points hold")
        verbose_name_plural = _("points holds")
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["account", "expires_at"],
                condition=Q(status__in=["held", "confirmed"]),
                name="loyalty_open_holds_idx",
            ),
            models.Index(
                fields=["expires_at"],
                condition=Q(status__in=["held", "confirmed"]),
                name="loyalty_due_holds_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(points__gt=0), name="loyalty_hold_points_positive"),
        ]

    def __str__(self) -> str:
        return f"hold {self.points} pts ({self.get_status_display()})"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_HOLD_STATUSES
