"""POS domain errors."""

from django.utils.translation import gettext_lazy as _

from core.errors import DomainError, NotFound


class TerminalNotFound(NotFound):
    code = "terminal_not_found"
    message = _("No such terminal.")


class TerminalCodeTaken(DomainError):
    code = "terminal_code_taken"
    message = _("Another terminal has this code.")
    http_status = 409


class InvalidCursor(DomainError):
    code = "invalid_cursor"
    message = _("The cursor is not one this feed gave out; start again without one.")
    http_status = 400
