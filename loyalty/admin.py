"""Loyalty admin for store staff: find an account by phone, card or email, read its full
ledger, adjust points with a reason, and publish new rules versions with their tiers.

Balances and ledger rows are read-only here; every write goes through a service
(`points_adjust`, `account_get_or_create`, `rules_publish`). The ledger list and the
account's ledger read every row's relations in their one query (no query per row); a
customer's page links to the ledger list filtered by the account (`?account__id__exact=`).
"""

from django.contrib import admin, messages
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.admin import ReadOnlyAdminMixin
from core.errors import DomainError, ValidationFailed
from customers.domain import normalize_phone
from loyalty import selectors, services
from loyalty.forms import AccountAdjustForm, RulesForm, TierFormSet
from loyalty.models import LoyaltyAccount, LoyaltyEntry, LoyaltyRules, Tier

ENTRY_FIELDS = (
    "occurred_at",
    "kind",
    "points",
    "reference",
    "channel",
    "expires_at",
    "remaining",
    "reason_code",
    "reason",
    "created_by",
)


class LedgerInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = LoyaltyEntry
    fields = ENTRY_FIELDS
    readonly_fields = ENTRY_FIELDS
    ordering = ("-id",)
    extra = 0
    verbose_name = _("ledger entry")
    verbose_name_plural = _("ledger (newest first)")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("created_by")


def _search_terms(term: str) -> Q:
    """Match the customer's phone in E.164 whatever way staff type it, card or email."""
    query = Q(customer__card_number__iexact=term) | Q(customer__email__iexact=term)
    try:
        query |= Q(customer__phone=normalize_phone(term))
    except ValidationFailed:
        pass
    return query


@admin.register(LoyaltyAccount)
class LoyaltyAccountAdmin(admin.ModelAdmin):
    form = AccountAdjustForm
    list_display = ("customer", "phone", "card_number", "balance", "updated_at")
    list_select_related = ("customer",)
    search_fields = (
        "customer__phone",
        "customer__card_number",
        "customer__email",
        "customer__last_name",
    )
    search_help_text = _("Phone (any format), loyalty card number, email or last name.")
    raw_id_fields = ("customer",)
    inlines = [LedgerInline]

    def get_fieldsets(self, request, obj=None):
        adjust = (
            _("Manual adjustment"),
            {"fields": ("adjust_points", "adjust_reason_code", "adjust_reason")},
        )
        if obj is None:
            return ((None, {"fields": ("customer",)}), adjust)
        standing = ("customer", "balance", "tier", "rolling_spend", "expiring_soon")
        return ((None, {"fields": standing}), adjust)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return ("customer", "balance", "tier", "rolling_spend", "expiring_soon")

    def get_search_results(self, request, queryset, search_term):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if term:
            queryset |= self.model.objects.filter(_search_terms(term))
        return queryset, may_have_duplicates

    def has_delete_permission(self, request, obj=None):
        return False

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"actor": request.user})

    @admin.display(description=_("phone"))
    def phone(self, account):
        return account.customer.phone

    @admin.display(description=_("card"))
    def card_number(self, account):
        return account.customer.card_number

    @admin.display(description=_("tier"))
    def tier(self, account):
        tier = selectors.account_summary(customer=account.customer)["tier"]
        return tier.name if tier else "—"

    @admin.display(description=_("rolling 12-month spend"))
    def rolling_spend(self, account):
        return selectors.rolling_spend(account_id=account.pk)

    @admin.display(description=_("expiring within 30 days"))
    def expiring_soon(self, account):
        return selectors.account_summary(customer=account.customer)["expiring_soon_points"]

    def save_model(self, request, obj, form, change):
        customer = obj.customer
        if not change:
            account = services.account_get_or_create(customer=customer)
            obj.pk = account.pk
        points = form.cleaned_data.get("adjust_points")
        if not points:
            return
        try:
            services.points_adjust(
                customer=customer,
                points=points,
                reason=form.cleaned_data["adjust_reason"],
                reason_code=form.cleaned_data["adjust_reason_code"],
                actor=request.user,
            )
        except DomainError as exc:  # e.g. points spent meanwhile: the form checked earlier
            self.message_user(request, exc.message, level=messages.ERROR)
        obj.refresh_from_db()


