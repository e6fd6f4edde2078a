"""Orders domain errors (carts, checkout, status transitions)."""

from django.utils.translation import gettext_lazy as _

from core.errors import DomainError, NotFound, ValidationFailed


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


class NotYourStore(OrderNotFound):
    """Another store's order answers exactly like a missing one: staff learn nothing of it."""


class AuthenticationRequired(DomainError):
    code = "authentication_required"
    message = _("Log in to use stored value such as points.")
    http_status = 401


class PaymentRequired(DomainError):
    code = "payment_required"
    message = _("This order needs a payment: a provider token, or pay in store for a pickup.")
    http_status = 422


class PaymentDeclined(DomainError):
    code = "payment_declined"
    message = _("The payment was declined.")
    http_status = 402


class PaymentFailed(DomainError):
    code = "payment_failed"
    message = _("The payment provider refused the operation.")
    http_status = 409


class UnknownPaymentProvider(DomainError):
    code = "unknown_payment_provider"
    message = _("This payment provider is not configured.")
    http_status = 400


class PickupCodeLocked(DomainError):
    code = "pickup_code_locked"
    message = _("Too many wrong pickup codes for this order; try again later.")
    http_status = 429


class InvalidAttribution(ValidationFailed):
    """A device, app version, UTM value or referrer that cannot be stored (400
    `validation_error`, as the API's own shape check answers)."""

    message = _("The attribution is not valid.")

    def __init__(self, *, field: str, reason: str) -> None:
        # The same details as the API's own shape check: {"fields": {name: [problems]}}.
        super().__init__(details={"fields": {"attribution": {field: [reason]}}})


# --- selling on the customer's behalf --------------------------------------------------


class SellingNotAllowed(DomainError):
    code = "selling_not_allowed"
    message = _("You may not sell on a customer's behalf through this channel.")
    http_status = 403


class StoreNotAllowed(DomainError):
    code = "store_not_allowed"
    message = _("You do not work at this store: sell from one of your own.")
    http_status = 403


class StoreRequired(ValidationFailed):
    code = "store_required"
    message = _("Name the store you are selling from.")


class CustomerConfirmationRequired(DomainError):
    code = "customer_confirmation_required"
    message = _(
        "The customer's points and coupons need the customer's confirmation code: request "
        "one and confirm it first."
    )
    http_status = 403


class ConfirmationNotRequested(DomainError):
    code = "confirmation_not_requested"
    message = _("No confirmation code was sent for this cart yet.")
    http_status = 409


class ShipmentNotFound(NotFound):
    code = "shipment_not_found"
    message = _("This order has no such shipment.")


class ShipmentRequired(DomainError):
    code = "shipment_required"
    message = _("This delivery ships in several parcels: name the shipment.")
    http_status = 422
