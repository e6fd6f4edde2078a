"""Routes of the loyalty API, mounted at the root of /api/v1/ (the account lives under me/)."""

from django.urls import path

from loyalty.api import views

urlpatterns = [
    path("me/loyalty/", views.MyLoyaltyView.as_view(), name="me-loyalty"),
]
