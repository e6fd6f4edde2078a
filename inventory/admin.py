"""Inventory admin for store staff: locations, stock by location, the read-only ledger.

Balances are never edited here: the actions (receipt, adjustment, count, write-off,
transfer), the pages of the stock list (goods received by scanning, the blind count, the
count import) and receiving a transfer line by line call `inventory.services`, which write
the ledger; the pages preview and read with GET and write only on a confirmed POST. Each
operation needs its permission (`inventory.receive_stock` for receipts, counts, the count
import and receiving transfers; `inventory.adjust_stock` for adjustments, write-offs and
releases; `inventory.transfer_stock` for sending stock; see staff.roles), and staff see
and operate only the locations they are assigned to (superusers and holders of
`inventory.operate_any_location`: all) — a count file's rows included.
"""

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass

from django import forms as forms_module
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from import_export import fields, resources
from import_export.admin import ExportMixin

from catalog import selectors as catalog_selectors
from core.admin import (
    EstimatedCountPaginator,
    IndexedSearchMixin,
    ReadOnlyAdminMixin,
    require_permission,
    scope_to_stores,
)
from core.errors import DomainError
from inventory import forms, selectors, services
from inventory.domain import lead_time_problems
from inventory.imports import count_rows_outside, read_count_file, read_scans
from inventory.models import (
    Location,
    LocationStaff,
    Reservation,
    StockLevel,
    StockMovement,
    Transfer,
    TransferDiscrepancy,
    TransferLeadTime,
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


class TransferLeadTimeForm(forms_module.ModelForm):
    class Meta:
        model = TransferLeadTime
        fields = ("source", "destination", "days")

    def clean(self):
        cleaned = super().clean()
        source, destination = cleaned.get("source"), cleaned.get("destination")
        problems = lead_time_problems(
            source_id=source.pk if source else None,
            destination_id=destination.pk if destination else None,
            destination_is_pickup=bool(destination and destination.is_pickup_point),
        )
        for field, messages_ in problems.items():
            for message in messages_:
                self.add_error(field, message)
        return cleaned


@admin.register(TransferLeadTime)
class TransferLeadTimeAdmin(admin.ModelAdmin):
    """Head office opens ship-to-store routes: from which location a pickup store may get
    goods for a customer's order, and in how many days (the promised "ready from")."""

    form = TransferLeadTimeForm
    list_display = ("destination", "source", "days")
    list_filter = ("destination", "source")
    list_select_related = ("source", "destination")
    search_fields = ("source__code", "destination__code")

    def save_model(self, request, obj, form, change):
        services.transfer_lead_time_save(lead_time=obj)

    def delete_model(self, request, obj):
        services.transfer_lead_time_delete(lead_time=obj)

    def delete_queryset(self, request, queryset):
        for lead_time in queryset:
            services.transfer_lead_time_delete(lead_time=lead_time)


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
class StockLevelAdmin(IndexedSearchMixin, StockOperationPermissions, ExportMixin, admin.ModelAdmin):
    resource_classes = [StockLevelResource]
    change_list_template = "admin/inventory/stocklevel/change_list.html"
    # Our template draws every button (the export one included): import-export's own
    # would hide them, as it shows the page's tools only to users who may add levels.
    import_export_change_list_template = None
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
    search_fields = (
        "variant__sku",
        "variant__name",
        "variant__product__name",
        "location__code",
        "variant__barcodes__code",  # a scanned barcode, or the digits still readable on it
    )
    search_help_text = _("SKU, name, store code, or a barcode or part of one.")
    list_select_related = ("variant", "variant__product", "location")
    list_per_page = 100
    # One level per variant and store: the chain's whole list runs to millions of rows,
    # and counting it beside every search or filter doubled the page's time; unfiltered,
    # it is counted by the planner's estimate.
    show_full_result_count = False
    paginator = EstimatedCountPaginator
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
        # Head office's list has no condition (counted by the estimate: core.admin).
        return scope_to_stores(super().get_queryset(request), request.user, ("location",))

    def search_condition(self, request, word):
        """The variant by SKU, name, product name or (part of a) barcode, or the store code.

        The variant ids are the catalog's indexed UNION; the stores are a short list read
        first, so a word that names no store leaves a plain `variant_id IN (…)` that
        PostgreSQL joins through the (variant, location) index."""
        condition = Q(variant_id__in=catalog_selectors.variant_ids_containing(text=word))
        stores = list(Location.objects.filter(code__icontains=word).values_list("pk", flat=True))
        return condition | Q(location_id__in=stores) if stores else condition

    def get_export_queryset(self, request):
        return super().get_export_queryset(request).select_related("location", "variant")

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_receive_stock": self.has_receive_stock_permission(request),
        }
        return super().changelist_view(request, extra_context)

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
            ),
            path(
                "receive/",
                self.admin_site.admin_view(self.receive_scan_view),
                name="inventory_stocklevel_receive_scan",
            ),
            path(
                "count/",
                self.admin_site.admin_view(self.blind_count_view),
                name="inventory_stocklevel_blind_count",
            ),
        ]
        return custom + super().get_urls()

    def _page(self, request, template: str, title, **extra) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            **extra,
        }
        return TemplateResponse(request, f"admin/inventory/stocklevel/{template}", context)

    # --- goods receipt by scanning -------------------------------------------------------

    def receive_scan_view(self, request):
        """Scan a delivery in: preview what the codes are (nothing written), then confirm.

        The confirm applies only the lines the preview showed (their fingerprint travels
        with the form); an edited list is previewed again first.
        """
        require_permission(request, RECEIVE)
        locations = selectors.locations_for_staff(user=request.user)
        if request.method != "POST":
            form = forms.ScanReceiptForm(locations=locations)
            return self._page(request, "receive_scan.html", _("Receive goods"), form=form)
        # The form is bound with the fingerprint of what this request previews, so the
        # page's confirm button confirms exactly the lines it shows.
        form = forms.ScanReceiptForm(request.POST, locations=locations)
        if not form.is_valid():
            return self._page(request, "receive_scan.html", _("Receive goods"), form=form)
        location = form.cleaned_data["location"]
        preview = _receipt_preview(location, form.cleaned_data["scans"])
        previewed = form.cleaned_data["previewed"]
        form = forms.ScanReceiptForm(
            {**request.POST.dict(), "previewed": preview.fingerprint}, locations=locations
        )
        form.is_valid()
        if "confirm" in request.POST and not preview.errors:
            if previewed != preview.fingerprint:
                form.add_error(None, _("The list changed since it was checked: check it again."))
            else:
                try:
                    services.stock_receive(
                        lines=[(line.variant.pk, line.units) for line in preview.lines],
                        location=location,
                        reference=form.cleaned_data["reference"],
                        reason=form.cleaned_data["reason"],
                        actor=request.user,
                    )
                except DomainError as exc:
                    form.add_error(None, _format_error(exc))
                else:
                    self.message_user(
                        request,
                        _("Received %(units)d unit(s) of %(skus)d SKU(s) at %(store)s.")
                        % {
                            "units": preview.units,
                            "skus": len(preview.lines),
                            "store": location.code,
                        },
                    )
                    return HttpResponseRedirect(
                        reverse("admin:inventory_stocklevel_changelist")
                        + f"?location__id__exact={location.pk}"
                    )
        return self._page(
            request, "receive_scan.html", _("Receive goods"), form=form, preview=preview
        )

    # --- blind count ---------------------------------------------------------------------

    def blind_count_view(self, request):
        """A count sheet with SKUs and names only; the figures go to `stock_count_many`.

        The counter never sees what the system holds: the sheet does not read the
        balances, and after the count only holders of `inventory.adjust_stock` (who decide
        what a difference means) see the differences; others see what they counted.
        """
        require_permission(request, RECEIVE)
        locations = selectors.locations_for_staff(user=request.user)
        if request.method != "POST":
            location = _chosen(locations, request.GET.get("location"))
            search = request.GET.get("search", "")
            rows = selectors.count_sheet(location=location, search=search) if location else []
            form = forms.BlindCountForm(
                initial={"location": location.pk if location else None, "search": search},
                locations=locations,
                rows=rows,
            )
            return self._count_page(request, form, location)
        location = _chosen(locations, request.POST.get("location"))
        level_ids = [
            _int_or_none(key.removeprefix("count_"))
            for key in request.POST
            if key.startswith("count_")
        ]
        rows = (
            selectors.count_sheet(location=location, level_ids=[i for i in level_ids if i])
            if location
            else []
        )
        form = forms.BlindCountForm(request.POST, locations=locations, rows=rows)
        results = None
        if form.is_valid():
            try:
                results = self._apply_count(request, form)
            except _CountRefused as refused:
                form.add_error(None, refused.messages)
            except DomainError as exc:
                form.add_error(None, _format_error(exc))
        return self._count_page(request, form, location, results=results)

    def _count_page(self, request, form, location, results=None) -> TemplateResponse:
        return self._page(
            request,
            "blind_count.html",
            _("Count stock (blind)"),
            form=form,
            location=location,
            results=results,
            shows_difference=request.user.has_perm(ADJUST),
        )

    def _apply_count(self, request, form) -> list["_CountResult"]:
        location = form.cleaned_data["location"]
        counted = form.counted()
        scans = read_scans(form.cleaned_data["scans"])
        variants = selectors.variants_by_code(codes=scans.units)
        problems = scans.errors + [
            _("%(code)s is neither a barcode nor a SKU.") % {"code": code}
            for code in scans.units
            if code not in variants
        ]
        if problems:
            raise _CountRefused(problems)
        for code, units in scans.units.items():
            vid = variants[code].pk
            counted[vid] = counted.get(vid, 0) + units
        if not counted:
            raise _CountRefused([_("Enter a count for at least one SKU, or scan one.")])
        movements = services.stock_count_many(
            entries=[(location, vid, figure) for vid, figure in counted.items()],
            reference=form.cleaned_data["reference"],
            reason=form.cleaned_data["reason"] or _("blind count"),
            actor=request.user,
        )
        names = {row.variant_id: (row.sku, row.name) for row in form.rows}
        names.update({v.pk: (v.sku, v.name) for v in variants.values()})
        show_difference = request.user.has_perm(ADJUST)
        return [
            _CountResult(
                sku=names[m.level.variant_id][0],
                name=names[m.level.variant_id][1],
                counted=m.quantity,
                difference=m.on_hand_delta if show_difference else None,
            )
            for m in sorted(movements, key=lambda m: names[m.level.variant_id][0])
        ]

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


