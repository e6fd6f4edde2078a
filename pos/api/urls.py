"""Routes of the POS API under /api/v1/pos/."""

from django.urls import path

from pos.api import loyalty_views, views

urlpatterns = [
    path("sync/catalog/", views.CatalogFeedView.as_view(), name="pos-feed-catalog"),
    path("sync/prices/", views.PricesFeedView.as_view(), name="pos-feed-prices"),
    path("sync/promotions/", views.PromotionsFeedView.as_view(), name="pos-feed-promotions"),
    path("sync/stock/", views.StockFeedView.as_view(), name="pos-feed-stock"),
    path("sync/ack/", views.AckView.as_view(), name="pos-feed-ack"),
    path("sync/sales/", views.SalesSyncView.as_view(), name="pos-sync-sales"),
    path("customers/lookup/", loyalty_views.CustomerLookupView.as_view(), name="pos-lookup"),
    path("quote/", loyalty_views.QuoteView.as_view(), name="pos-quote"),
    path("loyalty/holds/", loyalty_views.HoldCreateView.as_view(), name="pos-holds"),
    path("loyalty/holds/<str:hold_id>/", loyalty_views.HoldView.as_view(), name="pos-hold"),
    path(
        "loyalty/holds/<str:hold_id>/confirm/",
        loyalty_views.HoldConfirmView.as_view(),
        name="pos-hold-confirm",
    ),
]
