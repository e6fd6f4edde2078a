"""Catalog domain errors."""

from django.utils.translation import gettext_lazy as _

from core.errors import DomainError, NotFound


class InvalidBarcode(DomainError):
    code = "invalid_barcode"
    message = _("The barcode is not a valid EAN-8, UPC-A, EAN-13 or GTIN-14.")
    http_status = 400


class DuplicateSku(DomainError):
    code = "duplicate_sku"
    message = _("A variant with this SKU already exists.")
    http_status = 409


class DuplicateBarcode(DomainError):
    code = "duplicate_barcode"
    message = _("This barcode already belongs to another variant.")
    http_status = 409


class InvalidVatRate(DomainError):
    code = "invalid_vat_rate"
    message = _("A VAT rate is a percentage from 0 to 99.99.")
    http_status = 400


class CategoryCycle(DomainError):
    code = "category_cycle"
    message = _("A category cannot be placed under itself or its descendants.")
    http_status = 400


class BarcodeNotFound(NotFound):
    code = "barcode_not_found"
    message = _("No variant has this barcode.")


class UnknownSku(DomainError):
    code = "unknown_sku"
    message = _("No variant has this SKU.")
    http_status = 422
