"""The reports' own tables: signed daily rows kept as orders and returns change (so a
report over a year sums thousands of rows, not a million orders), and pickup timings.

`Report` exists for its permission, `reports.view_reports` (head office sees every store,
a store manager only their stores), and to give the reports their place in the admin.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from orders.models import MONEY


class Report(models.Model):
    class Meta:
        managed = False
        default_permissions = ()
        permissions = [("view_reports", "Can see the cross-channel reports")]
        verbose_name = _("report")
        verbose_name_plural = _("reports")

    def __str__(self) -> str:
        return str(self._meta.verbose_name)


class OrderDay(models.Model):
    """What orders add to a local day's figures, as signed rows: a ledger of the reports.

    An order placed adds a row (+1 order, its units and money) under the local date it was
    placed at its location, its channel, fulfilment and `outcome`; when its outcome changes
    (collected, cancelled, expired) or it moves to another store, a row takes it out of the
    old key and one adds it under the new. So the figures of any key are the sum of its
    rows, always equal to what the orders themselves say (`reports.services.facts_verify`),
    and a report over a year adds up thousands of rows, not a million orders. Rows of past
    days are folded into one per key (`facts_fold`), which keeps every sum.
    """

    class Outcome(models.TextChoices):
        OPEN = "open", _("open")  # placed, ready, shipped: not yet ended
        DONE = "done", _("done")  # collected, delivered (returned ones too)
        CANCELLED = "cancelled", _("cancelled")
        EXPIRED = "expired", _("expired")

    day = models.DateField()
    location = models.ForeignKey("inventory.Location", on_delete=models.PROTECT, related_name="+")
    channel = models.CharField(max_length=16)
    fulfilment = models.CharField(max_length=10)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    orders = models.IntegerField()
    units = models.IntegerField()
    revenue = models.DecimalField(**MONEY)  # order totals less the points paid with
    discounts = models.DecimalField(**MONEY)
    points = models.IntegerField()
    points_cost = models.DecimalField(**MONEY)

    class Meta:
        default_permissions = ()
        indexes = [models.Index(fields=["day"], name="report_order_day_idx")]

    def __str__(self) -> str:
        return f"{self.day} {self.location_id} {self.channel} {self.outcome}: {self.orders}"


class RefundDay(models.Model):
    """Money given back by completed returns (every tender but points), on the local date the
    return was completed at the store that received it, under the sold order's location and
    channel — signed rows like `OrderDay`, folded the same way."""

    day = models.DateField()
    location = models.ForeignKey("inventory.Location", on_delete=models.PROTECT, related_name="+")
    channel = models.CharField(max_length=16)
    amount = models.DecimalField(**MONEY)

    class Meta:
        default_permissions = ()
        indexes = [models.Index(fields=["day"], name="report_refund_day_idx")]

    def __str__(self) -> str:
        return f"{self.day} {self.location_id} {self.channel}: {self.amount}"


class PickupTiming(models.Model):
    """One row per pickup order that became ready: the hours it took to be ready (to its
    last move to ready) and to be collected, under the local date it was placed at its
    current store — what the pickup report's medians are taken over."""

    order_id = models.BigIntegerField(primary_key=True)
    day = models.DateField()
    location = models.ForeignKey("inventory.Location", on_delete=models.PROTECT, related_name="+")
    channel = models.CharField(max_length=16)
    ready_at = models.DateTimeField()
    hours_to_ready = models.FloatField()
    hours_to_collect = models.FloatField(null=True)

    class Meta:
        default_permissions = ()
        indexes = [models.Index(fields=["day"], name="report_pickup_day_idx")]

    def __str__(self) -> str:
        return f"order {self.order_id}: {self.hours_to_ready} h, {self.hours_to_collect} h"


