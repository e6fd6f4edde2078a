"""The base domain error: every business rule failure carries a code, a message and details.

Services raise subclasses of `DomainError`; the API exception handler turns them into
`{"error": {"code", "message", "details"}}` with the error's HTTP status. Services never
raise DRF exceptions, so the same errors serve the admin, tasks and the POS edge.
"""

from typing import Any

from django.utils.translation import gettext_lazy as _


class DomainError(Exception):
    code = "domain_error"
    message = _("The operation cannot be performed.")
    http_status = 422

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        http_status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = str(message if message is not None else self.message)
        self.headers = headers or {}  # e.g. Retry-After of a lock-out
        self.code = code or self.code
        self.details = details or {}
        if http_status is not None:
            self.http_status = http_status
        super().__init__(self.message)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class ValidationFailed(DomainError):
    code = "validation_error"
    message = _("The input is not valid.")
    http_status = 400


class NotFound(DomainError):
    code = "not_found"
    message = _("Not found.")
    http_status = 404


class Conflict(DomainError):
    code = "conflict"
    message = _("The request conflicts with the current state.")
    http_status = 409


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"
    message = _("This Idempotency-Key was already used with a different request.")
    http_status = 422
