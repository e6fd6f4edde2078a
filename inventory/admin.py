"""Inventory admin for store staff: locations, stock by location, the read-only ledger.

Balances are never edited here: the actions (receipt, adjustment, count, write-off,
transfer) and the count import call `inventory.services`, which write the ledger. Each
operation needs its permission (`inventory.receive_stock` for receipts, counts, the count
import and receiving transfers; `inventory.adjust_stock` for adjustments, write-offs and
releases; `inventory.transfer_stock` for sending stock; see staff.roles), and staff see
and operate only the locations they are assigned to (superusers and holders of
`inventory.operate_any_location`: all) — a count file's rows included.
"""

from collections import defaultdict

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import transaction
from django.db.models import F, Q
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from import_export import fields, resources
from import_export.admin import ExportMixin

from core.admin import ReadOnlyAdminMixin, require_permission
from core.errors import DomainError
from inventory import forms, selectors, services
from inventory.imports import count_rows_outside, read_count_file
from inventory.models import (
    Location,
    LocationStaff,
    Reservation,
    StockLevel,
    StockMovement,
    Transfer,
    TransferLine,
)

RECEIVE = "inventory.receive_stock"
ADJUST = "inventory.adjust_stock"
TRANSFER = "inventory.transfer_stock"


class StockOperationPermissions:
    """`has_<operation>_permission` for the admin actions' `permissions=[...]`."""

    def has_receive_stock_permission(self, request):
        return request.user.has_perm(RECEIVE)

    def has_adjust_stock_permission(self, request):
        return request.user.has_perm(ADJUST)

    def has_transfer_stock_permission(self, request):
        return request.user.has_perm(TRANSFER)


def _staff_location_ids(request) -> list[int]:
    return list(selectors.locations_for_staff(user=request.user).values_list("pk", flat=True))


@admin.register(Location)
class LocationAdmin(admin.ModelAdmin):
    list_display = (
        "code",
        "name",
        "kind",
        "city",
        "is_pickup_point",
        "ships_online",
        "fulfilment_priority",
        "is_active",
    )
    list_filter = ("kind", "is_pickup_point", "ships_online", "is_active", "country")
    search_fields = ("code", "name", "city", "postal_code")
    readonly_fields = ("staff_list",)
    fieldsets = (
        (None, {"fields": ("code", "name", "kind", "is_active")}),
        (_("Address"), {"fields": ("address_line", "postal_code", "city", "country", "phone")}),
        (_("Map and hours"), {"fields": ("latitude", "longitude", "time_zone", "opening_hours")}),
        (
            _("Fulfilment"),
            {"fields": ("is_pickup_point", "ships_online", "fulfilment_priority", "staff_list")},
        ),
    )

    def has_delete_permission(self, request, obj=None):
        return False  # stock and ledger rows point here; close a location with `active` instead

    @admin.display(description=_("staff"))
    def staff_list(self, obj: Location) -> str:
        if obj.pk is None:
            return "—"
        users = [str(a.user) for a in obj.staff.select_related("user")]
        return ", ".join(users) or "—"

    form = forms.LocationForm

    def save_model(self, request, obj, form, change):
        services.location_save(location=obj)


@admin.register(LocationStaff)
class LocationStaffAdmin(admin.ModelAdmin):
    list_display = ("user", "location", "created_at")
    list_filter = ("location",)
    search_fields = ("user__email", "user__phone", "user__full_name", "location__code")
    autocomplete_fields = ("user",)
    list_select_related = ("user", "location")

    def has_change_permission(self, request, obj=None):
        return False if obj is not None else super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        assignment = services.location_staff_assign(user=obj.user, location=obj.location)
        obj.pk = assignment.pk

    def delete_model(self, request, obj):
        services.location_staff_remove(user=obj.user, location=obj.location)

    def delete_queryset(self, request, queryset):
        for assignment in queryset.select_related("user", "location"):
            services.location_staff_remove(user=assignment.user, location=assignment.location)


class StockStatusFilter(admin.SimpleListFilter):
    title = _("stock status")
    parameter_name = "stock"

    def lookups(self, request, model_admin):
        return (
            ("out", _("out of stock")),
            ("low", _("low stock")),
            ("negative", _("negative")),
            ("attention", _("needs attention")),
        )

    def queryset(self, request, queryset):
        available = F("on_hand") - F("reserved")
        queryset = queryset.alias(available_units=available)
        if self.value() == "out":
            return queryset.filter(available_units=0)
        if self.value() == "low":
            return queryset.filter(
                available_units__gt=0, available_units__lte=F("low_stock_threshold")
            )
        if self.value() == "negative":
            return queryset.filter(Q(on_hand__lt=0) | Q(available_units__lt=0))
        if self.value() == "attention":
            return queryset.filter(needs_attention=True)
        return queryset


