"""Admin forms for stock operations on selected levels and for the stock count import.

They only collect and shape input; the admin passes it to `inventory.services`.
"""

from django import forms
from django.utils.translation import gettext_lazy as _

from inventory.domain import location_rule_problems
from inventory.models import Location, StockLevel


class LocationForm(forms.ModelForm):
    """The admin's location form: field validation plus the rules across fields."""

    class Meta:
        model = Location
        fields = [
            "code",
            "name",
            "kind",
            "is_active",
            "address_line",
            "postal_code",
            "city",
            "country",
            "phone",
            "latitude",
            "longitude",
            "time_zone",
            "opening_hours",
            "is_pickup_point",
            "ships_online",
            "fulfilment_priority",
        ]

    def clean_code(self):
        return self.cleaned_data["code"].strip().upper()

    def clean(self):
        cleaned = super().clean()
        problems = location_rule_problems(
            kind=cleaned.get("kind"),
            is_pickup_point=cleaned.get("is_pickup_point", False),
            latitude=cleaned.get("latitude"),
            longitude=cleaned.get("longitude"),
        )
        for field, messages in problems.items():
            self.add_error(field, messages)
        return cleaned


class LevelQuantitiesForm(forms.Form):
    """One quantity field per selected level; a blank field leaves that level alone."""

    reference = forms.CharField(label=_("reference"), max_length=100, required=False)
    reason = forms.CharField(label=_("reason"), max_length=255, required=False)

    min_value: int | None = 1
    allow_zero = False
    reason_required = False
    quantity_help = _("units")

    def __init__(self, *args, levels: list[StockLevel], **kwargs):
        super().__init__(*args, **kwargs)
        self.levels = levels
        self.fields["reason"].required = self.reason_required
        for level in levels:
            self.fields[self.field_name(level)] = forms.IntegerField(
                label=f"{level.variant.sku} @ {level.location.code}",
                help_text=_("on hand %(on_hand)d, reserved %(reserved)d — %(what)s")
                % {
                    "on_hand": level.on_hand,
                    "reserved": level.reserved,
                    "what": self.quantity_help,
                },
                required=False,
                min_value=self.min_value,
            )

    @staticmethod
    def field_name(level: StockLevel) -> str:
        return f"qty_{level.pk}"

    def clean(self):
        cleaned = super().clean()
        if not self.quantities():
            raise forms.ValidationError(_("Enter a quantity for at least one level."))
        return cleaned

    def quantities(self) -> list[tuple[StockLevel, int]]:
        """(level, quantity) for every filled-in field, skipping zeros where they mean nothing."""
        result = []
        for level in self.levels:
            value = self.cleaned_data.get(self.field_name(level))
            if value is None or (value == 0 and not self.allow_zero):
                continue
            result.append((level, value))
        return result


class ReceiptForm(LevelQuantitiesForm):
    quantity_help = _("units received")


class AdjustmentForm(LevelQuantitiesForm):
    min_value = None
    reason_required = True
    quantity_help = _("signed change, e.g. -2")


class CountForm(LevelQuantitiesForm):
    min_value = 0
    allow_zero = True
    quantity_help = _("units counted on the shelf")


class WriteOffForm(LevelQuantitiesForm):
    reason_required = True
    quantity_help = _("units written off")


class TransferForm(LevelQuantitiesForm):
    quantity_help = _("units to ship")
    destination = forms.ModelChoiceField(
        label=_("ship to"), queryset=Location.objects.filter(is_active=True).order_by("code")
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        del self.fields["reason"]


class StockCountImportForm(forms.Form):
    file = forms.FileField(
        label=_("count file"),
        help_text=_(
            "CSV or XLSX with columns location, sku, counted (location may be omitted "
            "when a location is chosen below)."
        ),
    )
    location = forms.ModelChoiceField(
        label=_("location for rows without one"),
        queryset=Location.objects.filter(is_active=True).order_by("code"),
        required=False,
    )
    reference = forms.CharField(label=_("reference"), max_length=100, required=False)
    reason = forms.CharField(label=_("reason"), max_length=255, required=False)

    def __init__(self, *args, locations=None, **kwargs):
        super().__init__(*args, **kwargs)
        if locations is not None:
            # Only the importing user's stores can be the default (the admin passes them).
            self.fields["location"].queryset = locations.order_by("code")

    def clean_file(self):
        upload = self.cleaned_data["file"]
        name = upload.name.lower()
        if not name.endswith((".csv", ".xlsx")):
            raise forms.ValidationError(_("Upload a .csv or .xlsx file."))
        if upload.size > 5 * 1024 * 1024:
            raise forms.ValidationError(_("The file is larger than 5 MB."))
        return upload
