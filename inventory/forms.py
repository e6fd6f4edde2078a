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


class _StoreChoiceForm(forms.Form):
    """A form whose store is one of the user's locations (the admin passes them)."""

    location = forms.ModelChoiceField(label=_("store"), queryset=Location.objects.none())

    def __init__(self, *args, locations, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["location"].queryset = locations.order_by("code")
        if len(self.fields["location"].queryset) == 1:
            self.fields["location"].initial = self.fields["location"].queryset[0].pk


SCANS_HELP = _(
    "Scan barcodes or type SKUs, one per line; each line adds one unit, "
    '"CODE × 3" (or "CODE x 3", "CODE*3") adds three.'
)


class ScanReceiptForm(_StoreChoiceForm):
    """Goods receipt by scanning: the store, the scanned codes, the delivery's reference."""

    scans = forms.CharField(
        label=_("scanned codes"),
        widget=forms.Textarea(attrs={"rows": 12, "cols": 40, "autofocus": True}),
        help_text=SCANS_HELP,
    )
    reference = forms.CharField(
        label=_("reference"),
        max_length=100,
        required=False,
        help_text=_("The delivery note or supplier invoice number."),
    )
    reason = forms.CharField(label=_("note"), max_length=255, required=False)
    # The fingerprint of the lines the preview showed; a confirm applies only those.
    previewed = forms.CharField(widget=forms.HiddenInput, required=False)


class BlindCountForm(_StoreChoiceForm):
    """A blind count: one field per listed level (SKU and name only) plus scanned codes.

    A blank field is not counted; 0 is a count of zero. Scanned units add to the figure
    typed for the same SKU (shelf and back room counted separately).
    """

    search = forms.CharField(label=_("only SKUs, names or barcodes containing"), required=False)
    scans = forms.CharField(
        label=_("scanned codes"),
        widget=forms.Textarea(attrs={"rows": 6, "cols": 40}),
        required=False,
        help_text=SCANS_HELP,
    )
    reference = forms.CharField(label=_("reference"), max_length=100, required=False)
    reason = forms.CharField(label=_("note"), max_length=255, required=False)

    def __init__(self, *args, rows=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.rows = list(rows)
        for row in self.rows:
            self.fields[self.field_name(row.level_id)] = forms.IntegerField(
                label=row.sku, required=False, min_value=0, max_value=1_000_000
            )

    @staticmethod
    def field_name(level_id: int) -> str:
        return f"count_{level_id}"

    def counted(self) -> dict[int, int]:
        """variant id → counted units typed on the sheet (blank fields left out)."""
        result = {}
        for row in self.rows:
            value = self.cleaned_data.get(self.field_name(row.level_id))
            if value is not None:
                result[row.variant_id] = value
        return result

    def sheet(self) -> list[tuple]:
        """(row, bound field) pairs for the template."""
        return [(row, self[self.field_name(row.level_id)]) for row in self.rows]


class TransferReceiptForm(forms.Form):
    """Receiving a transfer: the units that arrived per line (prefilled with what shipped)."""

    note = forms.CharField(
        label=_("note on differences"),
        max_length=255,
        required=False,
        help_text=_("Why lines arrived short or over (damaged carton, missing parcel…)."),
    )

    def __init__(self, *args, lines, **kwargs):
        super().__init__(*args, **kwargs)
        self.lines = list(lines)
        for line in self.lines:
            self.fields[self.field_name(line)] = forms.IntegerField(
                label=line.variant.sku,
                min_value=0,
                max_value=1_000_000,
                initial=line.quantity,
            )

    @staticmethod
    def field_name(line) -> str:
        return f"received_{line.variant_id}"

    def received(self) -> dict[int, int]:
        return {line.variant_id: self.cleaned_data[self.field_name(line)] for line in self.lines}

    def rows(self) -> list[tuple]:
        return [(line, self[self.field_name(line)]) for line in self.lines]