class StockLevelResource(resources.ModelResource):
    """Export of stock levels; its columns re-import as a count file (location, sku, counted)."""

    location = fields.Field(attribute="location__code", column_name="location")
    sku = fields.Field(attribute="variant__sku", column_name="sku")
    name = fields.Field(attribute="variant__name", column_name="name")
    counted = fields.Field(attribute="on_hand", column_name="counted")
    reserved = fields.Field(attribute="reserved", column_name="reserved")
    available = fields.Field(attribute="available", column_name="available")

    class Meta:
        model = StockLevel
        fields = ("location", "sku", "name", "counted", "reserved", "available")
        export_order = fields


@admin.register(StockLevel)
class StockLevelAdmin(StockOperationPermissions, ExportMixin, admin.ModelAdmin):
    resource_classes = [StockLevelResource]
    change_list_template = "admin/inventory/stocklevel/change_list.html"
    list_display = (
        "location",
        "sku",
        "product",
        "on_hand",
        "reserved",
        "available_units",
        "low_stock_threshold",
        "needs_attention",
        "updated_at",
    )
    list_display_links = ("sku",)
    list_filter = (StockStatusFilter, "location", "location__kind", "needs_attention")
    search_fields = ("variant__sku", "variant__name", "variant__product__name", "location__code")
    list_select_related = ("variant", "variant__product", "location")
    list_per_page = 100
    fields = (
        "location",
        "variant",
        "on_hand",
        "reserved",
        "available_units",
        "low_stock_threshold",
        "needs_attention",
        "attention_note",
        "updated_at",
        "recent_movements",
    )
    readonly_fields = (
        "location",
        "variant",
        "on_hand",
        "reserved",
        "available_units",
        "needs_attention",
        "attention_note",
        "updated_at",
        "recent_movements",
    )
    actions = [
        "receive_action",
        "adjust_action",
        "count_action",
        "write_off_action",
        "transfer_action",
        "acknowledge_action",
    ]

    def has_add_permission(self, request):
        return False  # levels appear when stock first moves through a service

    def has_delete_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).filter(location_id__in=_staff_location_ids(request))

    def get_export_queryset(self, request):
        return super().get_export_queryset(request).select_related("location", "variant")

    @admin.display(description=_("SKU"), ordering="variant__sku")
    def sku(self, obj: StockLevel) -> str:
        return obj.variant.sku

    @admin.display(description=_("product"), ordering="variant__product__name")
    def product(self, obj: StockLevel) -> str:
        return obj.variant.product.name

    @admin.display(description=_("available"))
    def available_units(self, obj: StockLevel) -> int:
        return obj.available

    @admin.display(description=_("movement history"))
    def recent_movements(self, obj: StockLevel) -> str:
        rows = selectors.movement_history(level=obj)[:50]
        url = reverse("admin:inventory_stockmovement_changelist") + f"?level__id__exact={obj.pk}"
        table = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
            "<td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    m.created_at.strftime("%Y-%m-%d %H:%M"),
                    m.get_kind_display(),
                    f"{m.on_hand_delta:+d}",
                    f"{m.reserved_delta:+d}",
                    m.on_hand_after,
                    m.reserved_after,
                    m.reference,
                    m.reason,
                    m.actor or "",
                )
                for m in rows
            ),
        )
        return format_html(
            "<table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th>"
            "<th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>{}</tbody></table>"
            '<p><a href="{}">{}</a></p>',
            _("at"),
            _("kind"),
            _("on hand ±"),
            _("reserved ±"),
            _("on hand"),
            _("reserved"),
            _("reference"),
            _("reason"),
            _("by"),
            table,
            url,
            _("All movements of this level"),
        )

    def save_model(self, request, obj, form, change):
        # Only the low-stock threshold is editable; it is display configuration, not a balance.
        services.stock_level_threshold_set(level=obj, threshold=obj.low_stock_threshold)

    # --- operations on selected levels ---------------------------------------------------

    def _operation(self, request, queryset, *, action: str, form_class, title, apply):
        levels = list(queryset.select_related("variant", "location").order_by("location_id", "pk"))
        if "apply" in request.POST:
            form = form_class(request.POST, levels=levels)
            if form.is_valid():
                try:
                    count = apply(form)
                except DomainError as exc:
                    self.message_user(request, _format_error(exc), messages.ERROR)
                else:
                    self.message_user(
                        request,
                        _("%(title)s: %(n)d movement(s) recorded.") % {"title": title, "n": count},
                    )
                    return None
        else:
            form = form_class(levels=levels)
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "form": form,
            "levels": levels,
            "action": action,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/inventory/stocklevel/operation.html", context)

    @staticmethod
    def _by_location(form) -> dict:
        grouped = defaultdict(list)
        for level, quantity in form.quantities():
            grouped[level.location].append((level.variant_id, quantity))
        return grouped

    def _per_location(self, service, form, request) -> int:
        """Run one stock service per location of the selected levels, all in one transaction."""
        with transaction.atomic():
            return sum(
                len(
                    service(
                        lines=lines,
                        location=location,
                        reference=form.cleaned_data["reference"],
                        reason=form.cleaned_data["reason"],
                        actor=request.user,
                    )
                )
                for location, lines in self._by_location(form).items()
            )

    @admin.action(description=_("Receive stock"), permissions=["receive_stock"])
    def receive_action(self, request, queryset):
        def apply(form):
            return self._per_location(services.stock_receive, form, request)

        return self._operation(
            request,
            queryset,
            action="receive_action",
            form_class=forms.ReceiptForm,
            title=_("Receive stock"),
            apply=apply,
        )

    @admin.action(description=_("Adjust stock (with a reason)"), permissions=["adjust_stock"])
    def adjust_action(self, request, queryset):
        def apply(form):
            return self._per_location(services.stock_adjust, form, request)

        return self._operation(
            request,
            queryset,
            action="adjust_action",
            form_class=forms.AdjustmentForm,
            title=_("Adjust stock"),
            apply=apply,
        )

    @admin.action(description=_("Record a physical count"), permissions=["receive_stock"])
    def count_action(self, request, queryset):
        def apply(form):
            entries = [(lvl.location, lvl.variant_id, q) for lvl, q in form.quantities()]
            return len(
                services.stock_count_many(
                    entries=entries,
                    reference=form.cleaned_data["reference"],
                    reason=form.cleaned_data["reason"],
                    actor=request.user,
                )
            )

        return self._operation(
            request,
            queryset,
            action="count_action",
            form_class=forms.CountForm,
            title=_("Record a physical count"),
            apply=apply,
        )

    @admin.action(description=_("Write off stock"), permissions=["adjust_stock"])
    def write_off_action(self, request, queryset):
        def apply(form):
            return self._per_location(services.stock_write_off, form, request)

        return self._operation(
            request,
            queryset,
            action="write_off_action",
            form_class=forms.WriteOffForm,
            title=_("Write off stock"),
            apply=apply,
        )

    @admin.action(description=_("Transfer to another location"), permissions=["transfer_stock"])
    def transfer_action(self, request, queryset):
        if queryset.values("location_id").distinct().count() > 1:
            self.message_user(
                request, _("Select levels of one location to transfer from."), messages.ERROR
            )
            return None

        def apply(form):
            ((source, lines),) = self._by_location(form).items()
            transfer = services.stock_transfer(
                lines=lines,
                source=source,
                destination=form.cleaned_data["destination"],
                reference=form.cleaned_data["reference"],
                actor=request.user,
            )
            return transfer.movements.count()

        return self._operation(
            request,
            queryset,
            action="transfer_action",
            form_class=forms.TransferForm,
            title=_("Transfer to another location"),
            apply=apply,
        )

    @admin.action(description=_("Mark as reviewed (clear attention)"), permissions=["adjust_stock"])
    def acknowledge_action(self, request, queryset):
        for level in queryset.filter(needs_attention=True):
            services.stock_level_acknowledge(level=level, actor=request.user)
        self.message_user(request, _("Attention flags cleared."))

    # --- stock count import --------------------------------------------------------------

    def get_urls(self):
        custom = [
            path(
                "import-counts/",
                self.admin_site.admin_view(self.import_counts_view),
                name="inventory_stocklevel_import_counts",
            )
        ]
        return custom + super().get_urls()

    def import_counts_view(self, request):
        require_permission(request, RECEIVE)
        locations = selectors.locations_for_staff(user=request.user)
        errors: list[str] = []
        if request.method == "POST":
            form = forms.StockCountImportForm(request.POST, request.FILES, locations=locations)
            if form.is_valid():
                upload = form.cleaned_data["file"]
                default = form.cleaned_data["location"]
                try:
                    headers, rows = read_count_file(name=upload.name, content=upload.read())
                    errors = self._rows_at_other_stores(request, headers, rows, default, locations)
                    if errors:
                        raise _NothingImported
                    movements = services.stock_count_import(
                        headers=headers,
                        rows=rows,
                        default_location=form.cleaned_data["location"],
                        reference=form.cleaned_data["reference"],
                        reason=form.cleaned_data["reason"],
                        actor=request.user,
                    )
                except _NothingImported:
                    pass
                except DomainError as exc:
                    errors = exc.details.get("errors") or [_format_error(exc)]
                else:
                    self.message_user(
                        request,
                        _("Count imported: %(n)d level(s) counted.") % {"n": len(movements)},
                    )
                    return self._redirect_to_changelist()
        else:
            form = forms.StockCountImportForm(locations=locations)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Import a stock count"),
            "form": form,
            "errors": errors,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/inventory/stocklevel/import_counts.html", context)

    @staticmethod
    def _rows_at_other_stores(request, headers, rows, default, locations) -> list[str]:
        user = request.user
        if user.is_superuser or user.has_perm(selectors.OPERATE_ANY_LOCATION):
            return []  # every store is theirs; unknown codes are the import's to report
        return count_rows_outside(
            headers=headers,
            rows=rows,
            default_location=default.code if default else "",
            allowed_codes={loc.code for loc in locations},
        )

    def _redirect_to_changelist(self):
        return HttpResponseRedirect(reverse("admin:inventory_stocklevel_changelist"))


