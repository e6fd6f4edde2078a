"""Orders admin for store staff: orders (read-only money and status), the pickup queue.

Staff see and act only on their own stores' orders (inventory's staff assignments; head
office and superusers see every store), and only with the operation's permission:
`orders.work_pickup_queue` for the queue, ready and handover, `orders.cancel_order` for
cancelling. Status changes go through `orders.services.order_transition`, the same service
the staff API uses, so the transition table, the store check and the pickup-code lock-out
apply. The pickup code is the customer's secret: no staff screen shows it.
"""

from django.contrib import admin, messages
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from core.admin import ReadOnlyInline, StoreScopedAdminMixin, require_permission
from core.errors import DomainError
from inventory import selectors as inventory_selectors
from orders import selectors, services
from orders.domain import Actor, Status
from orders.models import Cart, CartLine, Order, OrderLine, OrderTransition, Tender

PICKUP_PERMISSION = "orders.work_pickup_queue"
CANCEL_PERMISSION = "orders.cancel_order"
# Never on a staff screen: the code proves the customer at the desk.
HIDDEN_FIELDS = {"pickup_code"}


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
class OrderAdmin(StoreScopedAdminMixin, admin.ModelAdmin):
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

    def get_fields(self, request, obj=None):
        return [f.name for f in Order._meta.fields if f.name not in HIDDEN_FIELDS]

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

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

    @admin.action(description=_("Cancel (staff)"), permissions=["cancel_order"])
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
        """Per-store pickup queue with one-click ready and a handover form for the code (and
        the desk payment of a pay-in-store order)."""
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
            "desk_kinds": services.DESK_TENDER_KINDS,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/orders/pickup_queue.html", context)

    def _pickup_queue_post(self, request, allowed: set[int]) -> None:
        number = request.POST.get("number", "")
        action = request.POST.get("action")
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

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Cart._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