class ReturnRow(models.Model):
    """One row per completed return, with what the returns report groups and filters by:
    the sold order's local date of placing, channel and location, where the goods came
    back and why — so the report reads tens of thousands of narrow rows, not the orders."""

    return_id = models.BigIntegerField(primary_key=True)
    order_id = models.BigIntegerField()
    sold_day = models.DateField()
    channel = models.CharField(max_length=16)  # the sold order's
    sold_location = models.ForeignKey(
        "inventory.Location", on_delete=models.PROTECT, related_name="+"
    )
    location = models.ForeignKey("inventory.Location", on_delete=models.PROTECT, related_name="+")
    in_store = models.BooleanField()  # handed in at a store (not a warehouse)
    reason = models.CharField(max_length=20)
    units = models.IntegerField()
    refunded = models.DecimalField(**MONEY)

    class Meta:
        default_permissions = ()
        indexes = [models.Index(fields=["sold_day"], name="report_return_sold_day_idx")]

    def __str__(self) -> str:
        return f"return {self.return_id} of order {self.order_id}"


class PointsDay(models.Model):
    """Loyalty points moved per local day, location (of the sale; none for adjustments)
    and channel, as rows added by the loyalty service with each ledger entry — expired
    points under the lot they were earned in. Summed by the loyalty report, checked
    against the ledger by `facts_verify`, folded like `OrderDay`."""

    day = models.DateField()
    location = models.ForeignKey(
        "inventory.Location", null=True, on_delete=models.PROTECT, related_name="+"
    )
    channel = models.CharField(max_length=16)
    earned = models.IntegerField(default=0)
    redeemed = models.IntegerField(default=0)
    given_back = models.IntegerField(default=0)
    reversed = models.IntegerField(default=0)
    expired = models.IntegerField(default=0)
    adjusted = models.IntegerField(default=0)

    class Meta:
        default_permissions = ()
        indexes = [models.Index(fields=["day"], name="report_points_day_idx")]

    def __str__(self) -> str:
        return f"{self.day} {self.location_id} {self.channel}"


# The channels a customer's sales are counted in, one column each (`CustomerYear`).
SALE_CHANNELS = ("web", "app", "pos", "store_assisted", "call_centre")
MONTHS = range(1, 13)


class CustomerYear(models.Model):
    """A customer's year, across the chain (`location` empty) and at each location: the
    orders they placed in each month, their sales per channel (orders not cancelled or
    expired), the money paid for those sales (totals less points) and the money given
    back by their completed returns (every tender but points) — the year being the local
    year, in the retailer's time zone, in which the order was placed.

    Signed rows kept like `OrderDay`: a placed order adds a chain row and a location row;
    a move between sale and not, or to another store, takes it out of one key and adds it
    under another; a completed return adds its refund; a merge hands the duplicate's rows
    to the survivor. So the sum of a key is what the customer's orders say now, and
    `facts_fold` folds them to one row per key. Months are columns, not rows, because the
    customers report needs, per customer, whether they ordered in each month: a year of a
    chain's customers is one row each, not one per customer and month.
    """

    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    location = models.ForeignKey(
        "inventory.Location", null=True, on_delete=models.PROTECT, related_name="+"
    )
    year = models.SmallIntegerField()
    # Orders placed in each month (m1 = January).
    m1 = models.IntegerField(default=0)
    m2 = models.IntegerField(default=0)
    m3 = models.IntegerField(default=0)
    m4 = models.IntegerField(default=0)
    m5 = models.IntegerField(default=0)
    m6 = models.IntegerField(default=0)
    m7 = models.IntegerField(default=0)
    m8 = models.IntegerField(default=0)
    m9 = models.IntegerField(default=0)
    m10 = models.IntegerField(default=0)
    m11 = models.IntegerField(default=0)
    m12 = models.IntegerField(default=0)
    # Sales per channel (`SALE_CHANNELS`).
    sales_web = models.IntegerField(default=0)
    sales_app = models.IntegerField(default=0)
    sales_pos = models.IntegerField(default=0)
    sales_store_assisted = models.IntegerField(default=0)
    sales_call_centre = models.IntegerField(default=0)
    paid = models.DecimalField(**MONEY, default=0)
    refunded = models.DecimalField(**MONEY, default=0)

    class Meta:
        default_permissions = ()
        indexes = [models.Index(fields=["customer", "year"], name="report_customer_year_idx")]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.location_id or 'chain'} {self.year}"
