"""Pure rules of the customer profile: contact normalization, identifier detection, timelines.

Nothing here touches the database: phones become E.164, emails lower-case, card numbers
bare upper-case alphanumerics; a free-text identifier is read as the candidates it could
be; consent decisions and timeline pages are chosen by time; two profiles are judged
likely duplicates by the rule in `duplicate_reasons`.
"""

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.errors import Conflict, DomainError, ValidationFailed


class InvalidPhone(ValidationFailed):
    code = "invalid_phone"


class InvalidEmail(ValidationFailed):
    code = "invalid_email"


class InvalidCardNumber(ValidationFailed):
    code = "invalid_card_number"


class InvalidName(ValidationFailed):
    code = "invalid_name"


class CustomerErased(Conflict):
    code = "customer_erased"
    message = gettext_lazy("This customer's personal data was erased on their request.")


class StaffLoginNotErasable(Conflict):
    code = "staff_login_not_erasable"
    message = gettext_lazy(
        "This customer's login is a staff account: take its staff rights away first."
    )


class ReauthenticationFailed(DomainError):
    """The logged-in customer's password was wrong: the token alone cannot erase an account."""

    code = "reauthentication_failed"
    message = gettext_lazy("The password is wrong; nothing was changed.")
    http_status = 403


def has_control_characters(value: str) -> bool:
    """True when the text holds a control or format character (newline, NUL, RTL override…).

    Such characters in a name or contact end up in mail headers, CSV exports and admin
    pages; no real name or address needs them.
    """
    return any(unicodedata.category(ch) in {"Cc", "Cf", "Zl", "Zp"} for ch in value)


def clean_name(raw: str | None, *, field: str = "name") -> str:
    """A name stripped of surrounding spaces; raise InvalidName when it holds control characters."""
    name = (raw or "").strip(" ")
    if has_control_characters(name):
        raise InvalidName(
            _("A name cannot contain control characters or line breaks."), details={"field": field}
        )
    return name


def normalize_phone(raw: str, *, region: str | None = None) -> str:
    """Return the phone in E.164 (+4915112345678) or raise InvalidPhone."""
    if has_control_characters(raw):
        raise InvalidPhone(_("Not a phone number."), details={"phone": raw})
    try:
        number = phonenumbers.parse(raw, region or settings.PHONE_DEFAULT_REGION)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(_("Not a phone number."), details={"phone": raw}) from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone(_("Not a valid phone number."), details={"phone": raw})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(raw: str) -> str:
    """Lower-case and strip an email; raise InvalidEmail unless it is one plain address.

    Django's validator decides the shape (no spaces, newlines or control characters, a
    real domain); a dot in the domain is required on top, since customers have no
    intranet addresses.
    """
    email = raw.strip(" ").lower()
    local, _sep, domain = email.rpartition("@")
    try:
        validate_email(email)
    except DjangoValidationError:
        local = ""
    if not local or "." not in domain or has_control_characters(email):
        raise InvalidEmail(_("Not a valid email address."), details={"email": raw})
    return email


# Printed cards carry spaces or dashes for readability; the number itself is alphanumeric.
_CARD_SEPARATORS = re.compile(r"[\s\-]+")
_CARD_SHAPE = re.compile(r"^[A-Z0-9]{6,32}$")


def normalize_card_number(raw: str) -> str:
    """Strip separators and upper-case a loyalty card number; raise InvalidCardNumber."""
    card = _CARD_SEPARATORS.sub("", raw or "").upper()
    if not _CARD_SHAPE.match(card):
        raise InvalidCardNumber(
            _("A card number has 6 to 32 letters or digits."), details={"card_number": raw}
        )
    return card


def looks_like_email(identifier: str) -> bool:
    return "@" in identifier


