"""Catalog admin for store staff: the category tree, products with their variants inline,
variants with their barcodes, and bulk CSV/XLSX import/export of products and variants.

The admin is a caller like the API: `save_model` and `save_formset` hand every write to
`catalog.services`, and the forms check barcodes with `services.barcode_validate` so a bad
check digit is a form error next to the field, never a half-saved product. SKUs and slugs
are identities other systems hold on to (POS terminals, order lines, import files), so
they are set when a row is created and read-only afterwards. Categories, products and
variants are not deleted from their pages or in bulk (Django's delete would cascade past
the services into prices, stock and order history): they are deactivated by an action
through the services; an unused variant can still be removed from its product's page
(`variant_delete` refuses one that is in use).
"""

from collections import defaultdict

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from import_export.admin import ImportExportMixin
from import_export.formats import base_formats
from import_export.forms import ExportForm
from import_export.results import RowResult

from catalog import services
from catalog.errors import InvalidBarcode
from catalog.models import Barcode, Category, Product, Variant
from catalog.resources import (
    CatalogRowResource,
    barcodes_format,
    barcodes_parse,
    options_format,
    options_parse,
)
from catalog.selectors import category_descendant_ids
from core.admin import ServiceDeleteMixin, ServiceErrorsMixin

PRODUCT_UPDATABLE = ("name", "category", "brand", "description", "is_active")
VARIANT_UPDATABLE = ("name", "options", "vat_rate", "is_active", "position")


def _adopt(target, source) -> None:
    """Turn the admin's unsaved form instance into the row a service created, so that the
    inlines saved next and the admin's redirect and log entry see its primary key."""
    for model_field in source._meta.concrete_fields:
        setattr(target, model_field.attname, getattr(source, model_field.attname))
    target._state.adding = False
    target._state.db = source._state.db


def _barcode_errors(codes: list[str], *, variant: Variant | None) -> list[str]:
    """Why each code cannot be this variant's barcode (bad GTIN, or taken by another)."""
    errors = []
    for code in codes:
        try:
            services.barcode_validate(code=code)
        except InvalidBarcode as exc:
            errors.append(
                _("%(code)s is not a valid barcode: %(reason)s.")
                % {"code": code, "reason": exc.details.get("reason", exc.message)}
            )
    taken = Barcode.objects.filter(code__in=codes)
    if variant is not None and variant.pk:
        taken = taken.exclude(variant=variant)
    for code, sku in taken.values_list("code", "variant__sku"):
        errors.append(
            _("The barcode %(code)s already belongs to variant %(sku)s.")
            % {"code": code, "sku": sku}
        )
    return errors


# --- list filters ---------------------------------------------------------------------------


class CategoryTreeFilter(admin.SimpleListFilter):
    """Filter by a category and everything below it, offered as an indented tree."""

    title = gettext_lazy("category")
    parameter_name = "category"
    field_path = "category"

    def lookups(self, request, model_admin):
        children: dict[int | None, list[tuple[int, str]]] = defaultdict(list)
        for pk, parent_id, name in Category.objects.order_by("position", "name").values_list(
            "id", "parent_id", "name"
        ):
            children[parent_id].append((pk, name))
        choices, stack, seen = [], [(pk, name, 0) for pk, name in reversed(children[None])], set()
        while stack:
            pk, name, depth = stack.pop()
            if pk in seen:
                continue
            seen.add(pk)
            choices.append((str(pk), "— " * depth + name))
            stack.extend((c, n, depth + 1) for c, n in reversed(children[pk]))
        return choices

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        try:
            category_id = int(value)
        except ValueError:
            return queryset.none()
        ids = category_descendant_ids(category_id=category_id)
        return queryset.filter(**{f"{self.field_path}__in": ids})


class ProductCategoryTreeFilter(CategoryTreeFilter):
    field_path = "product__category"


# --- import / export --------------------------------------------------------------------------


class CatalogAdmin(ServiceErrorsMixin, ServiceDeleteMixin, admin.ModelAdmin):
    """Saves through catalog services, refusals shown on the page, no generic delete."""


