"""Inventory models: locations, stock levels, the append-only movement ledger, reservations.

A `StockLevel` is the balance of one variant at one location; every change to it writes a
`StockMovement` in the same transaction, carrying the signed deltas it applied, so the
balance can always be recomputed from the ledger (`services.verify_ledger`). Reservations
and movements name their cause by a string reference ("order:A1B2C3", "pos:<uuid>"),
never by a foreign key to a higher app. Only `inventory.services` writes these rows.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from inventory.domain import is_valid_time_zone, opening_hours_problems


def validate_time_zone(value: str) -> None:
    if not is_valid_time_zone(value):
        raise ValidationError(_("%(value)s is not an IANA time zone."), params={"value": value})


def validate_opening_hours(value) -> None:
    problems = opening_hours_problems(value)
    if problems:
        raise ValidationError(problems)


class Location(models.Model):
    """A store or a warehouse. Stores may be pickup points; any location may ship online."""

    class Kind(models.TextChoices):
        STORE = "store", _("store")
        WAREHOUSE = "warehouse", _("warehouse")

    code = models.SlugField(_("code"), max_length=32, unique=True, allow_unicode=False)
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.STORE)
    address_line = models.CharField(_("address"), max_length=255, blank=True)
    postal_code = models.CharField(_("postal code"), max_length=20, blank=True)
    city = models.CharField(_("city"), max_length=100, blank=True)
    country = models.CharField(_("country (ISO 3166)"), max_length=2, default="DE")
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    latitude = models.DecimalField(
        _("latitude"), max_digits=9, decimal_places=6, null=True, blank=True
    )
    longitude = models.DecimalField(
        _("longitude"), max_digits=9, decimal_places=6, null=True, blank=True
    )
    time_zone = models.CharField(
        _("time zone"), max_length=64, default="UTC", validators=[validate_time_zone]
    )
    opening_hours = models.JSONField(
        _("opening hours"),
        default=dict,
        blank=True,
        validators=[validate_opening_hours],
        help_text=_('Per weekday, e.g. {"mon": [["09:00", "20:00"]], "sun": []}.'),
    )
    is_pickup_point = models.BooleanField(_("pickup point"), default=False)
    ships_online = models.BooleanField(
        _("ships online orders"),
        default=False,
        help_text=_("Its stock counts for delivery orders and it can fulfil them."),
    )
    fulfilment_priority = models.PositiveSmallIntegerField(
        _("fulfilment priority"),
        default=100,
        help_text=_("Lower is preferred when several locations can fulfil a delivery."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("location")
        verbose_name_plural = _("locations")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(latitude__isnull=True, longitude__isnull=True)
                | models.Q(
                    latitude__gte=-90, latitude__lte=90, longitude__gte=-180, longitude__lte=180
                ),
                name="location_coordinates_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} — {self.name}"


class LocationStaff(models.Model):
    """A staff user working at a location: scopes their stock operations and pickup queues."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        related_name="inventory_locations",
        on_delete=models.CASCADE,
        verbose_name=_("user"),
    )
    location = models.ForeignKey(
        Location, related_name="staff", on_delete=models.CASCADE, verbose_name=_("location")
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("location staff")
        verbose_name_plural = _("location staff")
        constraints = [
            models.UniqueConstraint(fields=["user", "location"], name="location_staff_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.location.code}"


# The most units one level (or one movement) may hold: far above any real shelf or warehouse,
# and far enough below the 32-bit integer column (2,147,483,647) that one request adding
# its maximum (500 lines of 1,000,000 units) to a full level still computes without overflow,
# so the CHECK constraints below refuse it instead of PostgreSQL raising "integer out of range".
STOCK_UNITS_MAX = 1_000_000_000


class StockLevel(models.Model):
    """On hand and reserved units of one variant at one location; available = the difference.

    `on_hand` may go below zero: a POS sale is a fact even when the system thought the
    shelf was empty; such a level is flagged `needs_attention` for staff to count it.
    """

    variant = models.ForeignKey(
        "catalog.Variant", related_name="stock_levels", on_delete=models.PROTECT
    )
    location = models.ForeignKey(Location, related_name="stock_levels", on_delete=models.PROTECT)
    on_hand = models.IntegerField(_("on hand"), default=0)
    reserved = models.IntegerField(_("reserved"), default=0)
    low_stock_threshold = models.PositiveIntegerField(
        _("low stock threshold"),
        default=1,
        help_text=_(
            "Shown as low stock when available is at or below this (and above zero): by "
            "default the last unit; raise it for what sells fast."
        ),
    )
    needs_attention = models.BooleanField(_("needs attention"), default=False)
    attention_note = models.CharField(_("attention note"), max_length=255, blank=True)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        verbose_name = _("stock level")
        verbose_name_plural = _("stock levels")
        constraints = [
            models.UniqueConstraint(fields=["variant", "location"], name="stock_level_uniq"),
            models.CheckConstraint(
                condition=models.Q(reserved__gte=0), name="stock_level_reserved_not_negative"
            ),
            models.CheckConstraint(
                condition=models.Q(reserved__lte=STOCK_UNITS_MAX),
                name="stock_level_reserved_bounded",
            ),
            # on_hand may go below zero (a POS sale is a fact), but not without bound.
            models.CheckConstraint(
                condition=models.Q(on_hand__gte=-STOCK_UNITS_MAX, on_hand__lte=STOCK_UNITS_MAX),
                name="stock_level_on_hand_bounded",
            ),
        ]
        indexes = [models.Index(fields=["location", "variant"], name="stock_level_loc_var_idx")]
        permissions = [
            ("operate_any_location", _("Can operate stock at every location")),
        ]

    def __str__(self) -> str:
        return f"{self.variant.sku} @ {self.location.code}"

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class Transfer(models.Model):
    """Stock moving between two locations: out of the source at once, into the destination
    when it is received. In transit it is on neither shelf."""

    class Status(models.TextChoices):
        IN_TRANSIT = "in_transit", _("in transit")
        RECEIVED = "received", _("received")

    number = models.CharField(_("number"), max_length=20, unique=True)
    source = models.ForeignKey(
        Location, related_name="transfers_out", on_delete=models.PROTECT, verbose_name=_("from")
    )
    destination = models.ForeignKey(
        Location, related_name="transfers_in", on_delete=models.PROTECT, verbose_name=_("to")
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.IN_TRANSIT
    )
    reference = models.CharField(_("reference"), max_length=100, blank=True)
    created_at = models.DateTimeField(_("shipped at"), default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, related_name="+", on_delete=models.SET_NULL
    )
    received_at = models.DateTimeField(_("received at"), null=True, blank=True)
    received_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, related_name="+", on_delete=models.SET_NULL
    )

    class Meta:
        verbose_name = _("transfer")
        verbose_name_plural = _("transfers")
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(source=models.F("destination")),
                name="transfer_distinct_locations",
            )
        ]

    def __str__(self) -> str:
        return self.number


