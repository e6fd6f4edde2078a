"""Forms of the returns desk and of the return windows.

They check shape only: whole numbers no larger than what is left of a line, a reason, one
of the user's own stores, a reason for another tender. What may be returned, the return
window and who may override it stay in `returns.services`; the desk shows their errors on
these forms. The manager-only fields (window override, another tender) exist only for
users holding the permission, and the services check the permission again.

The desk form's "exchange for" rows name new items by SKU or scanned barcode (resolved to
the SKU through the catalog's selectors; a code that is neither is a field error); their
prices, and whether the difference needs a payment, are the quote engine's and
`return_create`'s business.
"""

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from catalog import selectors as catalog_selectors
from returns.models import Condition, ReturnReason, ReturnWindow
from returns.services import (
    MAX_QUANTITY,
    OTHER_TENDER_PERMISSION,
    OTHER_TENDERS,
    OVERRIDE_PERMISSION,
    ExchangeInput,
    LineInput,
)

MAX_WINDOW_DAYS = 3650
# Rows of new items an exchange at the desk may name (blank rows are ignored).
EXCHANGE_ROWS = 4


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
class ExchangeRow:
    """One "exchange for" row: an item code (SKU or barcode) and a quantity (bound fields)."""

    index: int
    item: Any
    quantity: Any


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
    # Fields drawn in rows of their own, not in the list below the lines.
    row_prefixes: tuple[str, ...] = ("qty_", "cond_")

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

    def exchange_input(self) -> ExchangeInput | None:
        """The new items of an exchange, in row order; None when the form takes none."""
        return None

    def general_fields(self) -> list:
        """The bound fields shown below the lines (not a line's or an exchange row's)."""
        return [self[name] for name in self.fields if not name.startswith(self.row_prefixes)]

    def fingerprint(self, figures: Any = None) -> str:
        """A digest of what the preview showed (with `figures` it priced, such as the new
        items' line totals): a confirm must match it."""
        exchange = self.exchange_input()
        data = {
            "lines": sorted((ln.sku, ln.quantity, ln.condition) for ln in self.line_inputs()),
            "location": self.cleaned_data["location"].pk,
            "refund_to": self.cleaned_data.get("refund_to", ""),
            "extra": [self.cleaned_data.get(name, "") for name in self.fingerprint_fields],
            "exchange": list(exchange.lines) if exchange else [],
            "pay": exchange.payment_kind if exchange else "",
            "figures": figures,
        }
        text = json.dumps(data, sort_keys=True, default=str) + settings.SECRET_KEY
        return hashlib.sha256(text.encode()).hexdigest()[:32]


class ReturnDeskForm(_ReturnLinesForm):
    """Goods handed in at the desk: lines, reason, store; a manager's late acceptance."""

    fingerprint_fields = ("reason", "override_reason")
    row_prefixes = ("qty_", "cond_", "new_item_", "new_qty_", "exchange_payment")

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
        self.exchange_rows = []
        for index in range(EXCHANGE_ROWS):
            self.fields[f"new_item_{index}"] = forms.CharField(
                label=_("New item"),
                max_length=64,
                required=False,
                widget=forms.TextInput(
                    attrs={"size": 20, "autocomplete": "off", "placeholder": _("SKU or barcode")}
                ),
            )
            self.fields[f"new_qty_{index}"] = forms.IntegerField(
                label=_("quantity"),
                min_value=1,
                max_value=MAX_QUANTITY,
                initial=1,
                required=False,
                widget=forms.NumberInput(attrs={"size": 4, "style": "width:5em"}),
            )
            self.exchange_rows.append(
                ExchangeRow(index, self[f"new_item_{index}"], self[f"new_qty_{index}"])
            )
        self.fields["exchange_payment"] = forms.ChoiceField(
            label=_("The customer pays a difference by"),
            choices=[("", "—"), ("cash", _("cash")), ("card", _("card"))],
            required=False,
            help_text=_("Only when the new items cost more than the goods brought back."),
        )
        self.exchange_variants: dict[str, Any] = {}  # SKU → variant of the named new items
        self._exchange_lines: list[tuple[str, int]] = []

    def clean(self):
        cleaned = super().clean()
        self._clean_exchange(cleaned)
        return cleaned

    def _clean_exchange(self, cleaned) -> None:
        """Each row with an item: its code as a SKU, else as a barcode (a scanner's), with
        its quantity (1 when left blank). A code that is neither is an error on its row."""
        named = {
            index: " ".join((cleaned.get(f"new_item_{index}") or "").split())
            for index in range(EXCHANGE_ROWS)
        }
        codes = {code for code in named.values() if code}
        if not codes:
            return
        by_sku = catalog_selectors.variants_by_sku(skus=codes)
        unmatched = codes - set(by_sku)
        by_barcode = catalog_selectors.variants_by_barcode(codes=unmatched) if unmatched else {}
        lines = []
        for index, code in named.items():
            if not code:
                continue
            variant = by_sku.get(code) or by_barcode.get(code)
            if variant is None:
                self.add_error(
                    f"new_item_{index}",
                    forms.ValidationError(
                        _("No item has the SKU or barcode %(code)s."),
                        code="unknown_sku",
                        params={"code": code},
                    ),
                )
                continue
            if f"new_qty_{index}" in self.errors:
                continue
            self.exchange_variants[variant.sku] = variant
            lines.append((variant.sku, cleaned.get(f"new_qty_{index}") or 1))
        self._exchange_lines = lines

    def exchange_input(self) -> ExchangeInput | None:
        if not self._exchange_lines:
            return None
        return ExchangeInput(
            lines=tuple(self._exchange_lines),
            payment_kind=self.cleaned_data.get("exchange_payment") or "",
        )


class RequestCompleteForm(_ReturnLinesForm):
    """A customer's request taken in: the quantities and conditions found, the store."""
