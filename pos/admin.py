"""POS in the admin: terminals (register, see the token once, revoke), synced sales, the
price-discrepancy report, and the short pickups a till sale left behind (re-route or cancel).

Every page and action checks the Django permission of the operation and the store: a
member of staff sees and acts on the terminals, sales and orders of their own stores only
(head office and superusers: every store).
"""

from django import forms
from django.contrib import admin, messages
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from core.admin import (
    ReadOnlyAdminMixin,
    ServiceDeleteMixin,
    ServiceErrorsMixin,
    StoreScopedAdminMixin,
    require_permission,
    staff_location_ids,
)
from core.errors import DomainError
from orders import selectors as order_selectors
from orders import services as order_services
from orders.domain import Actor, Status
from pos import services
from pos.models import PosSale, PriceDiscrepancy, ShortPickup, Terminal


class TerminalRegisterForm(forms.ModelForm):
    class Meta:
        model = Terminal
        fields = ["code", "name", "location"]


@admin.register(Terminal)
class TerminalAdmin(
    ServiceErrorsMixin, ServiceDeleteMixin, StoreScopedAdminMixin, admin.ModelAdmin
):
    list_display = (
        "code",
        "name",
        "location",
        "is_active",
        "last_seen_at",
        "sync_lag",
        "token_hint",
    )
    list_filter = ("is_active", "location")
    search_fields = ("code", "name")
    actions = ["revoke", "reissue_token"]
    readonly_fields = (
        "code",
        "location",
        "is_active",
        "token_hint",
        "created_at",
        "revoked_at",
        "last_seen_at",
        "last_sale_at",
        "last_cursor",
    )

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = TerminalRegisterForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else ()

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["code", "name", "location"]
        return ["name", *self.readonly_fields]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "location":
            allowed = staff_location_ids(request.user)
            queryset = db_field.remote_field.model.objects.filter(is_active=True)
            kwargs["queryset"] = queryset if allowed is None else queryset.filter(pk__in=allowed)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description=_("sync lag"))
    def sync_lag(self, terminal):
        if terminal.last_seen_at is None:
            return _("never synced")
        minutes = int((timezone.now() - terminal.last_seen_at).total_seconds() // 60)
        return _("%(m)d min") % {"m": minutes}

    def save_model(self, request, obj, form, change):
        if change:
            services.terminal_rename(terminal=obj, name=form.cleaned_data.get("name", ""))
            return
        allowed = staff_location_ids(request.user)
        if allowed is not None and obj.location_id not in allowed:
            raise DomainError(_("You can only register terminals of your own stores."))
        terminal, token = services.terminal_register(
            code=obj.code, location=obj.location, name=obj.name
        )
        obj.pk = terminal.pk
        self.message_user(request, _show_token(terminal, token), messages.WARNING)

    def _operate(self, request, queryset, operation):
        require_permission(request, "pos.change_terminal")
        allowed = staff_location_ids(request.user)
        for terminal in queryset:
            if allowed is not None and terminal.location_id not in allowed:
                continue  # the queryset is already scoped; a forged id changes nothing
            operation(terminal)

    @admin.action(description=_("Revoke: refuse the selected terminals at once"))
    def revoke(self, request, queryset):
        self._operate(request, queryset, lambda t: services.terminal_revoke(terminal=t))
        self.message_user(request, _("Revoked."), messages.SUCCESS)

    @admin.action(description=_("Issue a new token (the old one stops working)"))
    def reissue_token(self, request, queryset):
        def reissue(terminal):
            token = services.terminal_token_reissue(terminal=terminal)
            self.message_user(request, _show_token(terminal, token), messages.WARNING)

        self._operate(request, queryset, reissue)


def _show_token(terminal, token: str):
    return format_html(
        "{}: <code>{}</code> — {}",
        terminal.code,
        token,
        _("the token is shown this once; enter it on the till now."),
    )


@admin.register(PosSale)
class PosSaleAdmin(ReadOnlyAdminMixin, StoreScopedAdminMixin, admin.ModelAdmin):
    store_fields = ("terminal__location",)
    list_display = (
        "id",
        "terminal",
        "order_number",
        "occurred_at",
        "recorded_at",
        "cashier",
        "flags",
    )
    list_filter = ("terminal__location", "terminal")
    search_fields = ("=id", "=order_number", "cashier")
    date_hierarchy = "occurred_at"


@admin.register(PriceDiscrepancy)
class PriceDiscrepancyAdmin(ReadOnlyAdminMixin, StoreScopedAdminMixin, admin.ModelAdmin):
    """The report: what tills charged against what the engine would have, per store."""

    list_display = (
        "occurred_at",
        "location",
        "sku",
        "quantity",
        "charged",
        "expected",
        "difference",
    )
    list_filter = ("location",)
    search_fields = ("sku",)
    date_hierarchy = "occurred_at"


@admin.register(ShortPickup)
class ShortPickupAdmin(ReadOnlyAdminMixin, StoreScopedAdminMixin, admin.ModelAdmin):
    """Pickups a till sale left short, oldest first: re-route to a store that has the
    units, or cancel (the customer is told either way)."""

    list_display = ("number", "location", "status", "placed_at", "attention_note", "reroute_link")
    list_filter = ("location",)
    actions = ["cancel_and_notify"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(
                needs_attention=True,
                fulfilment_type="pickup",
                # in transit: a ship-to-store transfer arrived short or is overdue
                status__in=[Status.PLACED, Status.IN_TRANSIT, Status.READY_FOR_PICKUP],
            )
            .order_by("placed_at")
        )

    @admin.display(description=_("re-route"))
    def reroute_link(self, order):
        url = reverse("admin:pos_shortpickup_reroute", args=[order.number])
        return format_html('<a class="button" href="{}">{}</a>', url, _("Re-route…"))

    @admin.action(description=_("Cancel and notify the customer"))
    def cancel_and_notify(self, request, queryset):
        require_permission(request, "orders.cancel_order")
        allowed = staff_location_ids(request.user)
        for order in queryset:
            try:
                order_services.order_transition(
                    order=order,
                    target=Status.CANCELLED,
                    actor=Actor.STAFF,
                    user=request.user,
                    note="short after a till sale",
                    staff_location_ids=allowed,
                )
            except DomainError as error:
                self.message_user(request, f"{order.number}: {error.message}", messages.ERROR)

    def get_urls(self):
        return [
            path(
                "<str:number>/reroute/",
                self.admin_site.admin_view(self.reroute_view),
                name="pos_shortpickup_reroute",
            ),
            *super().get_urls(),
        ]

    def reroute_view(self, request, number):
        """Pick another pickup store that holds every line; one click moves the order."""
        require_permission(request, "pos.view_shortpickup", "orders.reroute_order")
        order = get_object_or_404(self.get_queryset(request), number=number)
        lines = list(order.lines.all())
        options = order_selectors.reroute_targets(order=order)
        if request.method == "POST":
            target = request.POST.get("location", "")
            try:
                order_services.order_reroute(
                    order=order,
                    location=target,
                    user=request.user,
                    staff_location_ids=staff_location_ids(request.user),
                )
            except DomainError as error:
                self.message_user(request, error.message, messages.ERROR)
                return redirect(request.path)
            self.message_user(
                request,
                _("%(n)s moves to %(s)s.") % {"n": order.number, "s": target},
                messages.SUCCESS,
            )
            return redirect(reverse("admin:pos_shortpickup_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": _("Re-route %(n)s") % {"n": order.number},
            "order": order,
            "lines": lines,
            "options": options,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/orders/reroute.html", context)
