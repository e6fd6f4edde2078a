"""Health check and the JSON 404/500 handlers so non-API errors keep the error shape."""

from django.db import connection
from django.http import JsonResponse
from django.utils.translation import gettext as _

from core.api.exceptions import error_body


def healthz(request):
    """Answer 200 when the database answers a trivial query, 503 otherwise."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - any database failure means unhealthy
        body = error_body("database_unavailable", _("The database is not reachable."))
        body["error"]["details"] = {"reason": exc.__class__.__name__}
        return JsonResponse(body, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})


def not_found(request, exception=None):
    return JsonResponse(error_body("not_found", _("Not found.")), status=404)


def server_error(request):
    return JsonResponse(error_body("server_error", _("Internal server error.")), status=500)
