"""Pricing models: the price book (price lists, effective-dated prices), promotions, coupons.

One price book: the quote engine prices everything from the single active default price
list (a partial unique constraint allows only one). Price periods are half-open,
`valid_from <= t < valid_until` (`valid_until` empty = open-ended); two periods of the same
variant in the same list never overlap — an exclusion constraint on PostgreSQL (created
by migration 0002, outside the model state so SQLite migrates too) and validation in
`pricing.services` everywhere.

Price lists, prices, promotions and coupons keep an audit history (django-simple-history):
every save writes a historical row with who (the request's user, recorded by
`HistoryRequestMiddleware`) and why (`history_reason`, set by the admin around the
service call). Bulk writes (`bulk_create`, `QuerySet.update`) leave no history row unless
they go through `simple_history.utils.bulk_create_with_history`.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords
from simple_history.utils import get_change_reason_from_object

MONEY = {"max_digits": 14, "decimal_places": 3}
COUPON_CODE_VALIDATOR = RegexValidator(
    r"^[A-Z0-9][A-Z0-9_-]{2,63}$",
    _("3 to 64 characters: letters, digits, dashes and underscores."),
)


def _default_currency() -> str:
    return settings.DEFAULT_CURRENCY


# Why the changes being saved are made: the admin sets it around the service it calls, so
# the services need no reason parameter of their own and the history records it.
_history_reason: ContextVar[str] = ContextVar("pricing_history_reason", default="")


@contextmanager
def history_reason(reason: str | None) -> Iterator[None]:
    """Record `reason` as the change reason of every pricing history row written inside."""
    token = _history_reason.set((reason or "").strip())
    try:
        yield
    finally:
        _history_reason.reset(token)


def history_reason_current() -> str:
    """The reason set by the innermost `history_reason` block ("" outside any)."""
    return _history_reason.get()


class PricingHistory(HistoricalRecords):
    """Audit history of a pricing model: who changed a row, when, to what, and why.

    The reason is the instance's own `_change_reason` (simple-history's convention) or else
    the one set with `history_reason`; a text field, so a long reason is never cut off.
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("history_change_reason_field", models.TextField(null=True))
        super().__init__(**kwargs)

    def get_change_reason_for_object(self, instance, history_type, using):
        return get_change_reason_from_object(instance) or history_reason_current() or None


class PriceList(models.Model):
    name = models.CharField(_("name"), max_length=120, unique=True)
    currency = models.CharField(_("currency"), max_length=3, default=_default_currency)
    is_default = models.BooleanField(
        _("default"), default=False, help_text=_("The price book every channel sells from.")
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    history = PricingHistory()

    class Meta:
        verbose_name = _("price list")
        verbose_name_plural = _("price lists")
        ordering = ["-is_default", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=models.Q(is_default=True),
                name="pricelist_one_default",
            ),
            models.CheckConstraint(
                condition=models.Q(is_default=False) | models.Q(is_active=True),
                name="pricelist_default_is_active",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.currency})"


class Price(models.Model):
    """The base price of one variant in one price list during [valid_from, valid_until)."""

    price_list = models.ForeignKey(
        PriceList, related_name="prices", on_delete=models.CASCADE, verbose_name=_("price list")
    )
    variant = models.ForeignKey(
        "catalog.Variant",
        related_name="prices",
        on_delete=models.PROTECT,
        verbose_name=_("variant"),
    )
    amount = models.DecimalField(_("amount"), **MONEY)
    valid_from = models.DateTimeField(_("valid from"))
    valid_until = models.DateTimeField(
        _("valid until"), null=True, blank=True, help_text=_("Exclusive; empty = open-ended.")
    )
    created_at = models.DateTimeField(auto_now_add=True)
    history = PricingHistory()

    class Meta:
        verbose_name = _("price")
        verbose_name_plural = _("prices")
        ordering = ["variant_id", "valid_from"]
        indexes = [
            models.Index(
                fields=["price_list", "variant", "valid_from"], name="price_list_variant_from"
            )
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gte=0), name="price_amount_gte_0"),
            models.CheckConstraint(
                condition=models.Q(valid_until__isnull=True)
                | models.Q(valid_until__gt=models.F("valid_from")),
                name="price_period_not_empty",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.variant_id} {self.amount} from {self.valid_from:%Y-%m-%d %H:%M}"