class _NothingImported(Exception):
    """A count file with rows at other stores: the page lists them, nothing is applied."""


def _format_error(exc: DomainError) -> str:
    lines = exc.details.get("lines") if isinstance(exc.details, dict) else None
    if not lines:
        return exc.message
    parts = ", ".join(
        f"{line.get('sku', line.get('variant_id'))}: "
        + ", ".join(f"{k} {v}" for k, v in line.items() if k not in {"sku", "variant_id"})
        for line in lines
    )
    return f"{exc.message} ({parts})"


@admin.register(StockMovement)
class StockMovementAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "created_at",
        "kind",
        "sku",
        "location",
        "quantity",
        "on_hand_delta",
        "reserved_delta",
        "on_hand_after",
        "reserved_after",
        "reference",
        "reason",
        "actor",
    )
    list_filter = ("kind", "level__location")
    search_fields = ("reference", "level__variant__sku", "reason")
    list_select_related = ("level__variant", "level__location", "actor")
    date_hierarchy = "created_at"
    list_per_page = 100

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(level__location_id__in=_staff_location_ids(request))
        )

    @admin.display(description=_("SKU"), ordering="level__variant__sku")
    def sku(self, obj: StockMovement) -> str:
        return obj.level.variant.sku

    @admin.display(description=_("location"), ordering="level__location__code")
    def location(self, obj: StockMovement) -> str:
        return obj.level.location.code