class CatalogImportExportMixin(ImportExportMixin):
    """CSV/XLSX import and export of products and variants, one row per variant."""

    resource_classes = [CatalogRowResource]
    formats = [base_formats.CSV, base_formats.XLSX]
    # Always every column: a file exported here must be a file that imports back.
    export_form_class = ExportForm

    def has_import_permission(self, request):
        return request.user.has_perms(
            [
                "catalog.add_product",
                "catalog.change_product",
                "catalog.add_variant",
                "catalog.change_variant",
            ]
        )

    def has_export_permission(self, request):
        return request.user.has_perms(["catalog.view_product", "catalog.view_variant"])

    def process_result(self, result, request):
        if result.has_errors() or result.has_validation_errors():
            # The confirm step re-checks the file against the database as it is now; when
            # someone changed the catalog in between, nothing was loaded and staff must know.
            messages.error(
                request,
                _(
                    "Nothing was imported: %(n)d row(s) are no longer valid. Upload the file "
                    "again to see why."
                )
                % {"n": len(result.invalid_rows) + len(result.row_errors())},
            )
            app_label, model_name = self.get_model_info()
            return HttpResponseRedirect(reverse(f"admin:{app_label}_{model_name}_import"))
        return super().process_result(result, request)

    def add_success_message(self, result, request):
        messages.success(
            request,
            _(
                "Import finished: %(new)d new, %(updated)d updated and %(skipped)d unchanged "
                "variants."
            )
            % {
                "new": result.totals[RowResult.IMPORT_TYPE_NEW],
                "updated": result.totals[RowResult.IMPORT_TYPE_UPDATE],
                "skipped": result.totals[RowResult.IMPORT_TYPE_SKIP],
            },
        )


# --- categories -------------------------------------------------------------------------------


class CategoryAdminForm(forms.ModelForm):
    class Meta:
        model = Category
        fields = ("name", "slug", "parent", "position")

    def clean_parent(self):
        parent = self.cleaned_data.get("parent")
        if (
            parent is not None
            and self.instance.pk
            and parent.pk in category_descendant_ids(category_id=self.instance.pk)
        ):
            raise forms.ValidationError(
                _("A category cannot be placed under itself or its descendants.")
            )
        return parent


@admin.register(Category)
class CategoryAdmin(CatalogAdmin):
    form = CategoryAdminForm
    list_display = ("name", "slug", "parent", "position")
    list_filter = (("parent", admin.RelatedOnlyFieldListFilter),)
    search_fields = ("name", "slug")
    list_select_related = ("parent",)

    def get_readonly_fields(self, request, obj=None):
        return ("slug",) if obj is not None else ()

    def get_prepopulated_fields(self, request, obj=None):
        return {"slug": ("name",)} if obj is None else {}

    def save_model(self, request, obj, form, change):
        if not change:
            category = services.category_create(
                name=obj.name, parent=obj.parent, slug=obj.slug or None, position=obj.position
            )
            _adopt(obj, category)
            return
        changes = {n: form.cleaned_data[n] for n in ("name", "position") if n in form.changed_data}
        if changes:
            services.category_update(category=obj, **changes)
        if "parent" in form.changed_data:
            services.category_move(category=obj, parent=form.cleaned_data["parent"])


# --- products with variants inline -------------------------------------------------------------


