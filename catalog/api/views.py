"""Catalog read endpoints: categories, products with variants, barcode lookup. Public."""

from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog import selectors
from catalog.api.enrichment import variant_extras, variant_extras_for
from catalog.api.filters import ProductFilter
from catalog.api.serializers import (
    BarcodeLookupSerializer,
    CategorySerializer,
    ProductSerializer,
    product_data,
)
from core.api.pagination import CursorPagination


class CategoryPagination(CursorPagination):
    ordering = "id"
    page_size = 100
    max_page_size = 500


class CategoryListView(generics.ListAPIView):
    """The category tree as a flat list (each category names its parent)."""

    permission_classes = [AllowAny]
    serializer_class = CategorySerializer
    pagination_class = CategoryPagination
    queryset = selectors.category_list()


class ProductPagination(CursorPagination):
    ordering = "-id"


def _products_data(products: list, request) -> list[dict]:
    """The products as ProductSerializer shows them, with their variants' prices and
    availability: the variants and barcodes as plain values in one query (none read again
    while the catalog is unchanged), the enrichers once for the page, one dict per
    category."""
    variants = selectors.variant_rows(product_ids=[p.pk for p in products])
    extras = variant_extras_for([v for p in products for v in variants[p.pk]], request)
    categories: dict[int, dict] = {}
    return [product_data(p, variants[p.pk], extras, categories) for p in products]


class ProductListView(generics.ListAPIView):
    """Products with their variants; filter by category (with sub-categories), search, barcode."""

    permission_classes = [AllowAny]
    serializer_class = ProductSerializer
    pagination_class = ProductPagination
    filterset_class = ProductFilter

    def get_queryset(self):
        # The variants are read as plain values after paging (`_products_data`).
        return selectors.product_list().prefetch_related(None)

    def filter_queryset(self, queryset):
        # No filter asked for (the plain catalog, the most requested page): django-filter
        # would build and validate a form of five empty fields to change nothing.
        params = self.request.query_params
        if not any(name in params for name in ProductFilter.base_filters):
            return queryset
        return super().filter_queryset(queryset)

    def list(self, request, *args, **kwargs):
        queryset = self.filter_queryset(self.get_queryset())
        page = list(self.paginate_queryset(queryset))
        return self.get_paginated_response(_products_data(page, request))


class ProductDetailView(generics.RetrieveAPIView):
    permission_classes = [AllowAny]
    serializer_class = ProductSerializer

    def get_queryset(self):
        return selectors.product_list().prefetch_related(None)

    def retrieve(self, request, *args, **kwargs):
        (data,) = _products_data([self.get_object()], request)
        return Response(data)


class BarcodeLookupView(APIView):
    """The variant for a scanned barcode; 404 `barcode_not_found` when unknown."""

    permission_classes = [AllowAny]

    @extend_schema(responses=BarcodeLookupSerializer)
    def get(self, request, code: str):
        variant = selectors.variant_get_by_barcode(code=code)
        product = variant.product
        product._prefetched_objects_cache = {"variants": [variant]}
        context = {"request": request, "variant_extras": variant_extras([product], request)}
        return Response(BarcodeLookupSerializer(variant, context=context).data)