@admin.register(Reservation)
class ReservationAdmin(StockOperationPermissions, admin.ModelAdmin):
    list_display = (
        "reference",
        "sku",
        "location",
        "quantity",
        "status",
        "expires_at",
        "created_at",
    )
    list_filter = ("status", "level__location")
    search_fields = ("reference", "level__variant__sku")
    list_select_related = ("level__variant", "level__location")
    actions = ["release_action"]

    def has_change_permission(self, request, obj=None):
        return False  # reservations change only through the release action (a service)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(level__location_id__in=_staff_location_ids(request))
        )

    @admin.display(description=_("SKU"))
    def sku(self, obj: Reservation) -> str:
        return obj.level.variant.sku

    @admin.display(description=_("location"))
    def location(self, obj: Reservation) -> str:
        return obj.level.location.code

    @admin.action(
        description=_("Release the selected reservations' references"),
        permissions=["adjust_stock"],
    )
    def release_action(self, request, queryset):
        references = sorted(
            set(queryset.filter(status=Reservation.Status.OPEN).values_list("reference", flat=True))
        )
        released = 0
        for reference in references:
            released += len(
                services.stock_release(
                    reference=reference, reason=_("released in admin"), actor=request.user
                )
            )
        self.message_user(request, _("%(n)d reservation(s) released.") % {"n": released})


class TransferLineInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = TransferLine
    fields = ("variant", "quantity")
    readonly_fields = fields
    extra = 0


@admin.register(Transfer)
class TransferAdmin(StockOperationPermissions, admin.ModelAdmin):
    list_display = (
        "number",
        "source",
        "destination",
        "status",
        "reference",
        "created_at",
        "received_at",
    )
    list_filter = ("status", "source", "destination")
    search_fields = ("number", "reference")
    list_select_related = ("source", "destination")
    inlines = [TransferLineInline]
    actions = ["receive_action"]

    def has_change_permission(self, request, obj=None):
        return False  # transfers change only through the receive action (a service)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def get_queryset(self, request):
        allowed = _staff_location_ids(request)
        return (
            super()
            .get_queryset(request)
            .filter(Q(source_id__in=allowed) | Q(destination_id__in=allowed))
        )

    @admin.action(description=_("Receive the selected transfers"), permissions=["receive_stock"])
    def receive_action(self, request, queryset):
        allowed = set(_staff_location_ids(request))
        received = 0
        for transfer in queryset.filter(status=Transfer.Status.IN_TRANSIT):
            if transfer.destination_id not in allowed:
                self.message_user(
                    request,
                    _("%(number)s goes to a location you do not work at.")
                    % {"number": transfer.number},
                    messages.ERROR,
                )
                continue
            services.transfer_receive(transfer=transfer, actor=request.user)
            received += 1
        self.message_user(request, _("%(n)d transfer(s) received.") % {"n": received})
