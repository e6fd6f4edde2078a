"""Routes of the POS API under /api/v1/pos/."""

from django.urls import path

from pos.api import views

urlpatterns = [
    path("sync/catalog/", views.CatalogFeedView.as_view(), name="pos-feed-catalog"),
    path("sync/prices/", views.PricesFeedView.as_view(), name="pos-feed-prices"),
    path("sync/promotions/", views.PromotionsFeedView.as_view(), name="pos-feed-promotions"),
    path("sync/stock/", views.StockFeedView.as_view(), name="pos-feed-stock"),
    path("sync/ack/", views.AckView.as_view(), name="pos-feed-ack"),
    path("sync/sales/", views.SalesSyncView.as_view(), name="pos-sync-sales"),
]
