"""The error handlers that keep the error shape outside DRF views.

Django answers some requests before (or instead of) a DRF view: an unknown path, a
foreign Host header, a body past `DATA_UPLOAD_MAX_MEMORY_SIZE`, too many fields, a
permission refused by plain Django code. Under `/api/` those answers use the API's
error shape too; elsewhere (the admin) Django's own pages stay.
"""

from django.core.exceptions import SuspiciousOperation
from django.http import JsonResponse
from django.utils.translation import gettext as _
from django.views import defaults

from core.api.exceptions import error_body, suspicious_operation_error

API_PREFIX = "/api/"


def _is_api(request) -> bool:
    return request.path_info.startswith(API_PREFIX)


def bad_request(request, exception=None):
    if not _is_api(request):
        return defaults.bad_request(request, exception)
    if isinstance(exception, SuspiciousOperation):
        code, body = suspicious_operation_error(exception)
    else:
        code, body = 400, error_body("bad_request", _("The request is not valid."))
    return JsonResponse(body, status=code)


def permission_denied(request, exception=None):
    if not _is_api(request):
        return defaults.permission_denied(request, exception)
    body = error_body("permission_denied", _("You do not have permission to do this."))
    return JsonResponse(body, status=403)


def not_found(request, exception=None):
    return JsonResponse(error_body("not_found", _("Not found.")), status=404)


def server_error(request):
    return JsonResponse(error_body("server_error", _("Internal server error.")), status=500)
