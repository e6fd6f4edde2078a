"""Admin for staff: logins, customer profiles (search by any contact, merge duplicates), merges.

Writes go through the services: saving a profile calls customer_create/customer_update,
saving a login calls user_update (a login with a profile follows it: its contacts change
through the profile, its name is the profile's), the merge action calls customer_merge
and needs `customers.change_customer`. Consent history and merge records are read-only
(they are audit trails); profiles are never deleted, only merged, and logins are
deactivated, not deleted. Staff logins are created on the staff members page.
"""

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.template.response import TemplateResponse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.admin import ReadOnlyInline, ServiceDeleteMixin, ServiceErrorsMixin
from core.errors import DomainError
from customers.forms import CustomerAdminForm, MergeForm, UserCreationForm, UserEditForm
from customers.models import (
    ConsentChange,
    Customer,
    CustomerMerge,
    MarketingConsent,
    Source,
    User,
)
from customers.selectors import customer_search
from customers.services import (
    LOGIN_FLAGS,
    customer_create,
    customer_merge,
    customer_update,
    user_update,
)

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
        "is_active",
        "merged_into",
        "created_at",
        "updated_at",
    )
    readonly_fields = (
        "user",
        "signup_channel",
        "registered_at",
        "is_active",
        "merged_into",
        "created_at",
        "updated_at",
    )
    inlines = [MarketingConsentInline, ConsentChangeInline]
    actions = ["merge_customers"]

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