class _CountRefused(Exception):
    """A count with unreadable or unknown scans, or nothing counted: nothing is recorded."""

    def __init__(self, messages: list[str]):
        super().__init__(messages)
        self.messages = messages


@dataclass(frozen=True)
class _CountResult:
    sku: str
    name: str
    counted: int
    difference: int | None  # None: this user does not see differences


@dataclass(frozen=True)
class _ReceiptLine:
    variant: object
    units: int
    new_here: bool


@dataclass(frozen=True)
class _ReceiptPreview:
    lines: list[_ReceiptLine]
    errors: list[str]
    fingerprint: str

    @property
    def units(self) -> int:
        return sum(line.units for line in self.lines)


def _receipt_preview(location: Location, text: str) -> _ReceiptPreview:
    """What a scan list would receive at a location: lines by variant (scans of one
    variant's barcodes and SKU added up), unknown codes as errors. Reads only."""
    scans = read_scans(text)
    variants = selectors.variants_by_code(codes=scans.units)
    errors = list(scans.errors)
    units: dict[int, int] = {}
    by_id = {}
    for code, count in scans.units.items():
        variant = variants.get(code)
        if variant is None:
            errors.append(_("%(code)s is neither a barcode nor a SKU.") % {"code": code})
            continue
        by_id[variant.pk] = variant
        units[variant.pk] = units.get(variant.pk, 0) + count
    if not scans.units and not errors:
        errors.append(_("Scan at least one code."))
    stocked = selectors.stocked_variant_ids(location=location, variant_ids=units)
    lines = [
        _ReceiptLine(variant=by_id[vid], units=units[vid], new_here=vid not in stocked)
        for vid in sorted(units, key=lambda vid: by_id[vid].sku)
    ]
    payload = json.dumps([location.pk, sorted(units.items())])
    fingerprint = hashlib.sha256(payload.encode()).hexdigest()[:32]
    return _ReceiptPreview(lines=lines, errors=errors, fingerprint=fingerprint)


