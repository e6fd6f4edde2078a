"""The audit log in the admin: one page, filterable, newest first (Audit → Audit log).

It needs `audit.view_audit`; what it then shows is narrowed by `audit.selectors` to the
sources the user may read and their stores. The page only reads (a GET never writes);
the proxy's change and history pages lead back to the log.
"""

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from audit import selectors
from audit.models import Audit
from core.admin import require_permission
from inventory.selectors import locations_for_staff

PERMISSION = "audit.view_audit"


class AuditFilterForm(forms.Form):
    kind = forms.ChoiceField(label=_("What"), required=False)
    user = forms.ModelChoiceField(
        label=_("Who"), required=False, queryset=get_user_model().objects.none()
    )
    since = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    store = forms.ModelChoiceField(label=_("Store"), required=False, queryset=None)
    object = forms.CharField(
        label=_("Object"),
        required=False,
        max_length=100,
        widget=forms.TextInput(
            attrs={"placeholder": _("SKU, order number, coupon code, promotion, card")}
        ),
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [("", _("Everything"))] + [
            (source.kind, source.label) for source in selectors.audit_kinds_for(user)
        ]
        stores = locations_for_staff(user=user)
        staff = get_user_model().objects.filter(is_staff=True)
        if not (user.is_superuser or user.has_perm(selectors.EVERY_STORE)):
            # The staff of the user's stores and the central staff (no store), whose
            # changes the log may show them; never the names of another store's staff.
            staff = staff.filter(
                Q(inventory_locations__location__in=stores) | Q(inventory_locations__isnull=True)
            ).distinct()
        self.fields["user"].queryset = staff.order_by("email", "pk")
        self.fields["store"].queryset = stores

    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", _("The end is before the start."))
        return data

    def filters(self) -> selectors.AuditFilters:
        """The valid filters; an invalid one is left out (the form shows its error)."""
        data = self.cleaned_data if self.is_bound else {}
        user, store = data.get("user"), data.get("store")
        return selectors.AuditFilters(
            kind=data.get("kind") or "",
            user_id=user.pk if user else None,
            since=data.get("since"),
            until=data.get("until"),
            location_id=store.pk if store else None,
            object=(data.get("object") or "").strip(),
        )


@admin.register(Audit)
class AuditAdmin(admin.ModelAdmin):
    """Not a list of the proxied rows: the changelist is the merged audit log."""

    per_page = 50

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm(PERMISSION)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        require_permission(request, PERMISSION)
        form = AuditFilterForm(request.GET or None, user=request.user)
        if form.is_bound:
            form.is_valid()
        query = request.GET.copy()
        query.pop("page", None)
        page = selectors.audit_page(
            user=request.user,
            filters=form.filters(),
            page=request.GET.get("page") or 1,
            per_page=self.per_page,
        )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Audit log"),
            "form": form,
            "page": page,
            "query": query.urlencode(),
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/audit/audit_log.html", context)

    def _back_to_the_log(self, request):
        require_permission(request, PERMISSION)
        return HttpResponseRedirect(reverse("admin:audit_audit_changelist"))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return self._back_to_the_log(request)

    def history_view(self, request, object_id, extra_context=None):
        return self._back_to_the_log(request)

    def delete_view(self, request, object_id, extra_context=None):
        return self._back_to_the_log(request)
