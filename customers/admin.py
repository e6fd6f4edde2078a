"""Admin for staff: logins, customer profiles (search by any contact, merge duplicates), merges.

The customer page shows everything about the person on one page, read-only below the
profile: orders of every channel, returns and bonus points (panels the apps above give
through `customers.hooks`, each linked to its own admin page), the timeline, consents,
and the likely duplicates, each with a button that opens the merge confirmation (which
says what every profile holds and so what moves). Search takes a full name, a phone in
any format, an email or a card number.

Writes go through the services: saving a profile calls customer_create/customer_update,
saving a login calls user_update (a login with a profile follows it: its contacts change
through the profile, its name is the profile's), the merge action calls customer_merge
and needs `customers.change_customer`. Personal data: the export (a JSON download of
everything held, `customers.export_customer`) only reads; the erasure
(`customers.erase_customer`) is a confirmed POST calling customer_erase, and its audit
row shows on the page. Consent history and merge records are read-only (they are audit
trails); profiles are never deleted, only merged or erased, and logins are deactivated,
not deleted here. Staff logins are created on the staff members page. Customer profiles
belong to no store; the order and return panels link only to the user's stores' pages.
"""

import json

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.admin import ReadOnlyInline, ServiceDeleteMixin, ServiceErrorsMixin, require_permission
from core.errors import DomainError
from customers.forms import (
    CustomerAdminForm,
    EraseForm,
    MergeForm,
    UserCreationForm,
    UserEditForm,
)
from customers.models import (
    ConsentChange,
    Customer,
    CustomerMerge,
    MarketingConsent,
    Source,
    User,
)
from customers.selectors import (
    customer_consents,
    customer_erasure,
    customer_export,
    customer_panels,
    customer_search,
    customer_timeline,
    likely_duplicates,
)
from customers.services import (
    LOGIN_FLAGS,
    customer_create,
    customer_erase,
    customer_merge,
    customer_update,
    user_update,
)

VIEW_PERMISSION = "customers.view_customer"
EXPORT_PERMISSION = "customers.export_customer"
ERASE_PERMISSION = "customers.erase_customer"
# Rows per panel on the customer page (orders, returns, ledger, timeline).
PANEL_ROWS = 10
TIMELINE_ROWS = 20
DUPLICATE_REASONS = {
    "full_name": _("same full name"),
    "phone": _("phone ends in the same digits"),
    "email_name": _("same email name"),
    "email_domain": _("same email domain"),
}

LOGIN_CONTACTS = ("email", "phone", "full_name")


@admin.register(User)
class UserAdmin(ServiceErrorsMixin, ServiceDeleteMixin, BaseUserAdmin):
    form = UserEditForm
    add_form = UserCreationForm
    ordering = ("-date_joined",)
    list_display = ("email", "phone", "full_name", "is_staff", "is_active", "date_joined")
    list_filter = ("is_staff", "is_superuser", "is_active")
    search_fields = ("email", "phone", "full_name")
    fieldsets = (
        (None, {"fields": ("email", "phone", "password")}),
        (_("Personal info"), {"fields": ("full_name",)}),
        (
            _("Permissions"),
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("email", "phone", "full_name", "password1", "password2"),
            },
        ),
    )

    def has_add_permission(self, request):
        return False  # customers register themselves; staff logins: the staff members page

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None and Customer.objects.filter(user=obj).exists():
            readonly.append("full_name")  # the profile's name; change it there
        return readonly

    def save_model(self, request, obj, form, change):
        changed = set(form.changed_data)
        user_update(
            user=obj,
            **{name: form.cleaned_data[name] for name in LOGIN_CONTACTS if name in changed},
            **{name: form.cleaned_data[name] for name in LOGIN_FLAGS if name in changed},
            changed_by=request.user,
        )


class MarketingConsentInline(ReadOnlyInline):
    model = MarketingConsent
    fields = readonly_fields = ("channel", "granted", "changed_at", "source")
    verbose_name_plural = _("current marketing consents")


