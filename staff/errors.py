"""Staff domain errors, each with a stable code and HTTP status."""

from django.utils.translation import gettext_lazy as _

from core.errors import ValidationFailed


class UnknownRole(ValidationFailed):
    code = "unknown_role"
    message = _("There is no such staff role.")


class StoresRequired(ValidationFailed):
    code = "stores_required"
    message = _("A store role needs at least one store.")
