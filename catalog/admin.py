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

A variant's page shows what staff ask about it: its price now and its promotion price
(the one quote engine, `pricing.selectors.unit_prices`), the promotions live for it, its
stock at every location (zero included) and links to its price history and its stock
ledger. These are reads of the apps above the catalog, made only here in the admin,
where the back office composes them; the catalog's models and services never import them.

Search finds a variant (and its product) by SKU or by any part of a barcode:
`?q=4006381` lists the variants whose barcode contains those digits.

Imports are django-import-export's, made understandable (see `CatalogImportExportMixin`):
the file's format is recognised from its content, errors are listed by the line the
spreadsheet shows (the header is line 1) with a downloadable CSV report, the preview
shows only the rows that change, and variants the file leaves without a price or
without stock anywhere are named before and after loading.
"""

import csv
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core import signing
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied
from django.db.models import Q
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST
from import_export.admin import ImportExportMixin
from import_export.formats import base_formats
from import_export.forms import ExportForm
from import_export.results import RowResult

from catalog import selectors, services
from catalog.errors import InvalidBarcode
from catalog.forms import CatalogImportForm
from catalog.models import Barcode, Category, Product, Variant
from catalog.resources import (
    CatalogRowResource,
    barcodes_format,
    barcodes_parse,
    options_format,
    options_parse,
    text_cell,
)
from catalog.selectors import category_descendant_ids
from core.admin import (
    IndexedSearchMixin,
    ReadOnlyAdminMixin,
    ServiceDeleteMixin,
    ServiceErrorsMixin,
    staff_location_ids,
)
from inventory import selectors as inventory_selectors
from pricing import domain as pricing_domain
from pricing import selectors as pricing_selectors

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


class VatRateFilter(admin.SimpleListFilter):
    """The VAT rates in use (Django's own field filter reads every variant to list them)."""

    title = gettext_lazy("VAT rate, %")
    parameter_name = "vat_rate__exact"

    def lookups(self, request, model_admin):
        return [(str(rate), str(rate)) for rate in selectors.variant_vat_rates()]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        try:
            rate = Decimal(value)
        except ArithmeticError:
            return queryset.none()
        if not (rate.is_finite() and 0 <= rate < 100):  # the rates a variant may carry
            return queryset.none()
        return queryset.filter(vat_rate=rate)


# --- import / export --------------------------------------------------------------------------


class CatalogAdmin(ServiceErrorsMixin, ServiceDeleteMixin, admin.ModelAdmin):
    """Saves through catalog services, refusals shown on the page, no generic delete."""


# An import's error report travels back to the download button signed, so the download
# needs no server-side state and cannot be made to say something the import did not.
_REPORT_SALT = "catalog.admin.import-errors"
_REPORT_MAX_AGE = 24 * 60 * 60
# Leading characters a spreadsheet would run as a formula when it opens the report.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_SKUS_SHOWN = 20


@dataclass(frozen=True)
class ImportProblem:
    """One error of an import, where staff find it: the spreadsheet line (header = line 1)
    and the column ("" for the row as a whole or the file)."""

    line: int | None
    column: str
    message: str


def import_problems(result) -> list[ImportProblem]:
    """Every error of an import result, by spreadsheet line: the library numbers data rows
    from 1, the spreadsheet shows the header on line 1 and that row on line 2."""
    problems = [ImportProblem(None, "", str(error.error)) for error in result.base_errors]
    for number, errors in result.row_errors():
        problems.extend(ImportProblem(number + 1, "", str(error.error)) for error in errors)
    for row in result.invalid_rows:
        for column, texts in row.error_dict.items():
            column = "" if column == NON_FIELD_ERRORS else column
            problems.extend(ImportProblem(row.number + 1, column, str(text)) for text in texts)
    return sorted(problems, key=lambda p: (p.line or 0, p.column))


def _report_cell(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _is_blank(row_result) -> bool:
    return all(text_cell(value) == "" for value in (row_result.row_values or {}).values())


def _sku_list(skus: list[str]) -> str:
    shown = ", ".join(skus[:_SKUS_SHOWN])
    more = len(skus) - _SKUS_SHOWN
    return shown if more <= 0 else _("%(skus)s and %(n)d more") % {"skus": shown, "n": more}


def unsellable_variants(*, skus: list[str]) -> dict[str, list[str]]:
    """Of these SKUs, those without a price in effect and those without stock anywhere.

    A SKU the catalog does not hold yet (a new row of a preview, which is rolled back)
    has neither. Constant number of queries whatever the number of SKUs.
    """
    skus = list(dict.fromkeys(s for s in skus if s))
    existing = selectors.variants_by_sku(skus=skus)
    ids = [variant.pk for variant in existing.values()]
    prices = pricing_selectors.unit_prices(variant_ids=ids) if ids else {}
    stocked = set()
    if ids:
        for level in inventory_selectors.stock_levels(variant_ids=ids):
            if level.on_hand > 0:
                stocked.add(level.variant_id)
    no_price, no_stock = [], []
    for sku in skus:
        variant = existing.get(sku)
        unit = prices.get(variant.pk) if variant is not None else None
        if variant is None or unit is None or unit.status == "no_price":
            no_price.append(sku)
        if variant is None or variant.pk not in stocked:
            no_stock.append(sku)
    return {"no_price": no_price, "no_stock": no_stock}


class CatalogImportExportMixin(ImportExportMixin):
    """CSV/XLSX import and export of products and variants, one row per variant.

    The import is the library's (its form, dry-run preview, confirm step and resource);
    this adds what staff need to act on its answer: the detected format, errors by
    spreadsheet line with a CSV report (`import/errors.csv`, POST of the signed report),
    a preview of the changed rows only, and the variants left unsellable.
    """

    resource_classes = [CatalogRowResource]
    formats = [base_formats.CSV, base_formats.XLSX]
    # Always every column: a file exported here must be a file that imports back.
    export_form_class = ExportForm
    import_form_class = CatalogImportForm
    import_template_name = "admin/catalog/import.html"

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

    def get_urls(self):
        info = self.get_model_info()
        return [
            path(
                "import/errors.csv",
                self.admin_site.admin_view(self.import_errors_view),
                name="{}_{}_import_errors".format(*info),
            )
        ] + super().get_urls()

    def import_action(self, request, **kwargs):
        response = super().import_action(request, **kwargs)
        context = getattr(response, "context_data", None)
        if context is not None and context.get("result") is not None:
            context.update(self.import_report_context(context["result"]))
            form = context.get("form")
            if form is not None and form.is_bound and form.is_valid():
                context["detected_format"] = form.detected_format_title()
        return response

    def import_report_context(self, result) -> dict:
        """What the import page shows about a dry run, beyond the library's own table."""
        problems = import_problems(result)
        rows = [(number, row) for number, row in enumerate(result.rows, 2)]
        changed = [(line, row) for line, row in rows if row.import_type in ("new", "update")]
        skipped = [row for _line, row in rows if row.import_type == "skip"]
        blank = sum(1 for row in skipped if _is_blank(row))
        context = {
            "import_problems": problems,
            "changed_rows": changed,
            "new_count": sum(1 for _line, row in changed if row.import_type == "new"),
            "update_count": sum(1 for _line, row in changed if row.import_type == "update"),
            "unchanged_count": len(skipped) - blank,
            "blank_count": blank,
        }
        if problems:
            report = [[p.line, p.column, p.message] for p in problems]
            context["error_report"] = signing.dumps(report, salt=_REPORT_SALT, compress=True)
        elif not result.has_errors():
            skus = [text_cell(row.row_values.get("sku")) for _line, row in changed]
            context["unsellable"] = self._unsellable_texts(skus)
        return context

    def _unsellable_texts(self, skus: list[str]) -> list[str]:
        found = unsellable_variants(skus=skus)
        texts = []
        if found["no_price"]:
            texts.append(
                _(
                    "%(n)d variant(s) will have no price: they cannot be sold in any channel "
                    "until a price is set (Pricing → Prices or the price import): %(skus)s."
                )
                % {"n": len(found["no_price"]), "skus": _sku_list(found["no_price"])}
            )
        if found["no_stock"]:
            texts.append(
                _(
                    "%(n)d variant(s) will have no stock at any location until stock is "
                    "received (Inventory → Stock levels): %(skus)s."
                )
                % {"n": len(found["no_stock"]), "skus": _sku_list(found["no_stock"])}
            )
        return texts

    @method_decorator(require_POST)
    def import_errors_view(self, request):
        """The error report of the preview staff are looking at, as CSV: line, column, error."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        try:
            report = signing.loads(
                request.POST.get("report", ""), salt=_REPORT_SALT, max_age=_REPORT_MAX_AGE
            )
        except signing.BadSignature:
            return HttpResponseBadRequest(
                _("This error report has expired; upload the file again."),
                content_type="text/plain; charset=utf-8",
            )
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="import-errors.csv"'
        response.write("\ufeff")  # so that Excel reads the UTF-8 text as UTF-8
        writer = csv.writer(response)
        writer.writerow([_("line"), _("column"), _("error")])
        for line, column, message in report:
            writer.writerow(["" if line is None else line, column, _report_cell(message)])
        return response

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
        response = super().process_result(result, request)
        skus = [
            text_cell(row.row_values.get("sku"))
            for row in result.rows
            if row.import_type in ("new", "update")
        ]
        for text in self._unsellable_texts(skus):
            messages.warning(request, text)
        return response

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
class ProductAdmin(IndexedSearchMixin, CatalogImportExportMixin, CatalogAdmin):
    list_display = ("name", "brand", "category", "is_active", "updated_at")
    list_filter = ("is_active", CategoryTreeFilter)
    search_fields = ("name", "brand", "variants__sku", "variants__barcodes__code")
    search_help_text = gettext_lazy(
        "Name, brand, SKU or any part of a barcode (e.g. 4006381 finds 4006381333931)."
    )
    list_select_related = ("category",)
    # The count of the whole unfiltered catalog beside a search's is not worth a query.
    show_full_result_count = False
    inlines = [VariantInline]
    fields = ("name", "slug", "category", "brand", "description", "is_active")
    actions = [deactivate_selected]

    def search_condition(self, request, word):
        return Q(pk__in=selectors.product_ids_containing(text=word))

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


# --- the variant page: price, promotions, stock everywhere -------------------------------------


@dataclass(frozen=True)
class StockAt:
    location: object
    on_hand: int
    reserved: int
    available: int
    yours: bool


def variant_overview(request, variant: Variant) -> dict:
    """What the variant page shows beside its fields, as far as the user may read it.

    Prices and promotions need `pricing.view_price`, stock `inventory.view_stocklevel`.
    Every location is listed (zero where the variant has no stock there), so staff can
    tell a customer where it is; a constant number of queries (no query per location).
    """
    user = request.user
    overview: dict = {}
    if user.has_perm("pricing.view_price"):
        now = timezone.now()
        unit = pricing_selectors.unit_prices(variant_ids=[variant.pk], at=now).get(variant.pk)
        discounts = {d.promotion_id: d for d in (unit.discounts if unit else ())}
        item = pricing_domain.BasketItem(
            sku=variant.sku,
            variant_id=variant.pk,
            product_id=variant.product_id,
            # Category-scoped rules list every sub-category (as the engine reads them).
            category_path=(variant.product.category_id,),
            quantity=1,
            unit_price=(unit.price if unit and unit.price is not None else Decimal("0")),
            vat_rate=variant.vat_rate,
        )
        may_open = user.has_perm("pricing.view_promotion")
        overview["price"] = unit
        overview["promotions"] = [
            {
                "rule": rule,
                "discount": discounts.get(rule.id),
                "url": reverse("admin:pricing_promotion_change", args=[rule.id])
                if may_open
                else "",
            }
            for rule in pricing_selectors.promotion_rules_live(at=now)
            if rule.covers(item)
        ]
        overview["price_history_url"] = reverse(
            "admin:pricing_price_variant_history", args=[variant.pk]
        )
    if user.has_perm("inventory.view_stocklevel"):
        levels = {
            level.location_id: level
            for level in inventory_selectors.stock_levels(variant_ids=[variant.pk])
        }
        mine = staff_location_ids(user)
        stock = []
        for location in inventory_selectors.location_list():
            level = levels.get(location.pk)
            on_hand, reserved = (level.on_hand, level.reserved) if level else (0, 0)
            stock.append(
                StockAt(
                    location=location,
                    on_hand=on_hand,
                    reserved=reserved,
                    available=on_hand - reserved,
                    yours=mine is not None and location.pk in mine,
                )
            )
        overview["stock"] = stock
        overview["stock_total"] = sum(row.available for row in stock)
        if levels and user.has_perm("inventory.view_stockmovement"):
            # The ledger's changelist filters by level (a local lookup the admin allows);
            # it shows the movements at the stores the user works at.
            ids = ",".join(str(level.pk) for level in levels.values())
            overview["ledger_url"] = (
                reverse("admin:inventory_stockmovement_changelist")
                + "?"
                + urlencode({"level__in": ids})
            )
    return overview


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
class VariantAdmin(IndexedSearchMixin, CatalogImportExportMixin, CatalogAdmin):
    form = VariantAdminForm
    actions = [deactivate_selected]
    list_display = ("sku", "name", "product", "vat_rate", "is_active")
    list_filter = ("is_active", ProductCategoryTreeFilter, VatRateFilter)
    search_fields = ("sku", "name", "barcodes__code", "product__name")
    search_help_text = gettext_lazy(
        "SKU, name, product name or any part of a barcode (e.g. 4006381 finds 4006381333931)."
    )
    change_form_template = "admin/catalog/variant/change_form.html"
    list_select_related = ("product",)
    show_full_result_count = False
    # Newest first, read backwards along the primary key. The model's order (position
    # within the product) means nothing across products and sorted the whole catalog.
    ordering = ("-pk",)
    autocomplete_fields = ("product",)
    inlines = [BarcodeInline]

    def search_condition(self, request, word):
        return Q(pk__in=selectors.variant_ids_containing(text=word))

    def get_readonly_fields(self, request, obj=None):
        return ("product", "sku", "created_at", "updated_at") if obj is not None else ()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        variant = self.get_object(request, unquote(object_id))
        if variant is not None and self.has_view_or_change_permission(request, variant):
            extra_context = {
                **(extra_context or {}),
                "overview": variant_overview(request, variant),
            }
        return super().change_view(request, object_id, form_url, extra_context)

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


# --- barcodes: a lookup list -------------------------------------------------------------------


@admin.register(Barcode)
class BarcodeAdmin(IndexedSearchMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Find which variant a scanned or partly read barcode belongs to.

    Barcodes are added and removed on the variant's page (through the services); here
    they are only listed.
    """

    list_display = ("code", "kind", "variant_link", "product_name")
    list_filter = ("kind",)
    search_fields = ("code", "variant__sku")
    search_help_text = gettext_lazy(
        "Any part of a barcode (e.g. 4006381 finds 4006381333931) or a SKU."
    )
    list_select_related = ("variant", "variant__product")
    show_full_result_count = False

    def search_condition(self, request, word):
        return Q(pk__in=selectors.barcode_ids_containing(text=word))

    @admin.display(description=gettext_lazy("variant"), ordering="variant__sku")
    def variant_link(self, barcode: Barcode) -> str:
        url = reverse("admin:catalog_variant_change", args=[barcode.variant_id])
        return format_html('<a href="{}">{}</a>', url, barcode.variant.sku)

    @admin.display(description=gettext_lazy("product"), ordering="variant__product__name")
    def product_name(self, barcode: Barcode) -> str:
        return barcode.variant.product.name