class TransferLeadTime(models.Model):
    """A route head office opened for ship-to-store: stock of `source` may be sent to the
    pickup store `destination` for a customer's order, and arrives after `days` days (the
    "ready from" the customer is promised). A pair without a row is no route."""

    source = models.ForeignKey(
        Location, related_name="lead_times_out", on_delete=models.CASCADE, verbose_name=_("from")
    )
    destination = models.ForeignKey(
        Location, related_name="lead_times_in", on_delete=models.CASCADE, verbose_name=_("to")
    )
    days = models.PositiveSmallIntegerField(
        _("days"), help_text=_("Whole days from the order until the goods are in the store.")
    )

    class Meta:
        verbose_name = _("transfer lead time")
        verbose_name_plural = _("transfer lead times")
        ordering = ["destination", "days", "source"]
        constraints = [
            models.UniqueConstraint(fields=["source", "destination"], name="lead_time_pair_uniq"),
            models.CheckConstraint(
                condition=~models.Q(source=models.F("destination")),
                name="lead_time_distinct_locations",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source_id} → {self.destination_id}: {self.days} d"


class TransferLine(models.Model):
    """Units of one variant shipped on a transfer, and how many arrived once received."""

    transfer = models.ForeignKey(Transfer, related_name="lines", on_delete=models.PROTECT)
    variant = models.ForeignKey("catalog.Variant", related_name="+", on_delete=models.PROTECT)
    quantity = models.PositiveIntegerField(_("shipped"))
    # None while in transit; the units counted in at the destination once received.
    received_quantity = models.PositiveIntegerField(_("received"), null=True, blank=True)

    class Meta:
        verbose_name = _("transfer line")
        verbose_name_plural = _("transfer lines")
        constraints = [
            models.UniqueConstraint(fields=["transfer", "variant"], name="transfer_line_uniq"),
            models.CheckConstraint(
                condition=models.Q(quantity__gt=0), name="transfer_line_quantity_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.transfer_id}: {self.variant_id} × {self.quantity}"


class TransferDiscrepancy(models.Model):
    """A transfer line that arrived short or over, recorded when the transfer is received.

    Only what arrived goes onto the destination's shelf. Units that did not arrive are
    written off in transit: the source's "transfer_out" already took them off its shelf, and
    the transfer closes, so they are on no shelf and this row is their record. Units beyond
    what was shipped are put on the shelf (they are there) and recorded here for the source
    to explain. Append-only, like the ledger.
    """

    transfer = models.ForeignKey(
        Transfer, related_name="discrepancies", on_delete=models.PROTECT, verbose_name=_("transfer")
    )
    variant = models.ForeignKey(
        "catalog.Variant", related_name="+", on_delete=models.PROTECT, verbose_name=_("variant")
    )
    shipped = models.PositiveIntegerField(_("shipped"))
    received = models.PositiveIntegerField(_("received"))
    note = models.CharField(_("note"), max_length=255, blank=True)
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        related_name="+",
        on_delete=models.SET_NULL,
        verbose_name=_("recorded by"),
    )

    class Meta:
        verbose_name = _("transfer discrepancy")
        verbose_name_plural = _("transfer discrepancies")
        constraints = [
            models.UniqueConstraint(
                fields=["transfer", "variant"], name="transfer_discrepancy_uniq"
            ),
            models.CheckConstraint(
                condition=~models.Q(shipped=models.F("received")),
                name="transfer_discrepancy_differs",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.transfer_id}: {self.variant_id} {self.difference:+d}"

    @property
    def difference(self) -> int:
        """Units received minus units shipped: negative when short, positive when over."""
        return self.received - self.shipped


class Reservation(models.Model):
    """Units of a level held for a cause (an order) until consumed, released or expired."""

    class Status(models.TextChoices):
        OPEN = "open", _("open")
        RELEASED = "released", _("released")
        EXPIRED = "expired", _("expired")
        CONSUMED = "consumed", _("consumed")

    level = models.ForeignKey(StockLevel, related_name="reservations", on_delete=models.PROTECT)
    quantity = models.PositiveIntegerField(_("quantity"))
    reference = models.CharField(_("reference"), max_length=100)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.OPEN
    )
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, related_name="+", on_delete=models.SET_NULL
    )

    class Meta:
        verbose_name = _("reservation")
        verbose_name_plural = _("reservations")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(quantity__gt=0), name="reservation_quantity_positive"
            )
        ]
        indexes = [
            models.Index(fields=["reference", "status"], name="reservation_ref_status_idx"),
            models.Index(fields=["status", "expires_at"], name="reservation_expiry_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.reference}: {self.quantity} ({self.status})"


class StockMovement(models.Model):
    """One append-only ledger row: what happened to a level, by how much, why and who did it.

    `quantity` is the figure as entered (units moved; the counted number for a count);
    `on_hand_delta` and `reserved_delta` are the signed changes applied to the level, and
    the `*_after` columns the level's balances right after it.
    """

    class Kind(models.TextChoices):
        RECEIPT = "receipt", _("receipt")
        SALE = "sale", _("sale")
        RESERVATION = "reservation", _("reservation")
        RELEASE = "release", _("release")
        RETURN = "return", _("return")
        ADJUSTMENT = "adjustment", _("adjustment")
        COUNT = "count", _("count")
        TRANSFER_OUT = "transfer_out", _("transfer out")
        TRANSFER_IN = "transfer_in", _("transfer in")
        WRITE_OFF = "write_off", _("write-off")

    level = models.ForeignKey(StockLevel, related_name="movements", on_delete=models.PROTECT)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    quantity = models.IntegerField(_("quantity"))
    on_hand_delta = models.IntegerField(_("on hand change"), default=0)
    reserved_delta = models.IntegerField(_("reserved change"), default=0)
    on_hand_after = models.IntegerField(_("on hand after"))
    reserved_after = models.IntegerField(_("reserved after"))
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    reference = models.CharField(_("reference"), max_length=100, blank=True, db_index=True)
    reservation = models.ForeignKey(
        Reservation, null=True, blank=True, related_name="movements", on_delete=models.PROTECT
    )
    transfer = models.ForeignKey(
        Transfer, null=True, blank=True, related_name="movements", on_delete=models.PROTECT
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        related_name="+",
        on_delete=models.SET_NULL,
        verbose_name=_("by"),
    )
    created_at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("stock movement")
        verbose_name_plural = _("stock movements")
        indexes = [models.Index(fields=["level", "id"], name="stock_movement_level_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.on_hand_delta:+d}/{self.reserved_delta:+d} ({self.reference})"