class ConsentChangeInline(ReadOnlyInline):
    model = ConsentChange
    fields = readonly_fields = ("changed_at", "channel", "granted", "source", "changed_by")
    ordering = ("-changed_at", "-id")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("changed_by")


EDITABLE = ("first_name", "last_name", "phone", "email", "card_number")


@admin.register(Customer)
class CustomerAdmin(ServiceErrorsMixin, admin.ModelAdmin):
    form = CustomerAdminForm
    list_display = (
        "__str__",
        "phone",
        "email",
        "card_number",
        "has_login",
        "signup_channel",
        "is_active",
        "created_at",
    )
    list_filter = ("is_active", "signup_channel")
    list_select_related = ("user",)
    # The search itself is customer_search (phones in any format); this shows the box.
    search_fields = ("last_name",)
    search_help_text = _("Phone in any format, email, card number or name.")
    ordering = ("-id",)
    fields = (
        *EDITABLE,
        "user",
        "signup_channel",
        "registered_at",
        "first_order_at",
        "first_channel",
        "first_utm_source",
        "first_utm_campaign",
        "second_order_at",
        "is_active",
        "merged_into",
        "created_at",
        "updated_at",
    )
    readonly_fields = (
        "user",
        "signup_channel",
        "registered_at",
        "first_order_at",
        "first_channel",
        "first_utm_source",
        "first_utm_campaign",
        "second_order_at",
        "is_active",
        "merged_into",
        "created_at",
        "updated_at",
    )
    inlines = [MarketingConsentInline, ConsentChangeInline]
    actions = ["merge_customers"]
    change_form_template = "admin/customers/customer/change_form.html"

    def get_urls(self):
        urls = [
            path(
                "<int:customer_id>/export/",
                self.admin_site.admin_view(self.export_view),
                name="customers_customer_export",
            ),
            path(
                "<int:customer_id>/erase/",
                self.admin_site.admin_view(self.erase_view),
                name="customers_customer_erase",
            ),
        ]
        return urls + super().get_urls()

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and customer_erasure(customer=obj) is not None:
            return self.fields  # nothing personal is left to edit
        return self.readonly_fields

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        if object_id is not None and request.method == "GET":
            customer = self.get_object(request, object_id)
            if customer is not None and self.has_view_or_change_permission(request, customer):
                extra_context.update(self._page_context(request, customer))
        return super().changeform_view(request, object_id, form_url, extra_context)

    def _page_context(self, request, customer: Customer) -> dict:
        """Everything the page shows below the profile, in a bounded number of queries."""
        user = request.user
        erasure = customer_erasure(customer=customer)
        live = erasure is None and customer.merged_into_id is None
        duplicates = [
            {
                "customer": other,
                "url": reverse("admin:customers_customer_change", args=[other.pk]),
                "reasons": [DUPLICATE_REASONS[r] for r in reasons if r != "full_name"],
            }
            for other, reasons in (likely_duplicates(customer=customer) if live else [])
        ]
        return {
            "erasure": erasure,
            "panels": customer_panels(customer=customer, user=user, limit=PANEL_ROWS),
            "timeline": customer_timeline(customer=customer, limit=TIMELINE_ROWS),
            "timeline_rows": TIMELINE_ROWS,
            "consents": customer_consents(customer=customer),
            "duplicates": duplicates,
            "can_merge": live and self.has_change_permission(request, customer),
            "can_export": user.has_perm(EXPORT_PERMISSION),
            "can_erase": live and user.has_perm(ERASE_PERMISSION),
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }

    def _customer_or_404(self, customer_id: int) -> Customer:
        customer = Customer.objects.select_related("user").filter(pk=customer_id).first()
        if customer is None:
            raise Http404
        return customer

    def export_view(self, request, customer_id: int):
        """Download everything held about the customer as JSON (reads only)."""
        require_permission(request, VIEW_PERMISSION, EXPORT_PERMISSION)
        customer = self._customer_or_404(customer_id)
        body = json.dumps(
            customer_export(customer=customer), cls=DjangoJSONEncoder, indent=2, ensure_ascii=False
        )
        response = HttpResponse(body, content_type="application/json; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="customer-{customer.pk}.json"'
        return response

    def erase_view(self, request, customer_id: int):
        """Confirm, then erase the customer's personal data (customer_erase); GET only asks."""
        require_permission(request, VIEW_PERMISSION, ERASE_PERMISSION)
        customer = self._customer_or_404(customer_id)
        page = reverse("admin:customers_customer_change", args=[customer.pk])
        form = EraseForm(request.POST if request.method == "POST" else None, customer=customer)
        if form.is_bound and form.is_valid():
            try:
                customer_erase(customer=customer, erased_by=request.user, source=Source.ADMIN)
            except DomainError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                return redirect(page)
            self.message_user(
                request,
                gettext("The personal data of customer #%(id)s was erased.") % {"id": customer.pk},
                messages.SUCCESS,
            )
            return redirect(page)
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Erase a customer's personal data"),
            "opts": self.model._meta,
            "customer": customer,
            "erasure": customer_erasure(customer=customer),
            "panels": customer_panels(customer=customer, user=request.user, limit=0),
            "form": form,
            "page_url": page,
        }
        return TemplateResponse(request, "admin/customers/customer/erase_confirm.html", context)

    @admin.display(boolean=True, description=_("login"))
    def has_login(self, customer: Customer) -> bool:
        return customer.user_id is not None

    def get_search_results(self, request, queryset, search_term):
        return customer_search(queryset=queryset, term=search_term), False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        values = {name: form.cleaned_data.get(name) for name in EDITABLE}
        if change:
            customer_update(
                customer=obj,
                **{name: values[name] for name in form.changed_data if name in EDITABLE},
                source=Source.ADMIN,
                changed_by=request.user,
            )
        else:
            created = customer_create(**values, source=Source.ADMIN, changed_by=request.user)
            # The admin goes on with `obj` (redirect, history log): make it the saved row.
            obj.pk, obj.created_at, obj._state.adding = created.pk, created.created_at, False

    @admin.action(description=_("Merge the two selected customers…"), permissions=["change"])
    def merge_customers(self, request, queryset):
        selected = list(queryset.select_related("user").order_by("pk")[:3])
        if len(selected) != 2:
            self.message_user(
                request, gettext("Select exactly two customers to merge."), messages.ERROR
            )
            return None
        form = MergeForm(request.POST if "apply" in request.POST else None, customers=selected)
        if form.is_bound and form.is_valid():
            survivor_id = form.cleaned_data["survivor"]
            survivor = next(c for c in selected if c.pk == survivor_id)
            duplicate = next(c for c in selected if c.pk != survivor_id)
            try:
                merge = customer_merge(
                    survivor=survivor, duplicate=duplicate, merged_by=request.user
                )
            except DomainError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                return None
            self.message_user(
                request,
                gettext("Customer #%(dup)s was merged into #%(survivor)s.")
                % {"dup": merge.duplicate_id, "survivor": merge.survivor_id},
                messages.SUCCESS,
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Merge two customers"),
            "opts": self.model._meta,
            "customers": selected,
            # What each profile holds, so staff see what moves with the one not kept.
            "holdings": [
                (c, customer_panels(customer=c, user=request.user, limit=0)) for c in selected
            ],
            "form": form,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/customers/customer/merge_confirm.html", context)


@admin.register(CustomerMerge)
class CustomerMergeAdmin(admin.ModelAdmin):
    list_display = ("merged_at", "survivor", "duplicate", "merged_by")
    list_select_related = ("survivor", "duplicate", "merged_by")
    search_fields = ("=survivor__id", "=duplicate__id", "survivor__email", "duplicate__email")
    readonly_fields = (
        "survivor",
        "duplicate",
        "merged_by",
        "merged_at",
        "duplicate_snapshot",
        "moved",
    )
    ordering = ("-merged_at",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
