"""Catalog models: a category tree, products and their sellable variants with barcodes."""

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower, Upper
from django.utils.translation import gettext_lazy as _


class Category(models.Model):
    name = models.CharField(_("name"), max_length=200)
    slug = models.SlugField(_("slug"), max_length=200, unique=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, related_name="children", on_delete=models.PROTECT
    )
    position = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("category")
        verbose_name_plural = _("categories")
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    name = models.CharField(_("name"), max_length=255)
    slug = models.SlugField(_("slug"), max_length=255, unique=True)
    description = models.TextField(_("description"), blank=True)
    brand = models.CharField(_("brand"), max_length=120, blank=True)
    category = models.ForeignKey(
        Category, related_name="products", on_delete=models.PROTECT, verbose_name=_("category")
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        indexes = [models.Index(Lower("name"), name="product_name_lower_idx")]

    def __str__(self) -> str:
        return self.name


class Variant(models.Model):
    """The sellable unit: one SKU, its options (size, colour…), VAT rate and barcodes."""

    product = models.ForeignKey(Product, related_name="variants", on_delete=models.CASCADE)
    sku = models.CharField(_("SKU"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=255, blank=True)
    options = models.JSONField(_("options"), default=dict, blank=True)
    vat_rate = models.DecimalField(
        _("VAT rate, %"),
        max_digits=5,
        decimal_places=2,
        validators=[MinValueValidator(0), MaxValueValidator(Decimal("99.99"))],
    )
    is_active = models.BooleanField(_("active"), default=True)
    position = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        verbose_name = _("variant")
        verbose_name_plural = _("variants")
        ordering = ["position", "id"]
        # `sku__iexact` (the product search's exact SKU) compiles to UPPER(sku) = UPPER(%s).
        indexes = [
            models.Index(Upper("sku"), name="variant_sku_upper_idx"),
            # The admin's VAT filter lists the rates in use by probing it once per rate.
            models.Index(fields=["vat_rate"], name="variant_vat_rate_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(vat_rate__gte=0) & models.Q(vat_rate__lt=100),
                name="variant_vat_rate_range",
            )
        ]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}".strip()


class Barcode(models.Model):
    variant = models.ForeignKey(Variant, related_name="barcodes", on_delete=models.CASCADE)
    code = models.CharField(_("code"), max_length=14, unique=True)
    kind = models.CharField(_("kind"), max_length=8)

    class Meta:
        verbose_name = _("barcode")
        verbose_name_plural = _("barcodes")

    def __str__(self) -> str:
        return self.code


class CatalogRevision(models.Model):
    """One row whose `token` changes in the same transaction as any write to variants or
    barcodes.

    Database triggers do the change (migration 0003), so no writer can forget it: services,
    the admin, imports and raw SQL alike. The token never repeats — a sequence value on
    PostgreSQL (not rolled back with a transaction), a random 64-bit value on SQLite — so a
    cache filled inside a transaction that rolled back never matches again. The product
    API keeps the variants it read per token (`catalog.selectors.variant_rows`) and reads
    the token in the same statement as the variants it does not hold, which makes a stale
    variant impossible. As `pricing.models.RulesRevision` for the promotion rules.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    token = models.BigIntegerField(default=0)
    changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("catalog revision")
        verbose_name_plural = _("catalog revision")

    def __str__(self) -> str:
        return str(self.token)
