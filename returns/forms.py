"""Forms of the returns desk and of the return windows.

They check shape only: whole numbers no larger than what is left of a line, a reason, one
of the user's own stores, a reason for another tender. What may be returned, the return
window and who may override it stay in `returns.services`; the desk shows their errors on
these forms. The manager-only fields (window override, another tender) exist only for
users holding the permission, and the services check the permission again.
"""

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from returns.models import Condition, ReturnReason, ReturnWindow
from returns.services import (
    OTHER_TENDER_PERMISSION,
    OTHER_TENDERS,
    OVERRIDE_PERMISSION,
    LineInput,
)

MAX_WINDOW_DAYS = 3650


class ReturnWindowForm(forms.ModelForm):
    class Meta:
        model = ReturnWindow
        fields = ("category", "days", "note")
        help_texts = {
            "days": _(
                "Counted from the day the customer received the goods. Applies to this "
                "category and every category below it without a window of its own."
            ),
        }

    def clean_days(self) -> int:
        days = self.cleaned_data["days"]
        if days > MAX_WINDOW_DAYS:
            raise forms.ValidationError(
                _("At most %(max)d days.") % {"max": MAX_WINDOW_DAYS}, code="max_value"
            )
        return days


class DeskLookupForm(forms.Form):
    q = forms.CharField(
        label=_("Receipt or customer"),
        max_length=100,
        help_text=_(
            "Order number, till receipt number, a scanned receipt barcode, or the customer's "
            "phone (any format), loyalty card number or email."
        ),
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "off", "size": 40}),
    )

    def clean_q(self) -> str:
        # A scanner may add a prefix-less code with stray whitespace or a line break.
        return " ".join(self.cleaned_data["q"].split())


@dataclass
class LineRow:
    """One line on the desk form: what was bought and what is left to return."""

    key: int
    sku: str
    name: str
    bought: int
    left: int
    unit_price: Any
    quantity: Any = None  # bound fields, set by the form
    condition: Any = None


class _ReturnLinesForm(forms.Form):
    """Per line a quantity (0 to what is left) and a condition; the tender fields."""

    # Fields besides lines, store and tender that the preview must have seen.
    fingerprint_fields: tuple[str, ...] = ()

    def __init__(self, *args, rows: list[LineRow], user, locations, **kwargs):
        super().__init__(*args, **kwargs)
        self.rows = rows
        self.user = user
        self._skus = {row.key: row.sku for row in rows}
        for row in rows:
            self.fields[f"qty_{row.key}"] = forms.IntegerField(
                label=row.sku,
                min_value=0,
                max_value=row.left,
                initial=0,
                required=False,
                disabled=row.left == 0,
                widget=forms.NumberInput(attrs={"size": 4, "style": "width:5em"}),
            )
            self.fields[f"cond_{row.key}"] = forms.ChoiceField(
                label=_("condition"),
                choices=Condition.choices,
                initial=Condition.RESALEABLE,
                disabled=row.left == 0,
            )
        for row in rows:
            row.quantity = self[f"qty_{row.key}"]
            row.condition = self[f"cond_{row.key}"]
        self.fields["location"] = forms.ModelChoiceField(
            label=_("Received at"),
            queryset=locations,
            initial=locations.first() if len(locations) == 1 else None,
        )
        self.can_refund_other = user.has_perm(OTHER_TENDER_PERMISSION)
        if self.can_refund_other:
            self.fields["refund_to"] = forms.ChoiceField(
                label=_("Refund to another tender"),
                choices=[("", _("— the tenders the customer paid with —"))]
                + [(kind, kind.replace("_", " ")) for kind in OTHER_TENDERS],
                required=False,
            )
            self.fields["refund_to_reason"] = forms.CharField(
                label=_("Why another tender"), max_length=255, required=False
            )

    def clean(self):
        cleaned = super().clean()
        line_errors = any(f"qty_{row.key}" in self.errors for row in self.rows)
        if not line_errors and not any(cleaned.get(f"qty_{row.key}") for row in self.rows):
            raise forms.ValidationError(
                _("Enter how many units of at least one line come back."), code="lines_required"
            )
        if cleaned.get("refund_to") and not (cleaned.get("refund_to_reason") or "").strip():
            self.add_error(
                "refund_to_reason",
                forms.ValidationError(_("Say why the money goes to another tender."), "required"),
            )
        return cleaned

    def line_inputs(self) -> list[LineInput]:
        """The chosen units by SKU and condition (the service spreads a SKU over the
        order's lines of that SKU, oldest first)."""
        totals: dict[tuple[str, str], int] = {}
        for row in self.rows:
            quantity = self.cleaned_data.get(f"qty_{row.key}") or 0
            if quantity:
                key = (self._skus[row.key], self.cleaned_data[f"cond_{row.key}"])
                totals[key] = totals.get(key, 0) + quantity
        return [LineInput(sku, units, condition) for (sku, condition), units in totals.items()]

    def fingerprint(self) -> str:
        """A digest of what the preview showed: a confirm must match it."""
        data = {
            "lines": sorted((ln.sku, ln.quantity, ln.condition) for ln in self.line_inputs()),
            "location": self.cleaned_data["location"].pk,
            "refund_to": self.cleaned_data.get("refund_to", ""),
            "extra": [self.cleaned_data.get(name, "") for name in self.fingerprint_fields],
        }
        text = json.dumps(data, sort_keys=True, default=str) + settings.SECRET_KEY
        return hashlib.sha256(text.encode()).hexdigest()[:32]


class ReturnDeskForm(_ReturnLinesForm):
    """Goods handed in at the desk: lines, reason, store; a manager's late acceptance."""

    fingerprint_fields = ("reason", "override_reason")

    def __init__(self, *args, rows, user, locations, **kwargs):
        super().__init__(*args, rows=rows, user=user, locations=locations, **kwargs)
        self.fields["reason"] = forms.ChoiceField(
            label=_("Reason"), choices=[("", "—"), *ReturnReason.choices]
        )
        self.fields["note"] = forms.CharField(label=_("Note"), max_length=255, required=False)
        self.can_override = user.has_perm(OVERRIDE_PERMISSION)
        if self.can_override:
            self.fields["override_reason"] = forms.CharField(
                label=_("Accept after the return window because"),
                max_length=255,
                required=False,
                help_text=_("Only when the window has passed; recorded on the return."),
            )
        self.order_fields(
            ["reason", "location", "note", "override_reason", "refund_to", "refund_to_reason"]
        )


class RequestCompleteForm(_ReturnLinesForm):
    """A customer's request taken in: the quantities and conditions found, the store."""
