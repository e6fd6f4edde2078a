"""Staff admin: the list of staff logins with their role and stores, and one page that
creates a member of staff (login, role, stores) through `staff.services`.

Existing logins are edited on the users page (customers admin) and store assignments on
the location staff page; this page only creates, so its change view is read-only.
"""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from core.admin import ServiceDeleteMixin, ServiceErrorsMixin
from staff.forms import StaffMemberCreateForm
from staff.models import StaffMember
from staff.roles import ROLES
from staff.services import staff_member_create

ROLE_GROUPS = {role.group for role in ROLES.values()}


@admin.register(StaffMember)
class StaffMemberAdmin(ServiceErrorsMixin, ServiceDeleteMixin, admin.ModelAdmin):
    form = StaffMemberCreateForm
    list_display = ("email", "full_name", "roles", "stores", "is_active", "last_login")
    list_filter = ("is_active", "groups")
    search_fields = ("email", "phone", "full_name")
    ordering = ("email",)
    readonly_fields = ("email", "phone", "full_name", "roles", "stores", "is_active")

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(is_staff=True)
            .prefetch_related("groups", "inventory_locations__location")
        )

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("email", "full_name", "phone", "password1", "password2", "role", "locations")
        return self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else ()

    def has_change_permission(self, request, obj=None):
        return False  # edit the login on the users page, its stores on location staff

    @admin.display(description=_("role"))
    def roles(self, user) -> str:
        return ", ".join(sorted(g.name for g in user.groups.all() if g.name in ROLE_GROUPS)) or "—"

    @admin.display(description=_("stores"))
    def stores(self, user) -> str:
        if user.is_superuser or user.has_perm("inventory.operate_any_location"):
            return str(_("every store"))
        codes = sorted(a.location.code for a in user.inventory_locations.all())
        return ", ".join(codes) or "—"

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        user = staff_member_create(
            email=data["email"],
            password=data["password1"],
            role=data["role"],
            locations=data.get("locations") or (),
            full_name=data.get("full_name") or "",
            phone=data.get("phone") or None,
        )
        obj.pk, obj._state.adding = user.pk, False

    def save_related(self, request, form, formsets, change):
        """The service assigned the group and the stores."""
