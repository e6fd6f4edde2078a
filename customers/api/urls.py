"""Routes of the customers API, mounted at /api/v1/: auth/… and me/…."""

from django.urls import path

from customers.api import views

urlpatterns = [
    path("auth/register/", views.RegisterView.as_view(), name="auth-register"),
    path("auth/verify/", views.RegisterVerifyView.as_view(), name="auth-verify"),
    path("auth/verify/resend/", views.VerificationResendView.as_view(), name="auth-verify-resend"),
    path("auth/token/", views.TokenView.as_view(), name="auth-token"),
    path("auth/logout/", views.LogoutView.as_view(), name="auth-logout"),
    path("auth/logout-all/", views.LogoutAllView.as_view(), name="auth-logout-all"),
    path("me/", views.MeView.as_view(), name="me"),
    path("me/export/", views.MeExportView.as_view(), name="me-export"),
    path("me/contacts/verify/", views.MeContactVerifyView.as_view(), name="me-contacts-verify"),
    path("me/sessions/", views.MeSessionsView.as_view(), name="me-sessions"),
    path("me/sessions/<int:session_id>/", views.MeSessionView.as_view(), name="me-session"),
    path("me/timeline/", views.MeTimelineView.as_view(), name="me-timeline"),
]