class Promotion(models.Model):
    """A rule that lowers prices in every channel alike, optionally unlocked by a coupon.

    `value` means: percent (percent_off, basket_threshold), an amount off each unit or,
    for the basket scope, off the basket once (amount_off), or the unit price
    (fixed_price). Money values are in the default price list's currency. A promotion
    that has at least one coupon applies only when one of its codes is given.
    """

    class Kind(models.TextChoices):
        PERCENT_OFF = "percent_off", _("percent off")
        AMOUNT_OFF = "amount_off", _("amount off")
        FIXED_PRICE = "fixed_price", _("fixed price")
        BUY_X_GET_Y = "buy_x_get_y", _("buy N get M (cheapest free)")
        BASKET_THRESHOLD = "basket_threshold", _("percent off from a basket amount")

    class Scope(models.TextChoices):
        BASKET = "basket", _("whole basket")
        VARIANTS = "variants", _("variants")
        PRODUCTS = "products", _("products")
        CATEGORIES = "categories", _("categories (with sub-categories)")

    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    scope = models.CharField(_("scope"), max_length=12, choices=Scope.choices)
    value = models.DecimalField(_("value"), default=0, **MONEY)
    buy_quantity = models.PositiveSmallIntegerField(_("buy N"), default=0)
    get_quantity = models.PositiveSmallIntegerField(_("get M free"), default=0)
    threshold = models.DecimalField(_("basket amount from"), default=0, **MONEY)
    variants = models.ManyToManyField(
        "catalog.Variant", blank=True, related_name="+", verbose_name=_("variants")
    )
    products = models.ManyToManyField(
        "catalog.Product", blank=True, related_name="+", verbose_name=_("products")
    )
    categories = models.ManyToManyField(
        "catalog.Category", blank=True, related_name="+", verbose_name=_("categories")
    )
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"), null=True, blank=True)
    priority = models.SmallIntegerField(
        _("priority"), default=0, help_text=_("Higher priorities apply first.")
    )
    is_stackable = models.BooleanField(
        _("stacks with others"),
        default=True,
        help_text=_("A non-stacking promotion never shares a line with another promotion."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # The scope (variants, products, categories) is not in the history: only the fields.
    history = PricingHistory()

    class Meta:
        verbose_name = _("promotion")
        verbose_name_plural = _("promotions")
        ordering = ["-priority", "id"]
        indexes = [models.Index(fields=["is_active", "starts_at"], name="promotion_live_idx")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__isnull=True)
                | models.Q(ends_at__gt=models.F("starts_at")),
                name="promotion_window_not_empty",
            ),
            models.CheckConstraint(
                condition=models.Q(value__gte=0) & models.Q(threshold__gte=0),
                name="promotion_values_gte_0",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Coupon(models.Model):
    """A code that unlocks its promotion; stored upper-case, matched case-insensitively."""

    promotion = models.ForeignKey(
        Promotion, related_name="coupons", on_delete=models.CASCADE, verbose_name=_("promotion")
    )
    code = models.CharField(
        _("code"), max_length=64, unique=True, validators=[COUPON_CODE_VALIDATOR]
    )
    usage_limit = models.PositiveIntegerField(
        _("uses in total"), null=True, blank=True, help_text=_("Empty = unlimited.")
    )
    usage_limit_per_customer = models.PositiveIntegerField(
        _("uses per customer"),
        null=True,
        blank=True,
        help_text=_("Empty = unlimited. When set, only identified customers may use it."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    history = PricingHistory()

    class Meta:
        verbose_name = _("coupon")
        verbose_name_plural = _("coupons")

    def __str__(self) -> str:
        return self.code


class CouponRedemption(models.Model):
    """One use of a coupon by an order (`reference`), given back when the order is cancelled.

    The customer is an id, not a foreign key: customers sit above pricing.
    """

    coupon = models.ForeignKey(Coupon, related_name="redemptions", on_delete=models.PROTECT)
    customer_id = models.BigIntegerField(_("customer id"), null=True, blank=True)
    reference = models.CharField(_("reference"), max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)
    released_at = models.DateTimeField(_("given back at"), null=True, blank=True)

    class Meta:
        verbose_name = _("coupon use")
        verbose_name_plural = _("coupon uses")
        constraints = [
            models.UniqueConstraint(
                fields=["coupon", "reference"], name="couponredemption_coupon_reference"
            )
        ]
        indexes = [
            models.Index(fields=["coupon", "customer_id"], name="couponredemption_customer"),
            models.Index(fields=["reference"], name="couponredemption_reference"),
        ]

    def __str__(self) -> str:
        return f"{self.coupon_id}:{self.reference}"


class RulesRevision(models.Model):
    """One row whose `token` changes in the same transaction as any write the promotion
    rules depend on: prices, price lists, promotions and their scopes, coupons, categories.

    Database triggers do the change (migration 0004), so no writer can forget it: services,
    the admin, bulk seeds and raw SQL alike. The token never repeats — a sequence value on
    PostgreSQL (not rolled back with a transaction), a random 64-bit value on SQLite — so a
    cache filled inside a transaction that rolled back never matches again. Processes cache
    the rules per token (`pricing.selectors`); reading the token in the same statement as
    the basket's variants makes a stale rule impossible.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    token = models.BigIntegerField(default=0)
    changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("promotion rules revision")
        verbose_name_plural = _("promotion rules revision")

    def __str__(self) -> str:
        return str(self.token)


class ShippingRate(models.Model):
    """What a delivery method costs the customer: one fee per delivery order, whatever the
    number of shipments it is split into (the split is the retailer's doing), free when
    the goods after discounts reach `free_above`. VAT included at `vat_rate`.

    Read fresh by every delivery quote (one small query, never cached), so a rate change
    applies to the very next quote and no quote is priced with a stale rate. Edited by
    head office in the admin (`pricing.change_shippingrate`).
    """

    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    price = models.DecimalField(_("price"), max_digits=10, decimal_places=2)
    free_above = models.DecimalField(
        _("free from"),
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("Free when the goods (after discounts) cost at least this; empty: never."),
    )
    vat_rate = models.DecimalField(_("VAT rate (%)"), max_digits=5, decimal_places=2)
    is_active = models.BooleanField(_("active"), default=True)
    position = models.PositiveSmallIntegerField(
        _("position"), default=100, help_text=_("Lower first; the first active one is the default.")
    )

    class Meta:
        verbose_name = _("shipping rate")
        verbose_name_plural = _("shipping rates")
        ordering = ["position", "code"]
        constraints = [
            models.CheckConstraint(condition=models.Q(price__gte=0), name="shippingrate_price_pos"),
            models.CheckConstraint(
                condition=models.Q(vat_rate__gte=0) & models.Q(vat_rate__lt=100),
                name="shippingrate_vat_rate_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.price})"
