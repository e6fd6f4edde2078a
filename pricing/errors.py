"""Pricing domain errors: what the quote engine, the price book and coupon uses can refuse.

Quote errors list every offending basket line at once in `details["lines"]` (each with
its index, SKU and own code) so a client can fix the whole basket in one round trip.
"""

from django.utils.translation import gettext_lazy as _

from catalog.errors import UnknownSku as CatalogUnknownSku
from core.errors import Conflict, DomainError, ValidationFailed


class UnknownSku(CatalogUnknownSku):
    """A basket line names a SKU no variant has (422 `unknown_sku`)."""


class VariantInactive(DomainError):
    code = "variant_inactive"
    message = _("This variant is not sold any more.")
    http_status = 422


class NoPrice(DomainError):
    code = "no_price"
    message = _("This variant has no current price, so it cannot be sold.")
    http_status = 422


class InvalidQuantity(ValidationFailed):
    code = "invalid_quantity"
    message = _("A quantity is a whole number from 1 to 10000.")


class CouponNotFound(DomainError):
    code = "coupon_not_found"
    message = _("No coupon has this code.")
    http_status = 422


class CouponLimitReached(DomainError):
    code = "coupon_limit_reached"
    message = _("This coupon has been used as many times as it may be.")
    http_status = 422


class CouponCustomerRequired(DomainError):
    code = "coupon_customer_required"
    message = _("This coupon can only be used by an identified customer.")
    http_status = 422


class PriceOverlap(Conflict):
    code = "price_overlap"
    message = _("Another price of this variant in this price list covers part of the period.")


class PriceHistoryImmutable(Conflict):
    code = "price_history_immutable"
    message = _("A price that has already been in effect cannot be changed for the past.")


class InvalidPrice(ValidationFailed):
    code = "invalid_price"
    message = _("The price is not valid.")


class PriceImportInvalid(ValidationFailed):
    code = "price_import_invalid"
    message = _("The price file has errors; nothing was imported.")


class InvalidPriceList(ValidationFailed):
    code = "invalid_price_list"
    message = _("The price list is not valid.")


class InvalidPromotion(ValidationFailed):
    code = "invalid_promotion"
    message = _("The promotion is not valid.")


class InvalidCoupon(ValidationFailed):
    code = "invalid_coupon"
    message = _("The coupon is not valid.")


class ShippingMethodUnknown(DomainError):
    code = "shipping_method_unknown"
    message = _("No active delivery method has this code.")
    http_status = 422


class InvalidShippingRate(ValidationFailed):
    code = "invalid_shipping_rate"
    message = _("The shipping rate is not valid.")
