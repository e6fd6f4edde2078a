"""Returns domain errors."""

from django.utils.translation import gettext_lazy as _

from core.errors import DomainError, NotFound


class ReturnNotFound(NotFound):
    code = "return_not_found"
    message = _("No such return.")


class OrderNotReturnable(DomainError):
    code = "order_not_returnable"
    message = _("Only a collected, delivered or till-sold order can be returned.")
    http_status = 409


class ReturnExceedsPurchase(DomainError):
    code = "return_exceeds_purchase"
    message = _("More units than were bought (less those already returned or requested).")
    http_status = 409


class ReturnWindowClosed(DomainError):
    code = "return_window_closed"
    message = _(
        "The return window of these goods has passed; a store manager can accept the "
        "return with a reason."
    )
    http_status = 409


class ReturnLineUnknown(DomainError):
    code = "return_line_unknown"
    message = _("This SKU is not on the order.")
    http_status = 422


class ReturnNotRequested(DomainError):
    code = "return_not_open"
    message = _("This return is not an open request.")
    http_status = 409


class RefundTenderNotAllowed(DomainError):
    code = "refund_tender_not_allowed"
    message = _(
        "Refunding to another tender than was paid needs a reason and the store manager role."
    )
    http_status = 403


class ExchangePaymentRequired(DomainError):
    code = "exchange_payment_required"
    message = _("The new items cost more than the return: record how the difference is paid.")
    http_status = 422
