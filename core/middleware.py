"""Edge checks on every API request before any view or database sees it.

PostgreSQL refuses NUL (U+0000) in text, so a `%00` in a path parameter or a query
string would reach the database as a 500 there (and pass silently on SQLite). No code,
SKU, token or search term of this API contains one, so any NUL in the path or the query
string of an `/api/` request is answered 400 `invalid_characters` in the error shape.

An `Authorization` header is plain ASCII in every scheme the API accepts; anything else
(token libraries decode it and raised UnicodeDecodeError, a 500) is 401
`authentication_failed`.

Every API URL ends in a slash. For a POST, PUT, PATCH or DELETE without it, Django's
`APPEND_SLASH` cannot redirect without losing the body: it raises a RuntimeError (a 500)
under DEBUG and answers a 301 the client would follow as a GET otherwise. Such a request
is answered 404 `not_found`, naming the URL with the slash.
"""

from urllib.parse import unquote_plus

from django.http import JsonResponse
from django.utils.translation import gettext as _

from core.api.exceptions import error_body

API_PREFIX = "/api/"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS", "TRACE"}


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
        authorization = request.META.get("HTTP_AUTHORIZATION", "")
        if request.path_info.startswith(API_PREFIX) and not (
            authorization.isascii() and authorization.isprintable()
        ):
            body = error_body("authentication_failed", _("The Authorization header is not valid."))
            return JsonResponse(body, status=401, headers={"WWW-Authenticate": "Token"})
        if (
            request.path_info.startswith(API_PREFIX)
            and not request.path_info.endswith("/")
            and request.method not in SAFE_METHODS
        ):
            body = error_body(
                "not_found",
                _("Not found. API URLs end with a slash."),
                {"did_you_mean": f"{request.path}/"},
            )
            return JsonResponse(body, status=404)
        return self.get_response(request)