@admin.register(LoyaltyEntry)
class LoyaltyEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "account", *ENTRY_FIELDS[:6])
    list_filter = ("kind", "channel")
    # Every column in the list's one query: the account's name is its customer's.
    list_select_related = ("account__customer",)
    search_fields = ("reference", "account__customer__phone", "account__customer__card_number")
    date_hierarchy = "occurred_at"


class TierInline(admin.TabularInline):
    model = Tier
    formset = TierFormSet
    fields = ("name", "min_spend", "multiplier")

    def get_extra(self, request, obj=None, **kwargs):
        return len(_current_tiers()) + 1 if obj is None else 0

    def has_change_permission(self, request, obj=None):
        return obj is None

    def has_add_permission(self, request, obj=None):
        return obj is None

    def has_delete_permission(self, request, obj=None):
        return obj is None


def _current_tiers() -> list[dict]:
    rules = selectors.rules_in_force()
    return [
        {"name": t.name, "min_spend": t.min_spend, "multiplier": t.multiplier}
        for t in selectors.tier_rules(rules)
    ]


@admin.register(LoyaltyRules)
class LoyaltyRulesAdmin(admin.ModelAdmin):
    """Rules are versioned: a version is never edited; 'Add' starts from the one in force."""

    form = RulesForm
    inlines = [TierInline]
    list_display = (
        "id",
        "effective_from",
        "earn_rate",
        "redemption_value",
        "max_redeem_percent",
        "points_lifetime_days",
        "created_by",
        "created_at",
    )
    autocomplete_fields = ("excluded_categories", "excluded_variants")

    def get_queryset(self, request):
        return selectors.rules_versions().select_related("created_by")

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def get_changeform_initial_data(self, request):
        rules = selectors.rules_in_force()
        if rules is None:
            return super().get_changeform_initial_data(request)
        return {
            "earn_rate": rules.earn_rate,
            "redemption_value": rules.redemption_value,
            "max_redeem_percent": rules.max_redeem_percent,
            "points_lifetime_days": rules.points_lifetime_days,
            "excluded_categories": list(rules.excluded_categories.values_list("id", flat=True)),
            "excluded_variants": list(rules.excluded_variants.values_list("id", flat=True)),
        }

    def get_formset_kwargs(self, request, obj, inline, prefix):
        kwargs = super().get_formset_kwargs(request, obj, inline, prefix)
        if isinstance(inline, TierInline) and obj.pk is None:
            kwargs["initial"] = _current_tiers()
        return kwargs

    def save_model(self, request, obj, form, change):
        """Nothing here: the version and its tiers are published together in save_related."""

    def save_related(self, request, form, formsets, change):
        tier_formset = next(f for f in formsets if isinstance(f, TierFormSet))
        data = form.cleaned_data
        rules = services.rules_publish(
            earn_rate=data["earn_rate"],
            redemption_value=data["redemption_value"],
            max_redeem_percent=data["max_redeem_percent"],
            points_lifetime_days=data.get("points_lifetime_days"),
            tiers=[
                {"name": t.name, "min_spend": t.min_spend, "multiplier": t.multiplier}
                for t in tier_formset.tiers()
            ],
            excluded_categories=data.get("excluded_categories") or (),
            excluded_variants=data.get("excluded_variants") or (),
            effective_from=data.get("effective_from"),
            note=data.get("note", ""),
            actor=request.user,
        )
        # The admin's redirect and log entry use the form's instance: point it at the new row.
        form.instance.pk = rules.pk
        form.instance.effective_from = rules.effective_from
        for formset in formsets:  # saved by the service, not by formset.save()
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
