"""CSV/XLSX price files for the admin (django-import-export), all or nothing.

Columns: `sku`, `amount`, `valid_from` (date or ISO date-time), optional `valid_until`
(exclusive; empty = open-ended) and `price_list` (a name; empty = the default list).
The whole file is validated first by `pricing.services.price_import_check` — unknown
SKUs, unknown price lists, unreadable values, overlaps with stored prices and between
rows are reported on their rows — and only a file without a single error is written, in
one go, by `pricing.services.price_import`. A row that starts after an open-ended price
of the same variant ends that price there: that is how a file schedules price changes.
"""

from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils.translation import gettext as _
from import_export import fields, resources

from pricing import services
from pricing.models import Price

REQUIRED_COLUMNS = ("sku", "amount", "valid_from")


class PriceResource(resources.ModelResource):
    sku = fields.Field(attribute="variant__sku", column_name="sku")
    amount = fields.Field(attribute="amount", column_name="amount")
    valid_from = fields.Field(attribute="valid_from", column_name="valid_from")
    valid_until = fields.Field(attribute="valid_until", column_name="valid_until")
    price_list = fields.Field(attribute="price_list__name", column_name="price_list")

    class Meta:
        model = Price
        fields = ("sku", "amount", "valid_from", "valid_until", "price_list")
        export_order = ("sku", "amount", "valid_from", "valid_until", "price_list")
        import_id_fields = ()
        force_init_instance = True  # a file only adds prices; stored ones are never matched
        clean_model_instances = False  # the service validates, against the whole file
        skip_unchanged = False

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._records: list[dict[str, Any]] = []
        self._plan: services.PriceImportPlan | None = None
        self._instances: list[Price] = []

    def get_export_queryset(self, request=None):
        return Price.objects.select_related("variant", "price_list").order_by("variant_id", "pk")

    def before_import(self, dataset, **kwargs: Any) -> None:
        headers = [str(h or "").strip().lower() for h in (dataset.headers or [])]
        missing = [column for column in REQUIRED_COLUMNS if column not in headers]
        if missing:
            raise ValueError(_("Missing columns: %(columns)s.") % {"columns": ", ".join(missing)})
        self._records = [dict(zip(headers, row, strict=False)) for row in dataset]
        self._plan = services.price_import_check(records=self._records)
        self._instances = []

    def import_instance(self, instance: Price, row: dict[str, Any], **kwargs: Any) -> None:
        number = kwargs["row_number"]
        errors = self._plan.errors.get(number)
        if errors:
            raise ValidationError({NON_FIELD_ERRORS: errors})
        parsed = self._plan.rows[number - 1]
        instance.price_list_id = parsed.price_list_id
        instance.variant = self._plan.variants[parsed.variant_id]
        instance.amount = parsed.amount
        instance.valid_from = parsed.valid_from
        instance.valid_until = parsed.valid_until

    def save_instance(self, instance: Price, is_create: bool, row, **kwargs: Any) -> None:
        # Nothing is written row by row: after_import writes the whole file or nothing.
        self._instances.append(instance)

    def after_import(self, dataset, result, **kwargs: Any) -> None:
        if result.has_errors() or result.has_validation_errors():
            return
        if self._plan is None or not self._plan.ok:
            return
        saved = services.price_import(records=self._records)
        for instance, price in zip(self._instances, saved, strict=False):
            instance.pk = price.pk
