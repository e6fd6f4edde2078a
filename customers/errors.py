"""Domain errors of the customers app: each has a stable code and the HTTP status it maps to."""

from django.utils.translation import gettext_lazy as _

from core.errors import Conflict, DomainError, NotFound, ValidationFailed
from customers.domain import InvalidCardNumber, InvalidEmail, InvalidName, InvalidPhone

__all__ = [
    "ContactTaken",
    "ContactUnreachable",
    "CustomerAlreadyMerged",
    "CustomerAmbiguous",
    "CustomerExists",
    "CustomerNotFound",
    "IdentifierRequired",
    "InvalidCardNumber",
    "InvalidCode",
    "InvalidCredentials",
    "InvalidEmail",
    "InvalidName",
    "InvalidPassword",
    "InvalidPhone",
    "LoginIdentifierRequired",
    "MergeIntoSelf",
    "NotACustomer",
    "SessionNotFound",
    "TooManyCodes",
    "VerificationExpired",
    "VerificationLocked",
    "VerificationNotFound",
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


class ContactUnreachable(ValidationFailed):
    code = "contact_unreachable"
    message = _("No configured channel can send a code to this kind of contact; use another one.")


class InvalidCode(ValidationFailed):
    code = "invalid_code"
    message = _("The code is wrong.")


class VerificationNotFound(NotFound):
    code = "verification_not_found"
    message = _("No open verification has this id.")


class VerificationExpired(DomainError):
    code = "verification_expired"
    message = _("The code has expired; ask for a new one.")
    http_status = 410


class VerificationLocked(DomainError):
    code = "verification_locked"
    message = _("Too many wrong codes; start again.")
    http_status = 410


class TooManyCodes(Conflict):
    code = "too_many_codes"
    message = _("No more codes can be sent for this verification; start again.")


class SessionNotFound(NotFound):
    code = "session_not_found"
    message = _("No session of yours has this id.")
