"""Routes of the customers API, mounted at /api/v1/: auth/… and me/…."""

from django.urls import path

from customers.api import views

urlpatterns = [
    path("auth/register/", views.RegisterView.as_view(), name="auth-register"),
    path("auth/token/", views.TokenView.as_view(), name="auth-token"),
    path("auth/logout/", views.LogoutView.as_view(), name="auth-logout"),
    path("me/", views.MeView.as_view(), name="me"),
    path("me/timeline/", views.MeTimelineView.as_view(), name="me-timeline"),
]
