"""Query-string filters of the product list (validated by django-filter; bad input is a 400)."""

import django_filters

from catalog import selectors
from catalog.models import Category, Product
from core.api.filters import IsoDateTimeFilter


class ProductFilter(django_filters.FilterSet):
    category = django_filters.ModelChoiceFilter(
        queryset=Category.objects.all(),
        method="filter_category",
        help_text="Category id; products of its sub-categories are included.",
    )
    search = django_filters.CharFilter(
        method="filter_search", help_text="Matches product name or brand, exact SKU or barcode."
    )
    barcode = django_filters.CharFilter(method="filter_barcode", help_text="Exact barcode.")
    active = django_filters.TypedChoiceFilter(
        field_name="is_active",
        choices=[("true", "true"), ("false", "false"), ("1", "1"), ("0", "0")],
        coerce=lambda value: value in ("true", "1"),
        help_text="true or false.",
    )
    updated_since = IsoDateTimeFilter(
        field_name="updated_at", lookup_expr="gte", help_text="ISO 8601 timestamp."
    )

    class Meta:
        model = Product
        fields = ["category", "search", "barcode", "active", "updated_since"]

    def filter_category(self, queryset, name, value):
        return queryset.filter(
            category_id__in=selectors.category_descendant_ids(category_id=value.pk)
        )

    def filter_search(self, queryset, name, value):
        return queryset & selectors.product_list(search=value)

    def filter_barcode(self, queryset, name, value):
        return queryset & selectors.product_list(barcode=value)