def phone_search_key(raw: str) -> str | None:
    """The E.164 form of a possibly partial phone typed into a search box, or None.

    Staff type what the customer says ("0151 2345 678"); that may be incomplete, so only
    the number's shape is checked and callers match it as a prefix.
    """
    if not re.search(r"\d{3}", raw or ""):
        return None
    try:
        number = phonenumbers.parse(raw, settings.PHONE_DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def identifier_candidates(identifier: str) -> list[tuple[str, str]]:
    """What a free-text identifier could be, most specific first: [(field, normalized), ...].

    An "@" makes it an email. Otherwise it may be both a card number and a phone (a
    13-digit card number also parses as a German landline), so both are returned and
    the card, an exact printed number, wins over the phone reading.
    """
    identifier = (identifier or "").strip()
    if not identifier:
        return []
    if looks_like_email(identifier):
        try:
            return [("email", normalize_email(identifier))]
        except ValidationFailed:
            return []
    candidates = []
    try:
        candidates.append(("card_number", normalize_card_number(identifier)))
    except ValidationFailed:
        pass
    try:
        candidates.append(("phone", normalize_phone(identifier)))
    except ValidationFailed:
        pass
    return candidates


@dataclass(frozen=True)
class ConsentDecision:
    granted: bool
    changed_at: datetime
    source: str


def latest_decision(
    current: ConsentDecision | None, other: ConsentDecision | None
) -> ConsentDecision | None:
    """The more recent of two decisions for one channel (the current one wins a tie)."""
    if other is None:
        return current
    if current is None or other.changed_at > current.changed_at:
        return other
    return current


def timeline_page(
    entries: list[dict[str, Any]], *, limit: int
) -> tuple[list[dict[str, Any]], datetime | None]:
    """Cut up to `limit` newest entries and the exclusive `before` cursor of the next page.

    `entries` holds up to limit + 1 entries from every source. A page never ends in the
    middle of entries sharing one timestamp: they are all held back for the next page,
    whose cursor is that timestamp plus one microsecond, so none is skipped. Only when a
    whole page shares one timestamp is it cut at `limit`.
    """
    ordered = sorted(entries, key=lambda e: e["at"], reverse=True)
    if len(ordered) <= limit:
        return ordered, None
    page = ordered[:limit]
    boundary = ordered[limit]["at"]
    kept = [e for e in page if e["at"] != boundary]
    if not kept:
        return page, boundary
    if len(kept) < len(page):
        return kept, boundary + timedelta(microseconds=1)
    return page, page[-1]["at"]


# --- likely duplicates ----------------------------------------------------------------

# Two phones ending in the same eight digits are one subscriber number typed with another
# country or area prefix (phones are unique, so equal ones never sit on two profiles).
PHONE_TAIL_DIGITS = 8


@dataclass(frozen=True)
class DuplicateKeys:
    """What the duplicate rule compares of one profile, already normalized."""

    full_name: tuple[str, str] | None
    phone_tail: str | None
    email_local: str | None
    email_domain: str | None


def name_key(value: str) -> str:
    return " ".join((value or "").split()).lower()


def duplicate_keys(
    *, first_name: str, last_name: str, phone: str | None, email: str | None
) -> DuplicateKeys:
    first, last = name_key(first_name), name_key(last_name)
    digits = "".join(ch for ch in (phone or "") if ch.isdigit())
    local, _at, domain = (email or "").lower().partition("@")
    # "anna.schmidt+shop@" and "annaschmidt@" are one mailbox name.
    local = local.split("+", 1)[0].replace(".", "")
    return DuplicateKeys(
        full_name=(first, last) if first and last else None,
        phone_tail=digits[-PHONE_TAIL_DIGITS:] if len(digits) >= PHONE_TAIL_DIGITS else None,
        email_local=local or None,
        email_domain=domain or None,
    )


def duplicate_reasons(one: DuplicateKeys, other: DuplicateKeys) -> list[str]:
    """Why `other` is likely the same person as `one`; empty when it is not.

    The rule: the same full name (first and last, case and spacing ignored; both given)
    and at least one close contact — phones ending in the same eight digits, the same
    email name before the "@" (dots and a "+tag" ignored), or the same email domain.
    A name alone is too common, and a contact alone is unique per profile already.
    """
    if one.full_name is None or one.full_name != other.full_name:
        return []
    reasons = []
    if one.phone_tail and one.phone_tail == other.phone_tail:
        reasons.append("phone")
    if one.email_local and one.email_local == other.email_local:
        reasons.append("email_name")
    if one.email_domain and one.email_domain == other.email_domain:
        reasons.append("email_domain")
    return ["full_name", *reasons] if reasons else []
