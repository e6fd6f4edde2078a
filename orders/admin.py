"""Orders admin for store staff: orders (read-only money and status), the pickup queue.

Staff see and act only on their own stores' orders (inventory's staff assignments; a
superuser sees every store). Status changes go through `orders.services.order_transition`,
the same service the staff API uses, so the transition table and the store check apply.
"""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from core.errors import DomainError
from inventory import selectors as inventory_selectors
from orders import selectors, services
from orders.domain import Actor, Status
from orders.models import Cart, CartLine, Order, OrderLine, OrderTransition, Tender


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class OrderLineInline(ReadOnlyInline):
    model = OrderLine
    fields = ("sku", "name", "quantity", "unit_price", "discount_total", "line_total", "vat_amount")
    readonly_fields = fields


class TenderInline(ReadOnlyInline):
    model = Tender
    fields = ("kind", "provider", "provider_reference", "amount", "currency", "created_at")
    readonly_fields = fields


class TransitionInline(ReadOnlyInline):
    model = OrderTransition
    fields = ("at", "from_status", "to_status", "actor_kind", "actor_user", "note")
    readonly_fields = fields


def staff_location_ids(request) -> set[int]:
    return {loc.pk for loc in inventory_selectors.locations_for_staff(user=request.user)}


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = (
        "number",
        "status",
        "fulfilment_type",
        "channel",
        "location",
        "customer",
        "total",
        "placed_at",
    )
    list_filter = ("status", "fulfilment_type", "channel", "location")
    search_fields = ("number", "contact_email", "contact_phone", "customer__phone")
    list_select_related = ("location", "customer")
    inlines = [OrderLineInline, TenderInline, TransitionInline]
    actions = ["mark_ready_for_pickup", "cancel_orders"]
    date_hierarchy = "placed_at"

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Order._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(location_id__in=staff_location_ids(request))

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

    @admin.action(description=_("Mark ready for pickup"))
    def mark_ready_for_pickup(self, request, queryset):
        self._transition(request, queryset, Status.READY_FOR_PICKUP)

    @admin.action(description=_("Cancel (staff)"))
    def cancel_orders(self, request, queryset):
        self._transition(request, queryset, Status.CANCELLED)

    def get_urls(self):
        extra = [
            path(
                "pickups/",
                self.admin_site.admin_view(self.pickup_queue_view),
                name="orders_order_pickups",
            ),
        ]
        return extra + super().get_urls()

    def pickup_queue_view(self, request):
        """Per-store pickup queue with one-click ready and a handover form with the code."""
        allowed = staff_location_ids(request)
        if not request.user.is_staff:
            raise PermissionDenied
        if request.method == "POST":
            number = request.POST.get("number", "")
            action = request.POST.get("action")
            try:
                order = selectors.order_get(number=number)
                target = {"ready": Status.READY_FOR_PICKUP, "handover": Status.COLLECTED}[action]
                services.order_transition(
                    order=order,
                    target=target,
                    actor=Actor.STAFF,
                    user=request.user,
                    pickup_code=request.POST.get("pickup_code", "").strip(),
                    staff_location_ids=allowed,
                )
                self.message_user(request, f"{number}: {target.replace('_', ' ')}")
            except (DomainError, KeyError) as error:
                text = getattr(error, "message", _("Unknown action."))
                self.message_user(request, f"{number}: {text}", messages.ERROR)
            return redirect(reverse("admin:orders_order_pickups") + "?" + request.GET.urlencode())
        locations = [
            loc
            for loc in inventory_selectors.locations_for_staff(user=request.user)
            if loc.is_pickup_point
        ]
        chosen = request.GET.get("location")
        ids = {loc.pk for loc in locations if not chosen or loc.code == chosen}
        queue = selectors.pickup_queue(location_ids=ids)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Pickup queue"),
            "locations": locations,
            "chosen": chosen,
            "to_prepare": queue["to_prepare"],
            "waiting": [(o, selectors.days_left(o)) for o in queue["waiting"]],
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/orders/pickup_queue.html", context)


class CartLineInline(ReadOnlyInline):
    model = CartLine
    fields = ("variant", "quantity", "added_at")
    readonly_fields = fields


@admin.register(Cart)
class CartAdmin(admin.ModelAdmin):
    list_display = ("token", "customer", "channel", "state", "fulfilment_type", "updated_at")
    list_filter = ("state", "channel")
    inlines = [CartLineInline]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Cart._meta.fields]

    def has_add_permission(self, request):
        return False
