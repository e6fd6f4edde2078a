"""Pricing admin for staff: price lists with their prices inline, prices with CSV/XLSX import
and a per-variant price history, promotions with scope pickers and coupons, coupon uses.

The admin is a caller: forms check rows with the same planner the services use (so the
errors show on the form), and every save goes through `pricing.services`. Prices that
already took effect keep their history: only their end may move, and not into the past.
Nothing is deleted by Django's generic delete: a price list (which would take its prices
in effect with it) and a promotion (its coupons and their uses) are deactivated through
the services; only a scheduled price may be deleted, through `price_delete`.

Audit: price lists, prices and promotions show their django-simple-history log behind
the "History" button (who, when, what changed, why; read-only: nothing is reverted from
there). Their forms ask for the reason of the change, recorded with `history_reason` as
the history row's change reason of everything the service writes (coupons included).
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.db.models import Q
from django.forms.models import BaseInlineFormSet
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from import_export.admin import ImportExportMixin
from import_export.formats import base_formats
from simple_history.admin import SimpleHistoryAdmin

from catalog.models import Variant
from core.admin import ReadOnlyAdminMixin, ServiceDeleteMixin, ServiceErrorsMixin
from core.errors import DomainError
from core.money import quantize
from pricing import domain, selectors, services
from pricing.models import (
    Coupon,
    CouponRedemption,
    Price,
    PriceList,
    Promotion,
    ShippingRate,
    history_reason,
)
from pricing.resources import PriceResource


def _status(price: Price) -> str:
    now = timezone.now()
    if price.valid_from > now:
        return str(_("scheduled"))
    if price.valid_until is not None and price.valid_until <= now:
        return str(_("ended"))
    return str(_("current"))


def _row(form: forms.ModelForm, price_list_id: int) -> services.PriceRow:
    data = form.cleaned_data
    return services.PriceRow(
        price_id=form.instance.pk,
        price_list_id=price_list_id,
        variant_id=data["variant"].pk,
        amount=data["amount"],
        valid_from=data["valid_from"],
        valid_until=data.get("valid_until"),
    )


def _in_effect_or_later(now) -> Q:
    return Q(valid_until__isnull=True) | Q(valid_until__gt=now)


def _reason_field() -> forms.CharField:
    return forms.CharField(
        label=_("Reason for the change"),
        required=False,
        max_length=500,
        help_text=_("Recorded in the history and the audit log with your name."),
    )


def _reason(form) -> str:
    return (getattr(form, "cleaned_data", None) or {}).get("change_reason") or ""


# --- price lists with prices inline --------------------------------------------------


class PriceInlineFormSet(BaseInlineFormSet):
    """Checks every new and changed row together against the stored prices."""

    def _changed_forms(self) -> list[forms.ModelForm]:
        return [
            form
            for form in self.forms
            if form.has_changed()
            and not (self.can_delete and self._should_delete_form(form))
            and form.cleaned_data
        ]

    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        for form in self.deleted_forms:
            if form.instance.pk and form.instance.valid_from <= timezone.now():
                form.add_error(None, _("A price already in effect cannot be deleted."))
        changed = self._changed_forms()
        if not changed:
            return
        if self.instance.pk is None:
            # A new price list: nothing is stored yet, check the rows among themselves.
            periods = [
                domain.PricePeriod(
                    price_list_id=0,
                    variant_id=f.cleaned_data["variant"].pk,
                    amount=f.cleaned_data["amount"],
                    valid_from=f.cleaned_data["valid_from"],
                    valid_until=f.cleaned_data.get("valid_until"),
                )
                for f in changed
            ]
            plan = domain.plan_prices([], periods, now=timezone.now(), close_open_ended=True)
            for index, period in enumerate(periods):
                if period.amount != quantize(period.amount, self.instance.currency):
                    plan.fail(
                        index,
                        domain.PRICE_INVALID,
                        _("The amount has more decimals than the currency allows."),
                    )
        else:
            rows = [_row(f, self.instance.pk) for f in changed]
            plan = services.price_rows_check(rows=rows, close_open_ended=True)
        for index, problems in plan.errors.items():
            changed[index].add_error(None, problems)

    def save_through_services(self) -> None:
        changed = self._changed_forms()
        rows = [_row(f, self.instance.pk) for f in changed]
        saved = services.prices_save(rows=rows, close_open_ended=True)
        self.new_objects = [p for p in saved if not any(f.instance.pk == p.pk for f in changed)]
        self.changed_objects = [
            (f.instance, f.changed_data) for f in changed if f.instance.pk is not None
        ]
        self.deleted_objects = []
        for form in self.deleted_forms:
            if form.instance.pk:
                services.price_delete(price=form.instance)
                self.deleted_objects.append(form.instance)


class PriceInline(admin.TabularInline):
    """Current and scheduled prices of the list (ended ones are in the price history)."""

    model = Price
    formset = PriceInlineFormSet
    fields = ("variant", "amount", "valid_from", "valid_until")
    autocomplete_fields = ("variant",)
    extra = 0
    ordering = ("variant__sku", "valid_from")

    def get_queryset(self, request):
        now = timezone.now()
        return (
            super().get_queryset(request).filter(_in_effect_or_later(now)).select_related("variant")
        )


class PriceListForm(forms.ModelForm):
    change_reason = _reason_field()

    class Meta:
        model = PriceList
        fields = ("name", "currency", "is_default", "is_active")

    def clean_currency(self) -> str:
        currency = (self.cleaned_data.get("currency") or "").strip().upper()
        if len(currency) != 3 or not currency.isalpha() or not currency.isascii():
            raise ValidationError(_("A currency is a three-letter ISO 4217 code."))
        stored = self.instance.pk and PriceList.objects.get(pk=self.instance.pk)
        if stored and stored.currency != currency and stored.prices.exists():
            raise ValidationError(_("The currency of a price list with prices cannot change."))
        return currency

    def clean(self):
        data = super().clean()
        if data.get("is_default") and not data.get("is_active"):
            self.add_error("is_active", _("The default price list must be active."))
        return data

    def _get_validation_exclusions(self):
        # Making this list the default takes the flag from the previous default (the
        # service does that), so the one-default constraint is not a form error.
        return super()._get_validation_exclusions() | {"is_default"}


class HistoryReadOnlyAdmin(SimpleHistoryAdmin):
    """The object's audit history behind its "History" button, to read only.

    simple-history's revert form would save an old version again: it is shown, never
    posted (a change is made on the object's page, through the services, with a reason).
    """

    def revert_disabled(self, request, obj=None):
        return True

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method != "GET":
            raise PermissionDenied
        return super().history_form_view(request, object_id, version_id, extra_context)


class PricingAdmin(ServiceErrorsMixin, ServiceDeleteMixin, HistoryReadOnlyAdmin):
    """Saves through pricing services, refusals shown on the page, no generic delete;
    every change recorded in the object's history with the form's reason."""


@admin.register(PriceList)
class PriceListAdmin(PricingAdmin):
    form = PriceListForm
    list_display = ("name", "currency", "is_default", "is_active", "created_at")
    list_filter = ("is_default", "is_active", "currency")
    search_fields = ("name",)
    inlines = [PriceInline]
    actions = ["deactivate"]

    @admin.action(description=_("Deactivate the selected price lists"), permissions=["change"])
    def deactivate(self, request, queryset):
        for price_list in queryset.filter(is_active=True).order_by("pk"):
            try:
                with history_reason(str(_("Deactivated from the list of price lists"))):
                    services.price_list_update(price_list=price_list, is_active=False)
            except DomainError as exc:  # e.g. the default list stays active
                self.message_user(request, f"{price_list}: {exc.message}", messages.ERROR)

    def save_model(self, request, obj, form, change):
        # The admin's form class lists every field shown, the reason too: not the service's.
        fields = {name: form.cleaned_data[name] for name in PriceListForm.Meta.fields}
        with history_reason(_reason(form)):
            if change:
                services.price_list_update(
                    price_list=obj, **{k: v for k, v in fields.items() if k in form.changed_data}
                )
            else:
                saved = services.price_list_create(**fields)
                obj.pk = saved.pk
                obj._state.adding = False

    def save_formset(self, request, form, formset, change):
        if isinstance(formset, PriceInlineFormSet):
            with history_reason(_reason(form)):
                formset.save_through_services()
        else:
            super().save_formset(request, form, formset, change)


# --- prices: list, import/export, history --------------------------------------------


class PriceStatusFilter(admin.SimpleListFilter):
    title = _("status")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("current", _("current")), ("scheduled", _("scheduled")), ("ended", _("ended"))]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "current":
            return queryset.filter(valid_from__lte=now).filter(_in_effect_or_later(now))
        if self.value() == "scheduled":
            return queryset.filter(valid_from__gt=now)
        if self.value() == "ended":
            return queryset.filter(valid_until__lte=now)
        return queryset


class PriceForm(forms.ModelForm):
    change_reason = _reason_field()

    class Meta:
        model = Price
        fields = ("price_list", "variant", "amount", "valid_from", "valid_until")
        help_texts = {
            "valid_from": _(
                "A new price starting after an open-ended price of the same variant ends "
                "that price at this moment (a scheduled price change)."
            )
        }

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        price_list = data.get("price_list") or self.instance.price_list
        variant = data.get("variant") or self.instance.variant
        row = services.PriceRow(
            price_id=self.instance.pk,
            price_list_id=price_list.pk,
            variant_id=variant.pk,
            amount=data["amount"],
            valid_from=data["valid_from"],
            valid_until=data.get("valid_until"),
        )
        plan = services.price_rows_check(rows=[row], close_open_ended=self.instance.pk is None)
        if not plan.ok:
            raise ValidationError({NON_FIELD_ERRORS: plan.errors[0]})
        return data


@admin.register(Price)
class PriceAdmin(ImportExportMixin, PricingAdmin):
    form = PriceForm
    resource_classes = [PriceResource]
    formats = [base_formats.CSV, base_formats.XLSX]
    import_formats = [base_formats.CSV, base_formats.XLSX]
    export_formats = [base_formats.CSV, base_formats.XLSX]
    list_display = (
        "variant",
        "price_list",
        "amount",
        "valid_from",
        "valid_until",
        "status",
        "history",
    )
    list_filter = ("price_list", PriceStatusFilter)
    # A SKU, a product name or a barcode, whole or in part (a scanner types the whole).
    search_fields = ("variant__sku", "variant__product__name", "variant__barcodes__code")
    search_help_text = _("SKU, product name or barcode (or part of one).")
    list_select_related = ("variant", "price_list")
    autocomplete_fields = ("variant",)
    date_hierarchy = "valid_from"

    @admin.display(description=_("status"))
    def status(self, price: Price) -> str:
        return _status(price)

    @admin.display(description=_("history"))
    def history(self, price: Price) -> str:
        url = reverse("admin:pricing_price_variant_history", args=[price.variant_id])
        return format_html('<a href="{}">{}</a>', url, _("price history"))

    def get_urls(self):
        # Not "pricing_price_history": that name is the admin's own per-object history
        # (the "History" button of a price), which this view must not shadow.
        urls = [
            path(
                "variant/<int:variant_id>/history/",
                self.admin_site.admin_view(self.variant_history_view),
                name="pricing_price_variant_history",
            )
        ]
        return urls + super().get_urls()

    def variant_history_view(self, request, variant_id: int):
        """Every price the variant had, has and will have, in every price list."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        variant = get_object_or_404(Variant.objects.select_related("product"), pk=variant_id)
        prices = [(p, _status(p)) for p in selectors.price_history(variant_id=variant.pk)]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Price history of %(sku)s") % {"sku": variant.sku},
            "variant": variant,
            "prices": prices,
        }
        return TemplateResponse(request, "admin/pricing/price_history.html", context)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        with history_reason(_reason(form)):
            if change:
                services.price_update(
                    price=obj,
                    amount=data["amount"],
                    valid_from=data["valid_from"],
                    valid_until=data.get("valid_until"),
                )
            else:
                saved = services.price_schedule(
                    price_list=data["price_list"],
                    variant=data["variant"],
                    amount=data["amount"],
                    valid_from=data["valid_from"],
                    valid_until=data.get("valid_until"),
                )
                obj.pk = saved.pk
                obj._state.adding = False

    def get_readonly_fields(self, request, obj=None):
        # A stored price stays the price of its variant in its list; add a new one instead.
        return ("price_list", "variant") if obj is not None else ()

    service_delete = True  # a scheduled price, through price_delete; never in bulk

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.valid_from <= timezone.now():
            return False  # history stays; end the price instead
        return super().has_delete_permission(request, obj)

    def delete_model(self, request, obj):
        with history_reason(str(_("Scheduled price deleted"))):
            services.price_delete(price=obj)


