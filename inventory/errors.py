"""Inventory domain errors: each carries a stable code and the HTTP status the API answers with.

Services raise these for every refused stock operation; the admin shows their message,
the API turns them into the common error shape, orders and POS catch them by class.
"""

from django.utils.translation import gettext_lazy as _

from core.errors import DomainError, NotFound, ValidationFailed


class InsufficientStock(DomainError):
    """Raised once per request with every short line in `details["lines"]`."""

    code = "insufficient_stock"
    message = _("Not enough stock is available.")
    http_status = 409


class StockLimitExceeded(DomainError):
    """A level would hold more units (or owe more) than `models.STOCK_UNITS_MAX`."""

    code = "stock_limit_exceeded"
    message = _("The operation would put more units on a stock level than it can hold.")
    http_status = 422


class NegativeStock(DomainError):
    code = "negative_stock"
    message = _("The operation would leave less than nothing on hand.")
    http_status = 422


class InvalidQuantity(ValidationFailed):
    code = "invalid_quantity"
    message = _("Quantities must be whole numbers greater than zero.")


class ReasonRequired(ValidationFailed):
    code = "reason_required"
    message = _("This operation needs a reason.")


class UnknownVariant(DomainError):
    code = "unknown_variant"
    message = _("No variant has this id.")
    http_status = 422


class VariantNotSellable(DomainError):
    code = "variant_not_sellable"
    message = _("An inactive variant cannot be reserved.")
    http_status = 422


class LocationNotFound(NotFound):
    code = "location_not_found"
    message = _("No store or warehouse has this code.")


class LocationInactive(DomainError):
    code = "location_inactive"
    message = _("This location is closed and takes no new stock or reservations.")
    http_status = 422


class LocationForbidden(DomainError):
    code = "location_forbidden"
    message = _("You may not operate stock at this location.")
    http_status = 403


class InvalidLocation(ValidationFailed):
    code = "invalid_location"
    message = _("The location data is not valid.")


class SameLocationTransfer(DomainError):
    code = "same_location_transfer"
    message = _("A transfer needs two different locations.")
    http_status = 422


class TransferNotFound(NotFound):
    code = "transfer_not_found"
    message = _("No transfer has this number.")


class ReservationNotOpen(DomainError):
    code = "reservation_not_open"
    message = _("There is no open reservation for this reference.")
    http_status = 409


class InvalidNear(ValidationFailed):
    code = "invalid_near"
    message = _("`near` must be `latitude,longitude` in degrees.")


class ImportRejected(ValidationFailed):
    """A stock count file with at least one bad row: nothing of it was applied."""

    code = "import_rejected"
    message = _("The file has errors; nothing was imported.")
