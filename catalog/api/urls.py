"""Routes of the catalog API under /api/v1/catalog/."""

from django.urls import path

from catalog.api import views

urlpatterns = [
    path("categories/", views.CategoryListView.as_view(), name="catalog-categories"),
    path("products/", views.ProductListView.as_view(), name="catalog-products"),
    path("products/<int:pk>/", views.ProductDetailView.as_view(), name="catalog-product"),
    path("barcodes/<str:code>/", views.BarcodeLookupView.as_view(), name="catalog-barcode"),
]
