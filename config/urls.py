"""URL routing: the admin, the versioned REST API, its schema and docs, and the ops endpoints
(liveness, readiness, Prometheus metrics)."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from ops import views as ops_views

api_v1 = [
    path("catalog/", include("catalog.api.urls")),
    path("pricing/", include("pricing.api.urls")),
    path("inventory/", include("inventory.api.urls")),
    path("pos/", include("pos.api.urls")),
    path("", include("loyalty.api.urls")),
    # customers' routes (auth/, me/) and orders' (carts/, checkout/, orders/) sit at the root
    path("", include("customers.api.urls")),
    path("", include("orders.api.urls")),
    path("", include("returns.api.urls")),
    path("", include("reports.api.urls")),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("healthz", ops_views.healthz, name="healthz"),
    path("readyz", ops_views.readyz, name="readyz"),
    path("metrics", ops_views.metrics, name="metrics"),
]

handler400 = "core.api.views.bad_request"
handler403 = "core.api.views.permission_denied"
handler404 = "core.api.views.not_found"
handler500 = "core.api.views.server_error"
