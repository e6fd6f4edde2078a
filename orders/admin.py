"""Orders admin for store staff: the order page, the orders list and the pickup desk.

The order page shows what was sold (product and variant names, prices), how it is paid
(tenders and where each stands), its status history (who moved it, when, why) and every
pickup code tried; its returns are one click away (the returns list filtered by the
order's number: returns sit above orders, so this app links to them and never imports
them). The pickup desk lists what to pick per store, prints a picking slip per order and
finds an order by its number, a scanned barcode or QR payload, a phone in any format or
the customer's name.

Staff see and act only on their own stores' orders (inventory's staff assignments; head
office and superusers see every store), and only with the operation's permission:
`orders.view_order` for the pages, `orders.work_pickup_queue` for the desk, its slips,
ready and handover, `orders.cancel_order` for cancelling. Status changes go through
`orders.services.order_transition`, the same service the staff API uses, so the
transition table, the store check and the pickup-code lock-out apply (every code tried is
recorded by the service). A GET never writes. The pickup code is the customer's secret:
no staff screen shows it; the customer presents it and staff type it.
"""

from django.contrib import admin, messages
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from core.admin import (
    EstimatedCountPaginator,
    ReadOnlyInline,
    StoreScopedAdminMixin,
    require_permission,
)
from core.errors import DomainError
from inventory import selectors as inventory_selectors
from orders import selectors, services
from orders.domain import ATTRIBUTION_FIELDS, Actor, Status
from orders.errors import OrderNotFound
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

PICKUP_PERMISSION = "orders.work_pickup_queue"
CANCEL_PERMISSION = "orders.cancel_order"
REROUTE_PERMISSION = "orders.reroute_order"
# Never on a staff screen: the code proves the customer at the desk.
HIDDEN_FIELDS = {"pickup_code"}


def product_label(variant) -> str:
    """ "Coffee beans — 250 g": the product's name with the variant's, which alone may say
    only "250 g"."""
    product = variant.product.name
    if variant.name and variant.name != product:
        return f"{product} — {variant.name}"
    return product


class OrderPartInline(ReadOnlyInline):
    """A part of the order (its lines, tenders, history): seen by whoever may see the order,
    without a view permission of its own."""

    def has_view_permission(self, request, obj=None):
        user = request.user
        return user.has_perm("orders.view_order") or user.has_perm("orders.change_order")


