"""Admin forms of the loyalty app: a manual points adjustment and a new rules version.

They validate shape and give early, friendly messages (a reason is required, the balance
is too low, a rule would start in the past); the services stay the authority and are
what the admin calls to write.
"""

from decimal import Decimal

from django import forms
from django.contrib.admin.widgets import AdminSplitDateTime
from django.utils.translation import gettext_lazy as _

from loyalty import domain, selectors
from loyalty.errors import RULES_PROBLEM_MESSAGES
from loyalty.models import AdjustReason, LoyaltyAccount, LoyaltyRules
from loyalty.services import adjust_limit_for


class AccountAdjustForm(forms.ModelForm):
    """The account page's form: nothing of the account is editable, only an adjustment."""

    adjust_points = forms.IntegerField(
        label=_("adjust by points"),
        required=False,
        help_text=_("Positive to add points, negative to remove them."),
    )
    adjust_reason_code = forms.ChoiceField(
        label=_("reason code"),
        required=False,
        choices=[("", "---------"), *AdjustReason.choices],
    )
    adjust_reason = forms.CharField(
        label=_("reason"),
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Required with an adjustment; kept in the ledger."),
    )

    class Meta:
        model = LoyaltyAccount
        fields = ["customer"]

    # The member of staff filling the form in (set by the admin): their role's limit is
    # shown here early; `points_adjust` enforces it.
    actor = None

    def clean(self):
        cleaned = super().clean()
        points = cleaned.get("adjust_points")
        reason = (cleaned.get("adjust_reason") or "").strip()
        if points == 0:
            self.add_error("adjust_points", _("An adjustment cannot be zero."))
        if points and not reason:
            self.add_error("adjust_reason", _("A manual adjustment needs a reason."))
        if points and not cleaned.get("adjust_reason_code"):
            self.add_error("adjust_reason_code", _("Choose why the points are adjusted."))
        if points and self.actor is not None:
            limit = adjust_limit_for(self.actor)
            if limit is not None and abs(points) > limit:
                self.add_error(
                    "adjust_points",
                    _(
                        "Your role may adjust at most %(limit)s points at once: a head-office "
                        "user must make this adjustment."
                    )
                    % {"limit": limit},
                )
        if points and points < 0:
            balance = self.instance.balance if self.instance.pk else 0
            if -points > balance:
                self.add_error(
                    "adjust_points",
                    _("The balance is only %(balance)s points.") % {"balance": balance},
                )
        if self.instance.pk is None and not points:
            self.add_error("adjust_points", _("Give the points to open the account with."))
        return cleaned


class RulesForm(forms.ModelForm):
    """A new rules version; an empty start means 'from now'."""

    effective_from = forms.SplitDateTimeField(
        label=_("effective from"),
        required=False,
        widget=AdminSplitDateTime,
        help_text=_("Empty: from now. Rule changes apply to new sales only."),
    )

    class Meta:
        model = LoyaltyRules
        fields = [
            "effective_from",
            "earn_rate",
            "redemption_value",
            "max_redeem_percent",
            "points_lifetime_days",
            "excluded_categories",
            "excluded_variants",
            "note",
        ]

    def clean(self):
        cleaned = super().clean()
        values = [cleaned.get(f) for f in ("earn_rate", "redemption_value", "max_redeem_percent")]
        if any(v is None for v in values):
            return cleaned
        problems = selectors.rules_problems(
            earn_rate=cleaned["earn_rate"],
            redemption_value=cleaned["redemption_value"],
            max_redeem_percent=cleaned["max_redeem_percent"],
            points_lifetime_days=cleaned.get("points_lifetime_days"),
            tiers=[],
            effective_from=cleaned.get("effective_from"),
        )
        for field, code in problems.items():
            self.add_error(field, RULES_PROBLEM_MESSAGES.get(code, code))
        return cleaned


class TierFormSet(forms.BaseInlineFormSet):
    """The tiers of a new rules version, pre-filled from the version in force."""

    def _construct_form(self, i, **kwargs):
        form = super()._construct_form(i, **kwargs)
        # Pre-filled tiers count even when staff leave them unchanged (an extra form
        # that still equals its initial data would otherwise be dropped as empty).
        if i < len(self.initial_extra or []):
            form.empty_permitted = False
        return form

    def tiers(self) -> list[domain.TierRule]:
        result = []
        for form in self.forms:
            data = getattr(form, "cleaned_data", None) or {}
            if not data or data.get("DELETE") or not data.get("name"):
                continue
            result.append(
                domain.TierRule(
                    data["name"].strip(), data["min_spend"], Decimal(data["multiplier"])
                )
            )
        return result

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        problems = domain.tier_problems(self.tiers())
        if problems:
            raise forms.ValidationError(RULES_PROBLEM_MESSAGES[problems["tiers"]])
