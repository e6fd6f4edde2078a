"""Shared admin scaffolding: read-only history, service-backed saves, store scoping, checks.

Every app's admin builds on these instead of writing its own copy:

- `ReadOnlyAdminMixin` / `ReadOnlyInline`: ledgers and audit rows are shown, never
  added, changed or deleted;
- `ServiceDeleteMixin`: no bulk "delete selected" and no delete page unless the admin
  routes the delete to a service (`delete_model` calling it);
- `StoreScopedAdminMixin`: a changelist of store data shows only the stores the user
  works at (every store for a superuser or a holder of `inventory.operate_any_location`,
  e.g. head office); the store list comes from the selector named by the
  `STAFF_LOCATIONS_SELECTOR` setting, because core sits below the inventory app;
- `ServiceErrorsMixin`: a domain error raised by the service a save calls comes back
  as an error message on the page (its transaction rolled back), never as a 500;
- `IndexedSearchMixin`: a changelist of a large table searched through indexed lookups
  (the model admin's `search_condition`), word by word as Django's own search, without
  the de-duplication Django adds when a search field crosses a many-valued relation;
- `require_permission`: custom admin views check the Django permission of the operation
  (a bare `is_staff` is never enough) before they read or write anything.
"""

from collections.abc import Iterable
from functools import cache

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.utils.functional import cached_property
from django.utils.module_loading import import_string
from django.utils.text import smart_split, unescape_string_literal

from core.errors import DomainError


class ReadOnlyAdminMixin:
    """History (ledgers, audit trails): viewable, never added, changed or deleted here."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(ReadOnlyAdminMixin, admin.TabularInline):
    extra = 0
    can_delete = False


class EstimatedCountPaginator(Paginator):
    """The admin's paginator for the chain's big lists (orders, stock levels, the stock
    ledger): unfiltered, on PostgreSQL, a table past `ESTIMATE_ABOVE` rows is counted by
    the planner's estimate (`pg_class.reltuples`, kept by autovacuum) instead of reading
    every row for the page count; filtered lists (a store manager's stores, a search, a
    date range) are counted exactly."""

    ESTIMATE_ABOVE = 100_000

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        query = getattr(queryset, "query", None)
        if (
            query is not None
            and not query.where
            and not query.distinct
            and not query.combinator
            and connections[queryset.db].vendor == "postgresql"
        ):
            with connections[queryset.db].cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                    [queryset.model._meta.db_table],
                )
                row = cursor.fetchone()
            if row and row[0] > self.ESTIMATE_ABOVE:
                return int(row[0])
        return super().count


class IndexedSearchMixin:
    """Search a big list through the model admin's `search_condition(request, word)`.

    Django's own search ORs `icontains` over every `search_fields` path, joining the
    relations (a variant's barcodes, a level's variant and product) and, as a join can
    repeat a row, de-duplicating the result — for the page and again for its count. Here
    each word (quoted phrases kept whole, as Django splits them) must match the condition
    the admin builds from indexed lookups (usually `pk__in` a UNION of one lookup per
    column), which repeats no row. `search_fields` stays declared: it turns on the search
    box and the autocomplete of other admins, which also come through here.
    """

    def search_condition(self, request, word: str) -> Q:
        raise NotImplementedError

    def get_search_results(self, request, queryset, search_term):
        condition = Q()
        for word in smart_split(search_term or ""):
            if word[:1] in ('"', "'") and word[-1:] == word[:1] and len(word) > 1:
                word = unescape_string_literal(word)
            if word.strip():
                condition &= self.search_condition(request, word.strip())
        return queryset.filter(condition), False


def error_text(exc: DomainError) -> str:
    """The error's message and the field problems its details list, for an admin message."""
    details = exc.details if isinstance(exc.details, dict) else {}
    extra = []
    for key in ("password", "fields", "errors"):
        value = details.get(key)
        if isinstance(value, list | tuple):
            extra.extend(str(item) for item in value)
    return " ".join([exc.message, *extra])


class ServiceErrorsMixin:
    """Saves call services; a refusal they raise is shown on the page instead of a 500.

    The admin's change view runs in one transaction, so nothing of the refused save stays.
    """

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as exc:
            self.message_user(request, error_text(exc), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


class ServiceDeleteMixin:
    """Django's generic delete writes rows past the services (and cascades): it is off.

    Admins that can delete something through a service set `service_delete = True` and
    implement `delete_model` (and `delete_queryset`, when bulk delete makes sense) with it.
    """

    service_delete = False

    def has_delete_permission(self, request, obj=None):
        if not self.service_delete:
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not getattr(self, "service_bulk_delete", False):
            actions.pop("delete_selected", None)
        return actions


@cache
def _locations_selector():
    return import_string(settings.STAFF_LOCATIONS_SELECTOR)


def staff_location_ids(user) -> set[int] | None:
    """The ids of the locations `user` may see and act at; None means every location.

    None only for superusers: other users, head office included, get an explicit set
    (for head office the selector returns every active location).
    """
    if user.is_superuser:
        return None
    return {location.pk for location in _locations_selector()(user=user)}


def require_permission(request, *permissions: str) -> None:
    """Raise PermissionDenied (403) unless the active staff user holds every permission."""
    user = request.user
    if not (user.is_active and user.is_staff and user.has_perms(permissions)):
        raise PermissionDenied


class StoreScopedAdminMixin:
    """Rows of store data, filtered to the user's stores.

    `store_fields` names the lookups that lead to a location (`("location",)`, or
    `("source", "destination")` for a transfer: a row is visible when any of them is one
    of the user's stores).
    """

    store_fields: Iterable[str] = ("location",)

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return scope_to_stores(queryset, request.user, self.store_fields)


def scope_to_stores(queryset, user, store_fields: Iterable[str]):
    """`queryset` limited to the rows of the user's stores; every row for a superuser or a
    holder of settings.STAFF_ALL_LOCATIONS_PERMISSION (head office), with no condition."""
    if user.is_superuser or user.has_perm(settings.STAFF_ALL_LOCATIONS_PERMISSION):
        return queryset
    allowed = staff_location_ids(user)
    if allowed is None:
        return queryset
    condition = Q()
    for field in store_fields:
        condition |= Q(**{f"{field}__in": allowed})
    return queryset.filter(condition)
