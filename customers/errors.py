"""Domain errors of the customers app: each has a stable code and the HTTP status it maps to."""

from django.utils.translation import gettext_lazy as _

from core.errors import Conflict, DomainError, NotFound, ValidationFailed
from customers.domain import InvalidCardNumber, InvalidEmail, InvalidPhone

__all__ = [
    "ContactTaken",
    "CustomerAlreadyMerged",
    "CustomerAmbiguous",
    "CustomerExists",
    "CustomerNotFound",
    "IdentifierRequired",
    "InvalidCardNumber",
    "InvalidCredentials",
    "InvalidEmail",
    "InvalidPassword",
    "InvalidPhone",
    "LoginIdentifierRequired",
    "MergeIntoSelf",
    "NotACustomer",
]


class CustomerExists(Conflict):
    code = "customer_exists"
    message = _("A customer with this email or phone already has a login.")


class CustomerAmbiguous(Conflict):
    code = "customer_ambiguous"
    message = _(
        "The email and the phone belong to two different customers; staff must merge them first."
    )


class ContactTaken(Conflict):
    code = "contact_taken"
    message = _("This contact already belongs to another customer.")


class CustomerNotFound(NotFound):
    code = "customer_not_found"
    message = _("No customer profile belongs to this login.")


class InvalidCredentials(DomainError):
    code = "invalid_credentials"
    message = _("Wrong login or password.")
    http_status = 401


class NotACustomer(DomainError):
    code = "not_a_customer"
    message = _("This login has no customer profile.")
    http_status = 403


class InvalidPassword(ValidationFailed):
    code = "invalid_password"
    message = _("The password is too weak.")


class IdentifierRequired(ValidationFailed):
    code = "identifier_required"
    message = _("Give a phone, an email or a card number.")


class LoginIdentifierRequired(ValidationFailed):
    code = "login_identifier_required"
    message = _("A customer with a login needs an email or a phone to log in with.")


class MergeIntoSelf(DomainError):
    code = "merge_into_self"
    message = _("A customer cannot be merged into itself.")
    http_status = 422


class CustomerAlreadyMerged(Conflict):
    code = "customer_already_merged"
    message = _("This customer was already merged into another one.")
