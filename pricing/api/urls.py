"""Routes of the pricing API under /api/v1/pricing/."""

from django.urls import path

from pricing.api import views

urlpatterns = [
    path("quote/", views.QuoteView.as_view(), name="pricing-quote"),
    path("promotions/", views.PromotionListView.as_view(), name="pricing-promotions"),
    path("shipping-rates/", views.ShippingRateListView.as_view(), name="pricing-shipping-rates"),
]
