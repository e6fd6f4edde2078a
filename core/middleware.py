"""Edge checks on every API request before any view or database sees it.

PostgreSQL refuses NUL (U+0000) in text, so a `%00` in a path parameter or a query
string would reach the database as a 500 there (and pass silently on SQLite). No code,
SKU, token or search term of this API contains one, so any NUL in the path or the query
string of an `/api/` request is answered 400 `invalid_characters` in the error shape.
"""

from urllib.parse import unquote_plus

from django.http import JsonResponse
from django.utils.translation import gettext as _

from core.api.exceptions import error_body

API_PREFIX = "/api/"


def _has_nul(request) -> bool:
    if "\x00" in request.path_info:
        return True
    query = request.META.get("QUERY_STRING", "")
    return "\x00" in query or "\x00" in unquote_plus(query, errors="replace")


class ApiInputGuardMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info.startswith(API_PREFIX) and _has_nul(request):
            body = error_body(
                "invalid_characters",
                _("The path or query string contains a NUL character."),
            )
            return JsonResponse(body, status=400)
        return self.get_response(request)