# --- promotions and coupons -----------------------------------------------------------


class CouponForm(forms.ModelForm):
    class Meta:
        model = Coupon
        fields = ("code", "usage_limit", "usage_limit_per_customer", "is_active")

    def clean_code(self) -> str:
        return domain.coupon_code_normalize(self.cleaned_data.get("code") or "")


class CouponInline(admin.TabularInline):
    model = Coupon
    form = CouponForm
    extra = 0
    can_delete = False  # used codes stay for the record; deactivate instead
    fields = ("code", "usage_limit", "usage_limit_per_customer", "is_active", "uses")
    readonly_fields = ("uses",)

    @admin.display(description=_("uses"))
    def uses(self, coupon: Coupon) -> int:
        if coupon.pk is None:
            return 0
        return coupon.redemptions.filter(released_at__isnull=True).count()


class PromotionForm(forms.ModelForm):
    change_reason = _reason_field()

    class Meta:
        model = Promotion
        fields = (
            "name",
            "description",
            "kind",
            "scope",
            "value",
            "buy_quantity",
            "get_quantity",
            "threshold",
            "variants",
            "products",
            "categories",
            "starts_at",
            "ends_at",
            "priority",
            "is_stackable",
            "is_active",
        )

    def clean(self):
        data = super().clean()
        scope = data.get("scope")
        picked = data.get(scope) if scope in ("variants", "products", "categories") else None
        problems = domain.promotion_problems(
            kind=data.get("kind") or "",
            scope=scope or "",
            value=data.get("value"),
            buy_quantity=data.get("buy_quantity") or 0,
            get_quantity=data.get("get_quantity") or 0,
            threshold=data.get("threshold"),
            starts_at=data.get("starts_at"),
            ends_at=data.get("ends_at"),
            scope_size=len(picked) if picked is not None else None,
        )
        for field, message in problems.items():
            if field in self.fields and field not in self.errors:
                self.add_error(field, message)
        return data


