"""One exception handler for the whole API: every error becomes {"error": {code, message, details}}.

Domain errors carry their own code and status. DRF's own exceptions (validation, auth,
not found, throttling, parse errors) are mapped to the same shape, and so are the
request-level refusals Django raises while a view reads its input (a body past
`DATA_UPLOAD_MAX_MEMORY_SIZE`, too many fields, a foreign Host). A database refusal of a
value (`DataError`: text too long for its column, a NUL byte, an integer out of range;
or a CHECK constraint, such as the bounds on stock quantities) is the client's bad input
that slipped past validation: it answers 400/422 and is logged as a warning, so the gap
is still seen and closed at the edge. The transaction is rolled back for every error so
a failed request changes nothing.
"""

import logging
from typing import Any

from django.core.exceptions import (
    DisallowedHost,
    PermissionDenied,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from core.errors import DomainError

logger = logging.getLogger(__name__)

CHECK_VIOLATION = "23514"  # PostgreSQL SQLSTATE of a failed CHECK constraint


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": str(message), "details": details or {}}}


def _first_message(detail: Any) -> str:
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    if isinstance(detail, dict) and detail:
        key, value = next(iter(detail.items()))
        text = _first_message(value)
        return text if key == "non_field_errors" else f"{key}: {text}"
    return str(detail)


def suspicious_operation_error(exc: SuspiciousOperation) -> tuple[int, dict[str, Any]]:
    """Status and error body for a request Django refuses before or while reading it."""
    if isinstance(exc, RequestDataTooBig):
        return 413, error_body("request_too_large", _("The request body is too large."))
    if isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        return 400, error_body("too_many_fields", _("The request has too many fields."))
    if isinstance(exc, DisallowedHost):
        return 400, error_body("disallowed_host", _("The Host header is not allowed."))
    return 400, error_body("bad_request", _("The request is not valid."))


def _check_violation(exc: IntegrityError) -> str | None:
    """The name of the CHECK constraint that refused a write, or None for other violations."""
    cause = exc.__cause__
    if getattr(cause, "sqlstate", None) == CHECK_VIOLATION:
        return getattr(getattr(cause, "diag", None), "constraint_name", None) or ""
    text = str(exc)
    if text.startswith("CHECK constraint failed"):  # SQLite names the constraint after it
        return text.partition(":")[2].strip()
    return None


def _database_refusal(exc: Exception) -> Response | None:
    if isinstance(exc, DataError):
        logger.warning("Database refused a value from the request: %s", exc)
        body = error_body("invalid_value", _("A value is not valid for where it is stored."))
        return Response(body, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, IntegrityError):
        constraint = _check_violation(exc)
        if constraint is None:
            return None  # unique or foreign-key races are bugs to see, not input to refuse
        logger.warning("A CHECK constraint refused a value from the request: %s", exc)
        body = error_body(
            "value_out_of_range",
            _("A value is out of the allowed range."),
            {"constraint": constraint} if constraint else None,
        )
        return Response(body, status=status.HTTP_422_UNPROCESSABLE_ENTITY)
    return None


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        set_rollback()
        return Response({"error": exc.as_dict()}, status=exc.http_status, headers=exc.headers)

    if isinstance(exc, SuspiciousOperation):
        set_rollback()
        code, body = suspicious_operation_error(exc)
        return Response(body, status=code)

    refusal = _database_refusal(exc)
    if refusal is not None:
        set_rollback()
        return refusal

    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )

    if not isinstance(exc, exceptions.APIException):
        return None  # a real bug: let Django log it and answer 500

    set_rollback()
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))

    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        body = error_body("validation_error", _first_message(detail), {"fields": detail})
        return Response(body, status=status.HTTP_400_BAD_REQUEST, headers=headers)

    codes = exc.get_codes()
    code = codes if isinstance(codes, str) else exc.default_code
    return Response(error_body(code, exc.detail), status=exc.status_code, headers=headers)
