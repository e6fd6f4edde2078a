"""Orders domain errors (carts, checkout, status transitions)."""

from django.utils.translation import gettext_lazy as _

from core.errors import DomainError, NotFound


class CartNotFound(NotFound):
    code = "cart_not_found"
    message = _("No open cart with this token.")


class CartNotOpen(DomainError):
    code = "cart_not_open"
    message = _("This cart has already been checked out or merged.")
    http_status = 409


class CartEmpty(DomainError):
    code = "cart_empty"
    message = _("The cart is empty.")
    http_status = 422


class CartLineNotFound(NotFound):
    code = "cart_line_not_found"
    message = _("This SKU is not in the cart.")


class InvalidQuantity(DomainError):
    code = "invalid_quantity"
    message = _("Quantity must be a whole number from 1 to 999.")
    http_status = 400


class PriceChanged(DomainError):
    code = "price_changed"
    message = _("The total has changed since the cart was shown; check the new quote.")
    http_status = 409


class PickupLocationInvalid(DomainError):
    code = "invalid_pickup_location"
    message = _("This location does not accept pickup orders.")
    http_status = 422


class NoShippingLocation(DomainError):
    code = "insufficient_stock"
    message = _("No shipping location can fulfil the whole order.")
    http_status = 409


class ContactRequired(DomainError):
    code = "contact_required"
    message = _("A guest checkout needs an email or a phone to reach the customer.")
    http_status = 400


class TenderMismatch(DomainError):
    code = "tender_mismatch"
    message = _("The recorded payment does not match the amount due.")
    http_status = 422


class OrderNotFound(NotFound):
    code = "order_not_found"
    message = _("No such order.")


class IllegalTransition(DomainError):
    code = "illegal_transition"
    message = _("The order cannot move to this status now.")
    http_status = 409


class WrongPickupCode(DomainError):
    code = "wrong_pickup_code"
    message = _("The pickup code does not match this order.")
    http_status = 422


class NotYourStore(DomainError):
    code = "not_your_store"
    message = _("You can only act on orders of your own store.")
    http_status = 403
