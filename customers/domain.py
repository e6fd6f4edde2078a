"""Pure normalization rules for contact data: E.164 phones and lower-cased emails."""

import phonenumbers
from django.conf import settings
from django.utils.translation import gettext as _

from core.errors import ValidationFailed


class InvalidPhone(ValidationFailed):
    code = "invalid_phone"


class InvalidEmail(ValidationFailed):
    code = "invalid_email"


def normalize_phone(raw: str, *, region: str | None = None) -> str:
    """Return the phone in E.164 (+4915112345678) or raise InvalidPhone."""
    try:
        number = phonenumbers.parse(raw, region or settings.PHONE_DEFAULT_REGION)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(_("Not a phone number."), details={"phone": raw}) from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone(_("Not a valid phone number."), details={"phone": raw})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(raw: str) -> str:
    """Lower-case and strip an email; raise InvalidEmail when it has no local@domain shape."""
    email = raw.strip().lower()
    local, _sep, domain = email.rpartition("@")
    if not local or "." not in domain or " " in email:
        raise InvalidEmail(_("Not a valid email address."), details={"email": raw})
    return email


def looks_like_email(identifier: str) -> bool:
    return "@" in identifier