class OrderLineInline(OrderPartInline):
    model = OrderLine
    verbose_name_plural = _("lines")
    fields = (
        "product",
        "sku",
        "quantity",
        "unit_price",
        "discount_total",
        "line_total",
        "vat_amount",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("variant__product")

    @admin.display(description=_("product"))
    def product(self, line: OrderLine) -> str:
        return product_label(line.variant)


class TenderInline(OrderPartInline):
    model = Tender
    verbose_name_plural = _("payment (tenders)")
    fields = (
        "kind",
        "amount",
        "currency",
        "status",
        "provider",
        "provider_reference",
        "created_at",
        "captured_at",
        "voided_at",
    )
    readonly_fields = fields


class ShipmentInline(OrderPartInline):
    """A delivery's parcels: where each ships from, its carrier and tracking, and when it
    left and arrived (staff ship them on the tablet, per shipment)."""

    model = Shipment
    verbose_name_plural = _("shipments")
    fields = ("location", "carrier", "tracking_number", "shipped_at", "delivered_at")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("location")


class TransitionInline(OrderPartInline):
    model = OrderTransition
    verbose_name_plural = _("status history")
    fields = ("at", "from_status", "to_status", "actor_kind", "actor_user", "note")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor_user")


class PickupAttemptInline(OrderPartInline):
    """Which codes were tried when, by whom, and whether they were right (never the code)."""

    model = PickupCodeAttempt
    verbose_name_plural = _("pickup codes tried")
    fields = ("at", "user", "succeeded")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user").order_by("at", "id")


def staff_location_ids(request) -> set[int]:
    return {loc.pk for loc in inventory_selectors.locations_for_staff(user=request.user)}


class YourStoreFilter(admin.SimpleListFilter):
    """The order's store, offered among the stores the user works at.

    Django's "related only" filter found the stores by reading the store of every order
    in the list (a million for head office) on each page; the user's stores are a short
    list of their own. The parameter stays `location__id__exact`, which links use.
    """

    title = _("location")
    parameter_name = "location__id__exact"

    def lookups(self, request, model_admin):
        locations = inventory_selectors.locations_for_staff(user=request.user)
        return [(str(location.pk), str(location)) for location in locations]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if not value.isdigit():
            return queryset.none()
        return queryset.filter(location_id=int(value))


@admin.register(Order)
class OrderAdmin(StoreScopedAdminMixin, admin.ModelAdmin):
    list_display = (
        "number",
        "status",
        "fulfilment_type",
        "channel",
        "location",
        "customer",
        "contact_name",
        "total",
        "placed_at",
    )
    list_filter = (
        "status",
        "fulfilment_type",
        "channel",
        YourStoreFilter,
        "needs_attention",
        # Placed orders the deadline task escalated (the store manager's start page).
        ("escalated_at", admin.EmptyFieldListFilter),
        # Ranges of the indexed `placed_at` (today, the past 7 days, this month, this
        # year). Not a date hierarchy: its drill-down lists the distinct years, months or
        # days of every order in the list, a full read of a chain's orders per page.
        ("placed_at", admin.DateFieldListFilter),
    )
    search_fields = ("number", "contact_name", "contact_email", "contact_phone", "customer__phone")
    # Every column's relation in the list's one query: no query per row.
    list_select_related = ("location", "customer")
    search_help_text = _(
        "Order number (or its beginning), or the customer: name, phone, email or card number."
    )
    # A chain's orders run to millions: count the search's rows, not the whole list again,
    # and the unfiltered list by the planner's estimate.
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    inlines = [
        OrderLineInline,
        ShipmentInline,
        TenderInline,
        TransitionInline,
        PickupAttemptInline,
    ]
    actions = ["mark_ready_for_pickup", "goods_at_store", "cancel_orders", "reroute_order"]
    # The order page in sections; any model field not named here lands in the last one.
    sections = (
        (
            None,
            (
                "number",
                "status",
                "channel",
                "fulfilment_type",
                "location",
                "placed_at",
                "ready_from",
                "pickup_expires_at",
                "updated_at",
            ),
        ),
        (
            _("Customer"),
            (
                "customer",
                "contact_name",
                "contact_email",
                "contact_phone",
                "delivery_address",
                "sold_by",
            ),
        ),
        (
            _("Money"),
            (
                "currency",
                "subtotal",
                "discount_total",
                "total",
                "coupon_code",
                "points_redeemed",
                "points_value",
                "amount_due",
                "payment_method",
            ),
        ),
        (_("Needs attention"), ("needs_attention", "attention_note", "escalated_at")),
        (
            _("Attribution"),
            (
                "store",
                "device",
                "app_version",
                "utm_source",
                "utm_medium",
                "utm_campaign",
                "referrer",
            ),
        ),
    )

    @admin.display(description=_("sold on the customer's behalf by"))
    def sold_by(self, obj) -> str:
        """The member of staff who placed an assisted order, its channel and their store."""
        sale = (
            AssistedSale.objects.select_related("placed_by", "staff", "store")
            .filter(order=obj)
            .first()
        )
        if sale is None:
            return "—"
        where = f", {sale.store.code}" if sale.store_id else ""
        return f"{sale.placed_by or sale.staff} ({sale.channel}{where})"

    def get_fieldsets(self, request, obj=None):
        named = {name for _title, names in self.sections for name in names}
        rest = [
            f.name
            for f in Order._meta.fields
            if f.name not in named and f.name not in HIDDEN_FIELDS and f.name != "id"
        ]
        fieldsets = [
            (title, {"fields": [n for n in names if n not in HIDDEN_FIELDS]})
            for title, names in self.sections
        ]
        return [*fieldsets, (_("Source"), {"fields": rest, "classes": ["collapse"]})]

    def get_fields(self, request, obj=None):
        return [
            name
            for _title, options in self.get_fieldsets(request, obj)
            for name in options["fields"]
        ]

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_work_pickups": request.user.has_perm(PICKUP_PERMISSION),
        }
        return super().changeform_view(request, object_id, form_url, extra_context)

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_work_pickups": request.user.has_perm(PICKUP_PERMISSION),
        }
        return super().changelist_view(request, extra_context)

    def get_search_results(self, request, queryset, search_term):
        # The whole text at once (a full name is two words), as ids read through indexed
        # lookups: nothing to de-duplicate, and the page and its count each cost little.
        if not search_term.strip():
            return queryset, False
        return queryset.filter(selectors.order_search_condition(text=search_term)), False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # orders change only through their transitions (the actions below)

    def has_delete_permission(self, request, obj=None):
        return False

    def has_work_pickup_queue_permission(self, request):
        return request.user.has_perm(PICKUP_PERMISSION)

    def has_cancel_order_permission(self, request):
        return request.user.has_perm(CANCEL_PERMISSION)

    def has_reroute_order_permission(self, request):
        return request.user.has_perm(REROUTE_PERMISSION)

    def _transition(self, request, orders, target):
        done = 0
        for order in orders:
            try:
                services.order_transition(
                    order=order,
                    target=target,
                    actor=Actor.STAFF,
                    user=request.user,
                    staff_location_ids=staff_location_ids(request),
                )
                done += 1
            except DomainError as error:
                self.message_user(request, f"{order.number}: {error.message}", messages.ERROR)
        if done:
            self.message_user(request, _("%(n)d order(s) updated.") % {"n": done})

    @admin.action(description=_("Mark ready for pickup"), permissions=["work_pickup_queue"])
    def mark_ready_for_pickup(self, request, queryset):
        self._transition(request, queryset, Status.READY_FOR_PICKUP)

    @admin.action(
        description=_("Goods at the store after all: ready for pickup (ship-to-store)"),
        permissions=["work_pickup_queue"],
    )
    def goods_at_store(self, request, queryset):
        """A ship-to-store order whose transfer arrived short or is lost, once its goods are
        on the store's shelf (found, restocked): `order_goods_at_store`."""
        done = 0
        for order in queryset:
            try:
                services.order_goods_at_store(
                    order=order, user=request.user, staff_location_ids=staff_location_ids(request)
                )
                done += 1
            except DomainError as error:
                self.message_user(request, f"{order.number}: {error.message}", messages.ERROR)
        if done:
            self.message_user(request, _("%(n)d order(s) ready for pickup.") % {"n": done})

    @admin.action(description=_("Cancel (staff)"), permissions=["cancel_order"])
    def cancel_orders(self, request, queryset):
        self._transition(request, queryset, Status.CANCELLED)

    @admin.action(description=_("Re-route to another store…"), permissions=["reroute_order"])
    def reroute_order(self, request, queryset):
        """One open pickup at a time: the page lists the stores that hold every line."""
        numbers = list(queryset.values_list("number", flat=True)[:2])
        if len(numbers) != 1:
            self.message_user(request, _("Choose one pickup order to re-route."), messages.ERROR)
            return None
        return redirect(reverse("admin:orders_order_reroute", args=[numbers[0]]))

    def get_urls(self):
        view = self.admin_site.admin_view
        extra = [
            path("<str:number>/reroute/", view(self.reroute_view), name="orders_order_reroute"),
            path("pickups/", view(self.pickup_queue_view), name="orders_order_pickups"),
            path(
                "pickups/<str:number>/slip/",
                view(self.picking_slip_view),
                name="orders_order_picking_slip",
            ),
        ]
        return extra + super().get_urls()

    def pickup_queue_view(self, request):
        """The pickup desk: per store, the ship-to-store orders on their way (when they
        are due, and why one needs staff); what to pick (with a printable slip per order) and
        one-click ready; the orders waiting, handed over with the customer's code (and the
        desk payment of a pay-in-store order); a find box for the customer's order."""
        require_permission(request, PICKUP_PERMISSION)
        allowed = staff_location_ids(request)
        if request.method == "POST":
            self._pickup_queue_post(request, allowed)
            return redirect(reverse("admin:orders_order_pickups") + "?" + request.GET.urlencode())
        locations = [
            loc
            for loc in inventory_selectors.locations_for_staff(user=request.user)
            if loc.is_pickup_point
        ]
        chosen = request.GET.get("location", "")
        ids = {loc.pk for loc in locations if not chosen or loc.code == chosen}
        queue = selectors.pickup_desk_queue(location_ids=ids)
        find = request.GET.get("q", "").strip()[:200]
        found = selectors.pickup_orders_find(text=find, location_ids=ids) if find else []
        context = {
            **self.admin_site.each_context(request),
            "title": _("Pickup desk"),
            "locations": locations,
            "chosen": chosen,
            "find": find,
            "found": [(o, selectors.days_left(o)) for o in found],
            "incoming": queue["incoming"],
            "to_prepare": queue["to_prepare"],
            "waiting": [(o, selectors.days_left(o)) for o in queue["waiting"]],
            "desk_kinds": services.DESK_TENDER_KINDS,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/orders/pickup_queue.html", context)

    def reroute_view(self, request, number: str):
        """Move an open pickup to a store that holds every line (`order_reroute`: reserved
        there, released here, the customer told). Another store's order is not found."""
        require_permission(request, REROUTE_PERMISSION)
        allowed = staff_location_ids(request)
        try:
            order = selectors.order_get(number=number)
        except OrderNotFound:
            raise Http404(_("No such order at your stores.")) from None
        if order.location_id not in allowed:
            raise Http404(_("No such order at your stores."))
        if request.method == "POST":
            target = request.POST.get("location", "")
            try:
                services.order_reroute(
                    order=order, location=target, user=request.user, staff_location_ids=allowed
                )
            except DomainError as error:
                self.message_user(request, f"{order.number}: {error.message}", messages.ERROR)
                return redirect(request.path)
            self.message_user(
                request, _("%(n)s moves to %(s)s.") % {"n": order.number, "s": target}
            )
            return redirect(reverse("admin:orders_order_change", args=[order.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": _("Re-route %(n)s") % {"n": order.number},
            "order": order,
            "lines": list(order.lines.all()),
            "options": selectors.reroute_targets(order=order),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/orders/reroute.html", context)

    def picking_slip_view(self, request, number: str):
        """A printable picking slip: the store, the order, the customer's name and the lines
        to pick. Another store's order is not found."""
        require_permission(request, PICKUP_PERMISSION)
        try:
            order = selectors.picking_slip(number=number, location_ids=staff_location_ids(request))
        except OrderNotFound:
            raise Http404(_("No such pickup order at your stores.")) from None
        lines = [(line, product_label(line.variant)) for line in order.lines.all()]
        context = {
            **self.admin_site.each_context(request),
            "title": _("Picking slip %(number)s") % {"number": order.number},
            "order": order,
            "lines": lines,
            "units": sum(line.quantity for line, _label in lines),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/orders/picking_slip.html", context)

    def _pickup_queue_post(self, request, allowed: set[int]) -> None:
        number = request.POST.get("number", "")
        action = request.POST.get("action")
        if action == "goods_at_store":
            try:
                services.order_goods_at_store(
                    order=selectors.order_get(number=number),
                    user=request.user,
                    staff_location_ids=allowed,
                )
            except DomainError as error:
                self.message_user(request, f"{number}: {error.message}", messages.ERROR)
                return
            self.message_user(request, f"{number}: {_('ready for pickup')}")
            return
        target = {"ready": Status.READY_FOR_PICKUP, "handover": Status.COLLECTED}.get(action)
        if target is None:
            self.message_user(request, f"{number}: {_('Unknown action.')}", messages.ERROR)
            return
        desk_payment = None
        kind = request.POST.get("desk_kind", "")
        if action == "handover" and kind:
            desk_payment = services.DeskPayment(
                kind=kind, reference=request.POST.get("desk_reference", "").strip()[:100]
            )
        try:
            # Another store's order answers like a missing one (order_not_found).
            order = selectors.order_get(number=number)
            services.order_transition(
                order=order,
                target=target,
                actor=Actor.STAFF,
                user=request.user,
                pickup_code=request.POST.get("pickup_code", "").strip(),
                desk_payment=desk_payment,
                staff_location_ids=allowed,
            )
        except DomainError as error:
            self.message_user(request, f"{number}: {error.message}", messages.ERROR)
            return
        self.message_user(request, f"{number}: {target.replace('_', ' ')}")


class CartLineInline(ReadOnlyInline):
    model = CartLine
    fields = ("variant", "quantity", "added_at")
    readonly_fields = fields


@admin.register(Cart)
class CartAdmin(admin.ModelAdmin):
    """Carts are the shoppers' own; staff may look at them (with the view permission)."""

    list_display = ("token", "customer", "channel", "state", "fulfilment_type", "updated_at")
    list_filter = ("state", "channel")
    inlines = [CartLineInline]

    def get_fieldsets(self, request, obj=None):
        attribution = list(ATTRIBUTION_FIELDS)
        rest = [f.name for f in Cart._meta.fields if f.name != "id" and f.name not in attribution]
        return [(None, {"fields": rest}), (_("Attribution"), {"fields": attribution})]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Cart._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