@admin.register(Promotion)
class PromotionAdmin(PricingAdmin):
    form = PromotionForm
    list_display = (
        "name",
        "kind",
        "scope",
        "value",
        "starts_at",
        "ends_at",
        "priority",
        "is_stackable",
        "is_active",
        "live",
    )
    list_filter = ("kind", "scope", "is_active", "is_stackable")
    search_fields = ("name", "coupons__code")
    autocomplete_fields = ("variants", "products", "categories")
    inlines = [CouponInline]
    actions = ["deactivate"]
    fieldsets = (
        (None, {"fields": ("name", "description", "is_active")}),
        (
            _("Rule"),
            {
                "fields": ("kind", "value", "buy_quantity", "get_quantity", "threshold"),
                "description": _(
                    "percent off / basket threshold: value is a percentage; amount off: "
                    "off each unit (whole basket: off the basket once); fixed price: the "
                    "unit price; buy N get M: the M cheapest of every N + M units are free."
                ),
            },
        ),
        (
            _("Scope"),
            {
                "fields": ("scope", "variants", "products", "categories"),
                "description": _("Only the list matching the scope is kept."),
            },
        ),
        (_("When and how"), {"fields": ("starts_at", "ends_at", "priority", "is_stackable")}),
        (_("Why"), {"fields": ("change_reason",)}),
    )

    @admin.action(description=_("Deactivate the selected promotions"), permissions=["change"])
    def deactivate(self, request, queryset):
        for promotion in queryset.filter(is_active=True).order_by("pk"):
            promotion.is_active = False
            with history_reason(str(_("Deactivated from the list of promotions"))):
                services.promotion_save(promotion=promotion)

    @admin.display(boolean=True, description=_("live now"))
    def live(self, promotion: Promotion) -> bool:
        now = timezone.now()
        return (
            promotion.is_active
            and promotion.starts_at <= now
            and (promotion.ends_at is None or promotion.ends_at > now)
        )

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        with history_reason(_reason(form)):
            services.promotion_save(
                promotion=obj,
                variants=data.get("variants"),
                products=data.get("products"),
                categories=data.get("categories"),
            )

    def save_related(self, request, form, formsets, change):
        # The scope was saved by promotion_save; coupons go through coupon_save, with the
        # promotion form's reason in their history.
        with history_reason(_reason(form)):
            for formset in formsets:
                self.save_formset(request, form, formset, change=change)

    def save_formset(self, request, form, formset, change):
        if formset.model is not Coupon:
            return super().save_formset(request, form, formset, change)
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for coupon_form in formset.forms:
            if not coupon_form.has_changed() or not coupon_form.cleaned_data:
                continue
            coupon = coupon_form.save(commit=False)
            coupon.promotion = form.instance
            is_new = coupon.pk is None
            services.coupon_save(coupon=coupon)
            if is_new:
                formset.new_objects.append(coupon)
            else:
                formset.changed_objects.append((coupon, coupon_form.changed_data))


@admin.register(CouponRedemption)
class CouponRedemptionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Coupon uses, read-only: they are recorded and given back by orders."""

    list_display = ("coupon", "reference", "customer_id", "created_at", "released_at")
    list_filter = ("coupon",)
    search_fields = ("reference", "coupon__code")
    list_select_related = ("coupon",)


@admin.register(ShippingRate)
class ShippingRateAdmin(ServiceErrorsMixin, ServiceDeleteMixin, admin.ModelAdmin):
    """Head office sets what each delivery method costs (`pricing.change_shippingrate`);
    saved through `shipping_rate_save`. No delete: a method is switched off (orders keep
    the code they were sold with)."""

    list_display = ("code", "name", "price", "free_above", "vat_rate", "is_active", "position")
    list_filter = ("is_active",)
    search_fields = ("code", "name")
    fields = ("code", "name", "price", "free_above", "vat_rate", "is_active", "position")

    def save_model(self, request, obj, form, change):
        services.shipping_rate_save(rate=obj)