class VariantFieldsMixin(forms.ModelForm):
    """Options as "size=M; colour=Red" text instead of raw JSON."""

    options = forms.CharField(
        label=gettext_lazy("options"),
        required=False,
        help_text=gettext_lazy("name=value pairs separated by ';', e.g. size=M; colour=Red"),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["options"] = options_format(self.instance.options)

    def clean_options(self):
        try:
            return options_parse(self.cleaned_data.get("options") or "")
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc


class VariantInlineForm(VariantFieldsMixin):
    barcodes = forms.CharField(
        label=gettext_lazy("barcodes"),
        required=False,
        help_text=gettext_lazy("EAN-13, EAN-8, UPC-A or GTIN-14, separated by '|'"),
    )

    class Meta:
        model = Variant
        fields = ("sku", "name", "options", "vat_rate", "is_active", "position")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            # The SKU is what POS terminals, order lines and import files refer to.
            self.fields["sku"].disabled = True
            self.initial["barcodes"] = barcodes_format(
                [b.code for b in sorted(self.instance.barcodes.all(), key=lambda b: b.pk)]
            )

    def clean_sku(self):
        return (self.cleaned_data.get("sku") or "").strip()

    def clean_barcodes(self):
        codes = barcodes_parse(self.cleaned_data.get("barcodes") or "")
        errors = _barcode_errors(codes, variant=self.instance)
        if errors:
            raise forms.ValidationError(errors)
        return codes


class VariantInlineFormSet(forms.BaseInlineFormSet):
    def clean(self):
        super().clean()
        seen: dict[str, str] = {}
        for form in self.forms:
            if not hasattr(form, "cleaned_data") or (
                self.can_delete and self._should_delete_form(form)
            ):
                continue
            for code in form.cleaned_data.get("barcodes") or ():
                other = seen.setdefault(code, form.cleaned_data.get("sku") or "")
                if other != (form.cleaned_data.get("sku") or ""):
                    raise forms.ValidationError(
                        _("The barcode %(code)s is given to two variants.") % {"code": code}
                    )


class VariantInline(admin.TabularInline):
    model = Variant
    form = VariantInlineForm
    formset = VariantInlineFormSet
    extra = 0
    fields = ("sku", "name", "options", "vat_rate", "barcodes", "is_active", "position")
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("barcodes")

    def get_fields(self, request, obj=None):
        if self.has_change_permission(request, obj):
            return self.fields
        # Read-only rows show model fields and admin methods; `barcodes` is a form field.
        return tuple("barcode_list" if name == "barcodes" else name for name in self.fields)

    def get_readonly_fields(self, request, obj=None):
        if self.has_change_permission(request, obj):
            return ()
        return ("barcode_list",)

    @admin.display(description=gettext_lazy("barcodes"))
    def barcode_list(self, variant: Variant) -> str:
        return barcodes_format([b.code for b in sorted(variant.barcodes.all(), key=lambda b: b.pk)])


@admin.action(description=gettext_lazy("Deactivate the selected rows"), permissions=["change"])
def deactivate_selected(model_admin, request, queryset):
    """Products and variants leave every channel; their history stays."""
    update = services.product_update if queryset.model is Product else services.variant_update
    count = 0
    for row in queryset.filter(is_active=True).order_by("pk"):
        update(**{queryset.model._meta.model_name: row}, is_active=False)
        count += 1
    model_admin.message_user(
        request, _("%(n)d row(s) deactivated.") % {"n": count}, messages.SUCCESS
    )


@admin.register(Product)
class ProductAdmin(CatalogImportExportMixin, CatalogAdmin):
    list_display = ("name", "brand", "category", "is_active", "updated_at")
    list_filter = ("is_active", CategoryTreeFilter)
    search_fields = ("name", "brand", "variants__sku", "=variants__barcodes__code")
    search_help_text = gettext_lazy("Name, brand, SKU or exact barcode.")
    list_select_related = ("category",)
    inlines = [VariantInline]
    fields = ("name", "slug", "category", "brand", "description", "is_active")
    actions = [deactivate_selected]

    def get_readonly_fields(self, request, obj=None):
        return ("slug", "created_at", "updated_at") if obj is not None else ()

    def get_fields(self, request, obj=None):
        fields = list(self.fields)
        return fields + ["created_at", "updated_at"] if obj is not None else fields

    def get_prepopulated_fields(self, request, obj=None):
        return {"slug": ("name",)} if obj is None else {}

    def save_model(self, request, obj, form, change):
        if not change:
            product = services.product_create(
                name=obj.name,
                category=obj.category,
                brand=obj.brand,
                description=obj.description,
                slug=obj.slug or None,
                is_active=obj.is_active,
            )
            _adopt(obj, product)
            return
        changes = {n: form.cleaned_data[n] for n in PRODUCT_UPDATABLE if n in form.changed_data}
        if changes:
            services.product_update(product=obj, **changes)

    def save_formset(self, request, form, formset, change):
        if formset.model is not Variant:
            return super().save_formset(request, form, formset, change)
        product = formset.instance
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        deleted = formset.deleted_forms
        for variant_form in formset.initial_forms:
            variant = variant_form.instance
            if variant_form in deleted:
                services.variant_delete(variant=variant)
                formset.deleted_objects.append(variant)
                continue
            if not variant_form.has_changed():
                continue
            data = variant_form.cleaned_data
            changes = {n: data[n] for n in VARIANT_UPDATABLE if n in variant_form.changed_data}
            if changes:
                services.variant_update(variant=variant, **changes)
            if "barcodes" in variant_form.changed_data:
                services.variant_barcodes_set(variant=variant, codes=data["barcodes"])
            formset.changed_objects.append((variant, variant_form.changed_data))
        for variant_form in formset.extra_forms:
            if not variant_form.has_changed() or variant_form in deleted:
                continue
            data = variant_form.cleaned_data
            variant = services.variant_create(
                product=product,
                sku=data["sku"],
                vat_rate=data["vat_rate"],
                name=data.get("name", ""),
                options=data.get("options") or {},
                barcodes=data.get("barcodes") or [],
                is_active=data.get("is_active", True),
                position=data.get("position") or 0,
            )
            formset.new_objects.append(variant)

    def get_data_for_export(self, request, queryset, **kwargs):
        # The file has one row per variant: export the variants of the listed products.
        variants = Variant.objects.filter(product_id__in=queryset.values("pk"))
        return super().get_data_for_export(request, variants, **kwargs)


# --- variants with barcodes inline -------------------------------------------------------------


class BarcodeInlineForm(forms.ModelForm):
    class Meta:
        model = Barcode
        fields = ("code",)

    def clean_code(self):
        code = (self.cleaned_data.get("code") or "").strip()
        try:
            services.barcode_validate(code=code)
        except InvalidBarcode as exc:
            raise forms.ValidationError(
                _("Not a valid barcode: %(reason)s.")
                % {"reason": exc.details.get("reason", exc.message)}
            ) from exc
        owner = (
            Barcode.objects.filter(code=code)
            .exclude(variant_id=self.instance.variant_id)
            .values_list("variant__sku", flat=True)
            .first()
        )
        if owner is not None:
            raise forms.ValidationError(
                _("This barcode already belongs to variant %(sku)s.") % {"sku": owner}
            )
        return code


class BarcodeInline(admin.TabularInline):
    model = Barcode
    form = BarcodeInlineForm
    extra = 1
    fields = ("code", "kind")
    readonly_fields = ("kind",)


class VariantAdminForm(VariantFieldsMixin):
    class Meta:
        model = Variant
        fields = ("product", "sku", "name", "options", "vat_rate", "is_active", "position")

    def clean_sku(self):
        return (self.cleaned_data.get("sku") or "").strip()


@admin.register(Variant)
class VariantAdmin(CatalogImportExportMixin, CatalogAdmin):
    form = VariantAdminForm
    actions = [deactivate_selected]
    list_display = ("sku", "name", "product", "vat_rate", "is_active")
    list_filter = ("is_active", ProductCategoryTreeFilter, "vat_rate")
    search_fields = ("sku", "name", "=barcodes__code", "product__name")
    search_help_text = gettext_lazy("SKU, name, product name or exact barcode.")
    list_select_related = ("product",)
    autocomplete_fields = ("product",)
    inlines = [BarcodeInline]

    def get_readonly_fields(self, request, obj=None):
        return ("product", "sku", "created_at", "updated_at") if obj is not None else ()

    def get_fields(self, request, obj=None):
        fields = ["product", "sku", "name", "options", "vat_rate", "is_active", "position"]
        return fields + ["created_at", "updated_at"] if obj is not None else fields

    def save_model(self, request, obj, form, change):
        if not change:
            variant = services.variant_create(
                product=obj.product,
                sku=obj.sku,
                vat_rate=obj.vat_rate,
                name=obj.name,
                options=obj.options,
                is_active=obj.is_active,
                position=obj.position,
            )
            _adopt(obj, variant)
            return
        changes = {n: form.cleaned_data[n] for n in VARIANT_UPDATABLE if n in form.changed_data}
        if changes:
            services.variant_update(variant=obj, **changes)

    def save_formset(self, request, form, formset, change):
        if formset.model is not Barcode:
            return super().save_formset(request, form, formset, change)
        variant = formset.instance
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        deleted = formset.deleted_forms
        # Removals first, so a code moved from one line to another is free when it is added.
        for barcode_form in formset.initial_forms:
            if barcode_form in deleted or barcode_form.has_changed():
                barcode = Barcode.objects.get(pk=barcode_form.instance.pk)
                services.barcode_remove(barcode=barcode)
                if barcode_form in deleted:
                    formset.deleted_objects.append(barcode)
        for barcode_form in formset.forms:
            if barcode_form in deleted or not barcode_form.has_changed():
                continue
            barcode = services.barcode_add(variant=variant, code=barcode_form.cleaned_data["code"])
            if barcode_form in formset.initial_forms:
                formset.changed_objects.append((barcode, ["code"]))
            else:
                formset.new_objects.append(barcode)