def _chosen(locations, value) -> Location | None:
    """The user's location with this id, or None (not theirs, or not a number)."""
    pk = _int_or_none(value)
    return locations.filter(pk=pk).first() if pk is not None else None


def _int_or_none(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


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
    # A date range of the indexed `created_at`, not a date hierarchy: its drill-down
    # lists the distinct days of every movement in the list, a full read of the ledger.
    list_filter = ("kind", "level__location", ("created_at", admin.DateFieldListFilter))
    search_fields = ("reference", "level__variant__sku", "reason")
    list_select_related = ("level__variant", "level__location", "actor")
    list_per_page = 100
    show_full_result_count = False  # the ledger only grows
    paginator = EstimatedCountPaginator

    def get_queryset(self, request):
        return scope_to_stores(super().get_queryset(request), request.user, ("level__location",))

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
    show_full_result_count = False
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
        return scope_to_stores(super().get_queryset(request), request.user, ("level__location",))

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


class _TransferPartInline(ReadOnlyAdminMixin, admin.TabularInline):
    """Parts of a transfer: shown to whoever may view the transfer itself."""

    extra = 0

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("inventory.view_transfer")


class TransferLineInline(_TransferPartInline):
    model = TransferLine
    fields = ("variant", "quantity", "received_quantity")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("variant")


class TransferDiscrepancyInline(_TransferPartInline):
    """Lines received short (written off in transit) or over, with the receiver's note."""

    model = TransferDiscrepancy
    fields = ("variant", "shipped", "received", "difference", "note", "recorded_by", "recorded_at")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("variant", "recorded_by")

    @admin.display(description=_("difference"))
    def difference(self, obj: TransferDiscrepancy) -> str:
        return f"{obj.difference:+d}"


class DiscrepancyFilter(admin.SimpleListFilter):
    title = _("differences")
    parameter_name = "differences"

    def lookups(self, request, model_admin):
        return (("yes", _("received with differences")), ("no", _("received as shipped")))

    def queryset(self, request, queryset):
        has_any = Exists(TransferDiscrepancy.objects.filter(transfer=OuterRef("pk")))
        if self.value() == "yes":
            return queryset.filter(has_any)
        if self.value() == "no":
            return queryset.filter(~has_any, status=Transfer.Status.RECEIVED)
        return queryset


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
    list_filter = ("status", DiscrepancyFilter, "source", "destination")
    search_fields = ("number", "reference")
    list_select_related = ("source", "destination")
    inlines = [TransferLineInline, TransferDiscrepancyInline]
    actions = ["receive_action"]
    change_form_template = "admin/inventory/transfer/change_form.html"

    def has_change_permission(self, request, obj=None):
        return False  # transfers change only through receiving them (a service)

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

    def changelist_view(self, request, extra_context=None):
        # The receive links need the user's stores once per page, not once per row.
        request.receivable_at = self._receivable_at(request)
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        transfer = self.get_object(request, object_id)
        receivable = transfer is not None and self._can_receive(request, transfer)
        extra_context = {**(extra_context or {}), "can_receive_transfer": receivable}
        return super().change_view(request, object_id, form_url, extra_context)

    def _receivable_at(self, request) -> set[int]:
        if not self.has_receive_stock_permission(request):
            return set()
        return set(_staff_location_ids(request))

    def _can_receive(self, request, transfer: Transfer) -> bool:
        return (
            transfer.status == Transfer.Status.IN_TRANSIT
            and transfer.destination_id in self._receivable_at(request)
        )

    def get_list_display(self, request):
        receivable = getattr(request, "receivable_at", set())

        def receive_link(obj: Transfer) -> str:
            if obj.status != Transfer.Status.IN_TRANSIT or obj.destination_id not in receivable:
                return "—"
            url = reverse("admin:inventory_transfer_receive", args=[obj.pk])
            return format_html('<a href="{}">{}</a>', url, _("Receive…"))

        receive_link.short_description = _("receive")
        return [*self.list_display, receive_link]

    def get_urls(self):
        custom = [
            path(
                "<int:transfer_id>/receive/",
                self.admin_site.admin_view(self.receive_view),
                name="inventory_transfer_receive",
            )
        ]
        return custom + super().get_urls()

    def receive_view(self, request, transfer_id: int):
        """Receive one transfer line by line: the units that arrived, a note on differences.

        Only at the user's stores (another store's transfer answers like a missing one);
        the service records short and over lines and moves stock only for what arrived.
        """
        require_permission(request, RECEIVE)
        transfer = (
            Transfer.objects.filter(pk=transfer_id, destination_id__in=_staff_location_ids(request))
            .select_related("source", "destination")
            .first()
        )
        if transfer is None:
            raise Http404
        change_url = reverse("admin:inventory_transfer_change", args=[transfer.pk])
        if transfer.status != Transfer.Status.IN_TRANSIT:
            self.message_user(
                request,
                _("%(number)s was already received.") % {"number": transfer.number},
                messages.WARNING,
            )
            return HttpResponseRedirect(change_url)
        lines = list(transfer.lines.select_related("variant").order_by("variant__sku"))
        form = forms.TransferReceiptForm(
            request.POST if request.method == "POST" else None, lines=lines
        )
        if request.method == "POST" and form.is_valid():
            try:
                services.transfer_receive(
                    transfer=transfer,
                    actor=request.user,
                    received=form.received(),
                    note=form.cleaned_data["note"],
                )
            except DomainError as exc:
                form.add_error(None, _format_error(exc))
            else:
                self.message_user(request, _transfer_received_text(transfer, form.received()))
                return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Receive transfer %(number)s") % {"number": transfer.number},
            "opts": self.model._meta,
            "transfer": transfer,
            "form": form,
        }
        return TemplateResponse(request, "admin/inventory/transfer/receive.html", context)

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
            try:
                services.transfer_receive(transfer=transfer, actor=request.user)
            except DomainError as exc:  # e.g. received by someone else in the meantime
                self.message_user(
                    request, f"{transfer.number}: {_format_error(exc)}", messages.ERROR
                )
                continue
            received += 1
        self.message_user(request, _("%(n)d transfer(s) received.") % {"n": received})


def _transfer_received_text(transfer: Transfer, received: dict[int, int]) -> str:
    shipped = dict(transfer.lines.values_list("variant_id", "quantity"))
    short = sum(max(shipped[vid] - units, 0) for vid, units in received.items())
    over = sum(max(units - shipped[vid], 0) for vid, units in received.items())
    text = _("%(number)s received: %(units)d unit(s) put on the shelf.") % {
        "number": transfer.number,
        "units": sum(received.values()),
    }
    if short:
        text += " " + _("%(n)d unit(s) did not arrive and are written off in transit.") % {
            "n": short
        }
    if over:
        text += " " + _("%(n)d unit(s) more than shipped were recorded.") % {"n": over}
    return text
