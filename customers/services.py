"""Writes of users and customer profiles: register, prove contacts, identify, update, merge, log in.

Every public function is atomic. Contacts arrive raw and are normalized here. Unique
contacts are checked first, for a clear error, and the database's unique constraints
guard against concurrent writers: an IntegrityError becomes the same domain error.
A contact joins a login only with a one-time code (`registration_start` /
`registration_complete`, `contact_change_start` / `contact_change_complete`); a profile
that has a login is never changed by what a till or a guest checkout says.
Higher apps take part through the hooks in `customers.hooks`, never by being imported.
"""

import hmac
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate, password_validation
from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _
from knox.models import AuthToken

from core.background import enqueue_on_commit
from core.db import prepared_cursor
from core.errors import DomainError, ValidationFailed
from core.messaging import Message, channels
from customers.domain import (
    ConsentDecision,
    CustomerErased,
    ReauthenticationFailed,
    StaffLoginNotErasable,
    clean_name,
    latest_decision,
    normalize_card_number,
    normalize_email,
    normalize_phone,
)
from customers.errors import (
    ContactTaken,
    ContactUnreachable,
    CustomerAlreadyMerged,
    CustomerExists,
    IdentifierRequired,
    InvalidCode,
    InvalidCredentials,
    InvalidPassword,
    LoginIdentifierRequired,
    MergeIntoSelf,
    NotACustomer,
    SessionNotFound,
    TooManyCodes,
    VerificationExpired,
    VerificationLocked,
    VerificationNotFound,
)
from customers.hooks import erase_handlers, login_handlers, merge_handlers
from customers.models import (
    ConsentChange,
    ConsentChannel,
    ContactVerification,
    Customer,
    CustomerErasure,
    CustomerMerge,
    LoginSession,
    MarketingConsent,
    Source,
    User,
)
from customers.selectors import (
    contact_conflicts,
    customer_find_by_contacts,
    customer_get_for_user,
    customer_resolve,
    is_erased,
)

CONTACT_FIELDS = ("phone", "email", "card_number")


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


# "Leave this field alone" in customer_update, where None means "clear it".
UNSET: Any = _Unset()


def _clean(value: str | None) -> str | None:
    # Spaces only: a stray newline or tab is refused by the normalizers, not hidden.
    value = (value or "").strip(" ")
    return value or None


def _normalize_contacts(
    *, phone: str | None, email: str | None, card_number: str | None
) -> dict[str, str | None]:
    """Normalized contacts; raises InvalidPhone / InvalidEmail / InvalidCardNumber (400)."""
    phone, email, card_number = _clean(phone), _clean(email), _clean(card_number)
    return {
        "phone": normalize_phone(phone) if phone else None,
        "email": normalize_email(email) if email else None,
        "card_number": normalize_card_number(card_number) if card_number else None,
    }


def _raise_if_taken(customer: Customer | None, contacts: dict[str, str | None]) -> None:
    conflicts = contact_conflicts(customer=customer, **contacts)
    if conflicts:
        raise ContactTaken(details={"fields": sorted(conflicts)})


def _validate_choice(value: str, choices, *, code: str, name: str) -> None:
    if value not in choices.values:
        raise ValidationFailed(
            _("Unknown %(name)s: %(value)s.") % {"name": name, "value": value},
            code=code,
            details={name: value, "allowed": list(choices.values)},
        )


# --- profiles -------------------------------------------------------------------------


@transaction.atomic
def customer_create(
    *,
    first_name: str = "",
    last_name: str = "",
    phone: str | None = None,
    email: str | None = None,
    card_number: str | None = None,
    source: str = Source.ADMIN,
    consents: dict[str, bool] | None = None,
    changed_by: User | None = None,
) -> Customer:
    """Create a profile without a login. Raises IdentifierRequired, Invalid*, ContactTaken (409)."""
    _validate_choice(source, Source, code="invalid_source", name="source")
    contacts = _normalize_contacts(phone=phone, email=email, card_number=card_number)
    if not any(contacts.values()):
        raise IdentifierRequired()
    _raise_if_taken(None, contacts)
    try:
        with transaction.atomic():
            customer = Customer.objects.create(
                first_name=clean_name(first_name, field="first_name"),
                last_name=clean_name(last_name, field="last_name"),
                signup_channel=source,
                **contacts,
            )
    except IntegrityError as exc:
        raise ContactTaken(details={"fields": sorted(f for f, v in contacts.items() if v)}) from exc
    _consents_apply(customer, consents, source=source, changed_by=changed_by)
    return customer


@transaction.atomic
def customer_get_or_create(
    *,
    phone: str | None = None,
    email: str | None = None,
    card_number: str | None = None,
    first_name: str = "",
    last_name: str = "",
    source: str = Source.WEB,
) -> Customer:
    """The customer known by any of these contacts, or a new profile (POS, guest checkout).

    When the contacts point at different customers the card wins over the phone and the
    phone over the email: a sale must not fail because a profile needs merging. A found
    profile that has a login is returned unchanged: whoever types a contact at a till or
    in a guest checkout has not proven it, so they may link a sale to it for history but
    never change it. A profile without a login gets its empty names and free contacts
    filled in. Locks the found customer row. Raises IdentifierRequired and Invalid* (400).
    """
    _validate_choice(source, Source, code="invalid_source", name="source")
    contacts = _normalize_contacts(phone=phone, email=email, card_number=card_number)
    if not any(contacts.values()):
        raise IdentifierRequired()
    first_name = clean_name(first_name, field="first_name")
    last_name = clean_name(last_name, field="last_name")
    found = customer_find_by_contacts(**contacts)
    if not found:
        try:
            with transaction.atomic():
                return Customer.objects.create(
                    first_name=first_name, last_name=last_name, signup_channel=source, **contacts
                )
        except IntegrityError:
            # Another till created the same person a moment ago: use that profile.
            found = customer_find_by_contacts(**contacts)
            if not found:
                raise
    chosen = next(found[f] for f in ("card_number", "phone", "email") if f in found)
    customer = Customer.objects.select_for_update().get(pk=chosen.pk)
    if customer.merged_into_id is not None:
        return customer_resolve(customer)  # merged while we waited for the lock
    if customer.user_id is not None:
        return customer
    changed = []
    if first_name and not customer.first_name:
        customer.first_name = first_name
        changed.append("first_name")
    if last_name and not customer.last_name:
        customer.last_name = last_name
        changed.append("last_name")
    free = set(CONTACT_FIELDS) - set(contact_conflicts(customer=customer, **contacts))
    for name in CONTACT_FIELDS:
        if contacts[name] and not getattr(customer, name) and name in free:
            setattr(customer, name, contacts[name])
            changed.append(name)
    if changed:
        try:
            with transaction.atomic():
                customer.save(update_fields=[*changed, "updated_at"])
        except IntegrityError:
            customer.refresh_from_db()  # a contact got taken meanwhile; keep what we found
    return customer


@transaction.atomic
def customer_update(
    *,
    customer: Customer,
    first_name: str = UNSET,
    last_name: str = UNSET,
    phone: str | None = UNSET,
    email: str | None = UNSET,
    card_number: str | None = UNSET,
    consents: dict[str, bool] | None = None,
    source: str = Source.ADMIN,
    changed_by: User | None = None,
) -> Customer:
    """Change the given fields (None or "" clears a contact) and consents; returns the fresh row.

    Locks the customer row. The login's email and phone follow the profile's, so the
    customer logs in with the new contact. A contact of a duplicate merged into this
    customer is released to it. Raises Invalid* and IdentifierRequired /
    LoginIdentifierRequired (400), ContactTaken (409), CustomerAlreadyMerged (409).
    """
    _validate_choice(source, Source, code="invalid_source", name="source")
    locked = (
        Customer.objects.select_for_update(of=("self",)).select_related("user").get(pk=customer.pk)
    )
    if locked.merged_into_id is not None:
        raise CustomerAlreadyMerged(details={"customer": locked.pk})
    if is_erased(customer_id=locked.pk):
        raise CustomerErased(details={"customer": locked.pk})
    changed: dict[str, Any] = {}
    for name, value in (("first_name", first_name), ("last_name", last_name)):
        if value is not UNSET and clean_name(value, field=name) != getattr(locked, name):
            changed[name] = clean_name(value, field=name)
    given = {
        name: value
        for name, value in (("phone", phone), ("email", email), ("card_number", card_number))
        if value is not UNSET
    }
    normalized = _normalize_contacts(**{name: given.get(name) for name in CONTACT_FIELDS})
    contacts = {
        name: normalized[name] for name in given if normalized[name] != getattr(locked, name)
    }
    final = {name: contacts.get(name, getattr(locked, name)) for name in CONTACT_FIELDS}
    if locked.user_id and not (final["phone"] or final["email"]):
        raise LoginIdentifierRequired()
    if not any(final.values()):
        raise IdentifierRequired()
    to_check = {name: value for name, value in contacts.items() if value}
    if locked.user_id and contacts:
        # The login will mirror the profile's phone and email: no other login may hold them.
        to_check.update({name: final[name] for name in ("phone", "email") if final[name]})
    _raise_if_taken(locked, to_check)
    changed.update(contacts)
    if changed:
        for name, value in contacts.items():
            if value:
                Customer.objects.filter(merged_into=locked, **{name: value}).update(**{name: None})
        for name, value in changed.items():
            setattr(locked, name, value)
        try:
            with transaction.atomic():
                locked.save(update_fields=[*changed, "updated_at"])
                if locked.user_id:
                    _sync_login(locked, contacts_changed=bool(contacts))
        except IntegrityError as exc:
            raise ContactTaken(details={"fields": sorted(contacts)}) from exc
    _consents_apply(locked, consents, source=source, changed_by=changed_by)
    return locked


def _sync_login(customer: Customer, *, contacts_changed: bool) -> None:
    """Make the login follow the profile: its name always, its email and phone on a change."""
    user = customer.user
    user.full_name = f"{customer.first_name} {customer.last_name}".strip()
    fields = ["full_name"]
    if contacts_changed:
        user.phone, user.email = customer.phone, customer.email
        fields += ["phone", "email"]
    user.save(update_fields=fields)


# --- consents -------------------------------------------------------------------------


@transaction.atomic
def consent_set(
    *,
    customer: Customer,
    channel: str,
    granted: bool,
    source: str,
    changed_by: User | None = None,
    at=None,
    details: dict[str, Any] | None = None,
) -> MarketingConsent:
    """Record a marketing decision for one channel and append it to the consent history.

    Locks the customer row (merges lock it too, so a decision never lands on a profile
    being merged away). A repeated identical decision changes nothing and adds no
    history row; a first "no" is recorded, since "asked and refused" differs from
    "never asked". Raises ValidationFailed for an unknown channel or source and
    CustomerAlreadyMerged (409) for a merged duplicate.
    """
    _validate_choice(channel, ConsentChannel, code="invalid_consent_channel", name="channel")
    _validate_choice(source, Source, code="invalid_source", name="source")
    locked = Customer.objects.select_for_update().get(pk=customer.pk)
    if locked.merged_into_id is not None:
        raise CustomerAlreadyMerged(details={"customer": locked.pk})
    current = MarketingConsent.objects.filter(customer=customer, channel=channel).first()
    if current is not None and current.granted == bool(granted):
        return current
    at = at or timezone.now()
    if current is None:
        current = MarketingConsent(customer=customer, channel=channel)
    current.granted, current.changed_at, current.source = bool(granted), at, source
    current.save()
    ConsentChange.objects.create(
        customer=customer,
        channel=channel,
        granted=bool(granted),
        source=source,
        changed_by=changed_by,
        changed_at=at,
        details=details or {},
    )
    return current


def _consents_apply(
    customer: Customer, consents: dict[str, bool] | None, *, source: str, changed_by
) -> None:
    for channel, granted in (consents or {}).items():
        consent_set(
            customer=customer,
            channel=channel,
            granted=granted,
            source=source,
            changed_by=changed_by,
        )


# --- registration and login -----------------------------------------------------------


def _validate_password(password: str, *, email: str | None, phone: str | None, name: str):
    try:
        password_validation.validate_password(
            password, user=User(email=email, phone=phone, full_name=name)
        )
    except DjangoValidationError as exc:
        raise InvalidPassword(details={"password": list(exc.messages)}) from exc


@transaction.atomic
def customer_register(
    *,
    email: str | None = None,
    phone: str | None = None,
    password: str | None = None,
    password_hash: str | None = None,
    first_name: str = "",
    last_name: str = "",
    consents: dict[str, bool] | None = None,
    source: str = Source.WEB,
) -> Customer:
    """Create a login with a new profile for contacts that are already proven.

    The API calls this only when a verification code for the contact was given
    (`registration_complete`); seeding and tests call it with contacts they trust.
    Profiles without a login that hold one of the contacts (a till customer, a guest)
    are folded into the new profile by `customer_merge`, so their points, orders and
    pickup codes follow the person who proved the contact. Takes `password` (validated
    with Django's validators against the user) or an already made `password_hash`.
    Locks the merged profiles. Raises LoginIdentifierRequired, Invalid* /
    InvalidPassword (400), CustomerExists (409) when a login holds one of the contacts.
    """
    _validate_choice(source, Source, code="invalid_source", name="source")
    contacts = _normalize_contacts(phone=phone, email=email, card_number=None)
    phone, email = contacts["phone"], contacts["email"]
    if not phone and not email:
        raise LoginIdentifierRequired(_("Give an email or a phone to register with."))
    first_name = clean_name(first_name, field="first_name")
    last_name = clean_name(last_name, field="last_name")
    full_name = f"{first_name} {last_name}".strip()
    if password_hash is None:
        _validate_password(password or "", email=email, phone=phone, name=full_name)
        password_hash = make_password(password)
    holders = contact_conflicts(customer=None, phone=phone, email=email)
    if any(isinstance(h, User) or h.user_id is not None for h in holders.values()):
        raise CustomerExists()
    try:
        with transaction.atomic():
            user = User.objects.create(
                email=email, phone=phone, password=password_hash, full_name=full_name
            )
            customer = Customer.objects.create(
                user=user,
                first_name=first_name,
                last_name=last_name,
                signup_channel=source,
                **{f: v for f, v in (("phone", phone), ("email", email)) if f not in holders},
            )
    except IntegrityError as exc:
        raise CustomerExists() from exc
    # Equal timestamps mark "the profile was made by registering" (one timeline entry).
    customer.registered_at, customer.registered_via = customer.created_at, source
    customer.save(update_fields=["registered_at", "registered_via"])
    for duplicate in {h.pk: h for h in holders.values()}.values():
        customer_merge(survivor=customer, duplicate=duplicate, merged_by=user)
    customer.refresh_from_db()
    # A contact still sitting on an older duplicate of a merged profile is released to us.
    missing = {
        f: v for f, v in (("phone", phone), ("email", email)) if v and not getattr(customer, f)
    }
    for name, value in missing.items():
        Customer.objects.filter(merged_into=customer, **{name: value}).update(**{name: None})
        setattr(customer, name, value)
    if missing:
        customer.save(update_fields=[*missing, "updated_at"])
    # Decided now, so they are the most recent and win over the merged profiles' decisions.
    _consents_apply(customer, consents, source=source, changed_by=user)
    return customer


@dataclass
class AuthResult:
    """A login: the token key (shown once), its session, the customer, the hooks' additions."""

    token: str
    session: LoginSession
    customer: Customer
    extras: dict[str, Any] = field(default_factory=dict)
    pending: list[ContactVerification] = field(default_factory=list)


def _session_start(
    user: User, customer: Customer, *, device: str, request_data: dict[str, Any]
) -> AuthResult:
    instance, key = AuthToken.objects.create(
        user=user, expiry=timedelta(days=settings.CUSTOMER_TOKEN_TTL_DAYS)
    )
    session = LoginSession.objects.create(
        token=instance, name=clean_name(device, field="device")[:100]
    )
    user.last_login = timezone.now()
    user.save(update_fields=["last_login"])
    # Handlers get what the client sent (e.g. an anonymous "cart_token"), never the password.
    data = {k: v for k, v in (request_data or {}).items() if k not in {"password", "code"}}
    extras: dict[str, Any] = {}
    for _path, handler in login_handlers():
        extras.update(handler(customer, data) or {})
    return AuthResult(token=key, session=session, customer=customer, extras=extras)


def auth_login(
    *,
    login: str,
    password: str,
    device: str = "",
    request_data: dict[str, Any] | None = None,
) -> AuthResult:
    """Check a login (email or phone) and password; start a token session for this device.

    Every login makes a new token with its own expiry (settings.CUSTOMER_TOKEN_TTL_DAYS)
    and a `LoginSession` naming the device. Runs settings.CUSTOMER_LOGIN_HANDLERS in the
    same transaction: a DomainError from one fails the login and undoes everything.
    Raises InvalidCredentials (401) for an unknown login, a wrong password or a disabled
    user alike (the password is hashed in every case, so they take as long), and
    NotACustomer (403) for a login without a customer profile (a staff account).
    """
    device = clean_name(device, field="device")
    # The deliberately slow password check runs before the transaction opens.
    user = authenticate(request=None, username=(login or "").strip(), password=password or "")
    if user is None:
        raise InvalidCredentials()
    with transaction.atomic():
        profile = Customer.objects.select_related("user").filter(user_id=user.pk).first()
        if profile is None:
            raise NotACustomer()
        return _session_start(
            user, customer_resolve(profile), device=device, request_data=request_data or {}
        )


@transaction.atomic
def auth_logout(*, token: AuthToken) -> None:
    """End one session: delete this device's token (the login's other devices stay)."""
    AuthToken.objects.filter(pk=token.pk).delete()


@transaction.atomic
def auth_logout_all(*, user: User) -> int:
    """End every session of the login ("log out everywhere"); returns how many ended."""
    _total, by_model = AuthToken.objects.filter(user=user).delete()
    return by_model.get(AuthToken._meta.label, 0)


@transaction.atomic
def session_end(*, user: User, session_id: int) -> None:
    """End one of the login's sessions by id. Raises SessionNotFound (404) for another's."""
    session = LoginSession.objects.filter(pk=session_id, token__user=user).first()
    if session is None:
        raise SessionNotFound(details={"session": session_id})
    AuthToken.objects.filter(pk=session.token_id).delete()


# --- proving a contact: one-time codes -----------------------------------------------


def one_time_code_new() -> str:
    """A fresh six-digit one-time code (contact proofs here, points holds in loyalty)."""
    return f"{secrets.randbelow(10**6):06d}"


def one_time_code_hmac(scope: str, key: Any, code: str) -> str:
    """What is stored of a one-time code: an HMAC keyed with SECRET_KEY, so the stored
    value alone does not let anyone test codes offline; `scope` and `key` (the row's id)
    keep one row's code from matching another's."""
    return salted_hmac(scope, f"{key}:{code}", algorithm="sha256").hexdigest()


def one_time_code_matches(scope: str, key: Any, code: str, stored: str) -> bool:
    """Whether `code` is the one whose HMAC is `stored` (constant time; blank never matches)."""
    given = one_time_code_hmac(scope, key, (code or "").strip())
    return bool(stored) and hmac.compare_digest(given, stored)


@transaction.atomic
def expired_purge(*, verifications_after: timedelta = timedelta(days=1)) -> dict[str, int]:
    """Delete expired device tokens (with their sessions) and verifications.

    Verifications go `verifications_after` their expiry: an abandoned registration keeps
    a password hash in its payload and must not stay forever. Tokens are refused as soon
    as they expire; they are deleted here so that authenticating never writes. Run by the
    beat task `customers.tasks.purge_expired`. Returns how many of each went.
    """
    now = timezone.now()
    _n, tokens = AuthToken.objects.filter(expiry__lt=now).delete()
    _n, verifications = ContactVerification.objects.filter(
        expires_at__lt=now - verifications_after
    ).delete()
    return {
        "tokens": tokens.get(AuthToken._meta.label, 0),
        "verifications": verifications.get(ContactVerification._meta.label, 0),
    }


def _code_hmac(verification_id: uuid.UUID, code: str) -> str:
    return one_time_code_hmac("customers.ContactVerification", verification_id, code)


def _reachable(field_name: str, value: str) -> bool:
    probe = Message(subject="", body="", **{field_name: value})
    return any(ch.recipient(probe) for ch in channels(settings.CUSTOMER_CODE_CHANNELS))


def _code_ttl() -> timedelta:
    return timedelta(minutes=settings.CUSTOMER_CODE_TTL_MINUTES)


def _queue_code(verification: ContactVerification) -> None:
    from customers import tasks  # tasks call services: imported late to avoid a cycle

    enqueue_on_commit(
        tasks.verification_send_code, str(verification.pk), verification.codes_requested
    )


def _verification_open(
    *,
    purpose: str,
    field_name: str,
    value: str,
    customer: Customer | None = None,
    payload: dict[str, Any] | None = None,
) -> ContactVerification:
    if not _reachable(field_name, value):
        raise ContactUnreachable(details={"field": field_name})
    verification = ContactVerification.objects.create(
        purpose=purpose,
        field=field_name,
        value=value,
        customer=customer,
        payload=payload or {},
        codes_requested=1,
        expires_at=timezone.now() + _code_ttl(),
    )
    _queue_code(verification)
    return verification


@transaction.atomic
def registration_start(
    *,
    email: str | None = None,
    phone: str | None = None,
    password: str,
    first_name: str = "",
    last_name: str = "",
    consents: dict[str, bool] | None = None,
    source: str = Source.WEB,
) -> ContactVerification:
    """Begin a registration: nothing is created but a verification; a code is sent.

    The answer is the same whether or not a customer or a login already holds the
    contact (no enumeration): the message sent decides — a code for a free contact or
    one of a profile without a login, a "you already have an account" notice when a
    login holds it (see `verification_deliver`). The email is proven first (the phone
    when there is no email); the other contact is proven after the login exists
    (`registration_complete` starts its verification). The password is validated
    with Django's validators now and kept only as a hash. Sends the code on commit.
    Raises LoginIdentifierRequired, Invalid*, InvalidPassword, ContactUnreachable (400).
    """
    _validate_choice(source, Source, code="invalid_source", name="source")
    contacts = _normalize_contacts(phone=phone, email=email, card_number=None)
    phone, email = contacts["phone"], contacts["email"]
    if not phone and not email:
        raise LoginIdentifierRequired(_("Give an email or a phone to register with."))
    first_name = clean_name(first_name, field="first_name")
    last_name = clean_name(last_name, field="last_name")
    _validate_password(password, email=email, phone=phone, name=f"{first_name} {last_name}".strip())
    first, value = ("email", email) if email else ("phone", phone)
    payload = {
        "password": make_password(password),
        "first_name": first_name,
        "last_name": last_name,
        "consents": consents or {},
        "source": source,
        "then": {"phone": phone} if email and phone else {},
    }
    return _verification_open(
        purpose=ContactVerification.Purpose.REGISTRATION,
        field_name=first,
        value=value,
        payload=payload,
    )


@transaction.atomic
def contact_change_start(*, customer: Customer, field_name: str, value: str) -> ContactVerification:
    """Begin changing a profile's email or phone: the new contact gets a code, nothing changes.

    An earlier open change of the same contact kind ends. Answers the same whether or
    not someone else holds the contact (the message decides, as for registration).
    Sends the code on commit. Raises Invalid* and ContactUnreachable (400).
    """
    value = _normalize_contacts(
        **{name: value if name == field_name else None for name in CONTACT_FIELDS}
    )[field_name]
    now = timezone.now()
    ContactVerification.objects.filter(
        customer=customer, field=field_name, completed_at__isnull=True, expires_at__gt=now
    ).update(expires_at=now)
    return _verification_open(
        purpose=ContactVerification.Purpose.CONTACT_CHANGE,
        field_name=field_name,
        value=value,
        customer=customer,
    )


@transaction.atomic
def verification_resend(*, verification_id: uuid.UUID) -> ContactVerification:
    """Send a new code (the old one stops working) with a fresh expiry.

    Wrong attempts are not reset: they count for the verification, not per code.
    Locks the verification. Raises VerificationNotFound (404) for an unknown or
    completed one, TooManyCodes (409) after settings.CUSTOMER_CODE_MAX_SENDS codes and
    VerificationLocked (410) when the attempts are used up. Sends the code on commit.
    """
    verification = (
        ContactVerification.objects.select_for_update()
        .filter(pk=verification_id, completed_at__isnull=True)
        .first()
    )
    if verification is None:
        raise VerificationNotFound()
    if verification.attempts >= settings.CUSTOMER_CODE_MAX_ATTEMPTS:
        raise VerificationLocked()
    if verification.codes_requested >= settings.CUSTOMER_CODE_MAX_SENDS:
        raise TooManyCodes(details={"max_codes": settings.CUSTOMER_CODE_MAX_SENDS})
    verification.codes_requested += 1
    verification.code_hash = ""
    verification.expires_at = timezone.now() + _code_ttl()
    verification.save(update_fields=["codes_requested", "code_hash", "expires_at"])
    _queue_code(verification)
    return verification


def _held_by_another_login(verification: ContactVerification) -> bool:
    own = verification.customer
    holders = contact_conflicts(customer=own, **{verification.field: verification.value})
    return any(isinstance(h, User) or h.user_id is not None for h in holders.values())


@transaction.atomic
def verification_deliver(*, verification_id: str, sequence: int) -> bool:
    """Make and send code number `sequence` of a verification; safe to run twice.

    Runs in the worker. Locks the verification; does nothing (returns False) when that
    code was already sent, a newer one was asked for, or the verification is done or
    expired. When a login already holds the contact, a notice ("you already have an
    account") goes out instead of a code, so the verification can never complete. Only
    the HMAC of the code is stored. A channel's error rolls the code back and is
    raised for the task to retry.
    """
    verification = (
        ContactVerification.objects.select_for_update().filter(pk=verification_id).first()
    )
    if (
        verification is None
        or verification.completed_at is not None
        or verification.codes_requested != sequence
        or verification.codes_sent >= sequence
        or verification.expires_at <= timezone.now()
    ):
        return False
    registering = verification.purpose == ContactVerification.Purpose.REGISTRATION
    if verification.purpose == ContactVerification.Purpose.ASSISTED_SALE:
        code = f"{secrets.randbelow(10**6):06d}"
        verification.code_hash = _code_hmac(verification.pk, code)
        body = _(
            "Your code is %(code)s. Give it to the member of staff placing an order for you "
            "only if you want them to use your bonus points and coupons on it. It is valid "
            "for %(minutes)s minutes. If nobody is placing an order for you, ignore this."
        ) % {"code": code, "minutes": settings.CUSTOMER_CODE_TTL_MINUTES}
        subject = _("Your code for an order placed for you")
    elif _held_by_another_login(verification):
        verification.code_hash = ""
        if registering:
            body = _(
                "Someone asked to register with this address. You already have an account: "
                "log in with your password. If it was not you, ignore this message."
            )
        else:
            body = _(
                "Someone asked to add this address to another account. It stays with yours; "
                "if it was not you, ignore this message."
            )
        subject = _("About your account")
    else:
        code = f"{secrets.randbelow(10**6):06d}"
        verification.code_hash = _code_hmac(verification.pk, code)
        minutes = settings.CUSTOMER_CODE_TTL_MINUTES
        body = _(
            "Your code is %(code)s. It is valid for %(minutes)s minutes. "
            "If you did not ask for it, ignore this message."
        ) % {"code": code, "minutes": minutes}
        subject = _("Your verification code")
    verification.codes_sent = sequence
    verification.save(update_fields=["code_hash", "codes_sent"])
    message = Message(
        subject=str(subject), body=str(body), **{verification.field: verification.value}
    )
    reached = [ch for ch in channels(settings.CUSTOMER_CODE_CHANNELS) if ch.recipient(message)]
    for channel in reached:
        channel.send(message)
    return bool(reached)


def _verification_take(
    *, verification_id: uuid.UUID, code: str, purpose: str, customer: Customer | None = None
) -> tuple[ContactVerification | None, DomainError | None]:
    """Check a code inside the caller's transaction; a wrong one is counted, not raised.

    The caller raises the returned error after its transaction commits, so the count of
    wrong attempts survives the error answer.
    """
    verification = (
        ContactVerification.objects.select_for_update()
        .filter(pk=verification_id, purpose=purpose, customer=customer)
        .first()
    )
    if verification is None or verification.completed_at is not None:
        return None, VerificationNotFound()
    limit = settings.CUSTOMER_CODE_MAX_ATTEMPTS
    if verification.attempts >= limit:
        return None, VerificationLocked()
    if verification.expires_at <= timezone.now():
        return None, VerificationExpired()
    given = _code_hmac(verification.pk, (code or "").strip())
    if not verification.code_hash or not hmac.compare_digest(given, verification.code_hash):
        verification.attempts += 1
        verification.save(update_fields=["attempts"])
        if verification.attempts >= limit:
            return None, VerificationLocked()
        return None, InvalidCode(details={"attempts_left": limit - verification.attempts})
    verification.completed_at = timezone.now()
    verification.save(update_fields=["completed_at"])
    return verification, None


def registration_complete(
    *,
    verification_id: uuid.UUID,
    code: str,
    device: str = "",
    request_data: dict[str, Any] | None = None,
) -> AuthResult:
    """Finish a registration with its code: create the login, merge, log in this device.

    The login gets a new profile; a profile without a login that holds the proven
    contact is merged into it (`customer_register` → `customer_merge`), so its points,
    orders and pickup codes become the login's only now. A second contact given at
    registration starts its own verification (returned in `pending`). Locks the
    verification. Raises InvalidCode (400, attempts counted and kept),
    VerificationLocked / VerificationExpired (410), VerificationNotFound (404),
    CustomerExists (409) when a login took the contact meanwhile.
    """
    device = clean_name(device, field="device")
    with transaction.atomic():
        verification, error = _verification_take(
            verification_id=verification_id,
            code=code,
            purpose=ContactVerification.Purpose.REGISTRATION,
        )
        if verification is not None:
            data = verification.payload
            customer = customer_register(
                **{verification.field: verification.value},
                password_hash=data["password"],
                first_name=data.get("first_name", ""),
                last_name=data.get("last_name", ""),
                consents=data.get("consents") or None,
                source=data.get("source", Source.WEB),
            )
            verification.customer, verification.payload = customer, {}  # the hash is done with
            verification.save(update_fields=["customer", "payload"])
            result = _session_start(
                customer.user, customer, device=device, request_data=request_data or {}
            )
            for name, value in (data.get("then") or {}).items():
                result.pending.append(
                    contact_change_start(customer=customer, field_name=name, value=value)
                )
    if error is not None:
        raise error
    return result


def contact_change_complete(
    *, customer: Customer, verification_id: uuid.UUID, code: str
) -> Customer:
    """Attach a proven email or phone to the customer's profile and login.

    A profile without a login that held the contact (the same person at the till) is
    merged into this one first, through `customer_merge`. Locks the verification, then
    the profiles. Raises InvalidCode (400), VerificationLocked / VerificationExpired
    (410), VerificationNotFound (404, also for another customer's verification),
    ContactTaken (409) when a login took the contact meanwhile.
    """
    with transaction.atomic():
        verification, error = _verification_take(
            verification_id=verification_id,
            code=code,
            purpose=ContactVerification.Purpose.CONTACT_CHANGE,
            customer=customer,
        )
        if verification is not None:
            name, value = verification.field, verification.value
            holders = contact_conflicts(customer=customer, **{name: value})
            for holder in holders.values():
                if isinstance(holder, User) or holder.user_id is not None:
                    raise ContactTaken(details={"fields": [name]})
                customer_merge(survivor=customer, duplicate=holder, merged_by=customer.user)
            customer = customer_update(
                customer=customer,
                **{name: value},
                source=Source.WEB,
                changed_by=customer.user,
            )
            # The merge may already have given the profile this contact; the login
            # takes the proven one either way (and only that one).
            user = customer.user
            if getattr(user, name) != value:
                setattr(user, name, value)
                try:
                    with transaction.atomic():
                        user.save(update_fields=[name])
                except IntegrityError as exc:
                    raise ContactTaken(details={"fields": [name]}) from exc
    if error is not None:
        raise error
    return customer


@transaction.atomic
def profile_update(
    *,
    customer: Customer,
    first_name: str = UNSET,
    last_name: str = UNSET,
    email: str | None = UNSET,
    phone: str | None = UNSET,
    consents: dict[str, bool] | None = None,
    source: str = Source.WEB,
) -> tuple[Customer, list[ContactVerification]]:
    """The customer's own change of their profile: names and consents now, contacts later.

    A new email or phone takes effect only after its code (`contact_change_complete`);
    until then it is returned as pending and the answer does not say whether someone
    else holds it. Removing a contact is immediate (the login keeps at least one).
    Locks the customer row. Raises what `customer_update` and `contact_change_start` raise.
    """
    _validate_choice(source, Source, code="invalid_source", name="source")
    given = {n: v for n, v in (("email", email), ("phone", phone)) if v is not UNSET}
    normalized = _normalize_contacts(
        phone=given.get("phone"), email=given.get("email"), card_number=None
    )
    removed = {n: None for n in given if not normalized[n]}
    # Compared with the login's contact: a profile may hold one (from a till or a merge)
    # that the login has not proven yet, and proving it is how the login gets it.
    holder = customer.user if customer.user_id else customer
    added = {
        n: normalized[n] for n in given if normalized[n] and normalized[n] != getattr(holder, n)
    }
    customer = customer_update(
        customer=customer,
        first_name=first_name,
        last_name=last_name,
        **removed,
        consents=consents,
        source=source,
        changed_by=customer.user,
    )
    pending = [
        contact_change_start(customer=customer, field_name=name, value=value)
        for name, value in added.items()
    ]
    return customer, pending


# --- consent to an assisted sale ------------------------------------------------------


@transaction.atomic
def assisted_sale_consent_start(*, customer: Customer) -> ContactVerification:
    """Send the customer a code that lets staff selling on their behalf use their points
    and coupons on that one sale.

    The code goes to a contact already on the profile (the phone when a code channel
    reaches it, else the email), never to one the member of staff types in. Same code
    rules as a contact's: only its HMAC stored, CUSTOMER_CODE_TTL_MINUTES, a few wrong
    attempts in total, more codes through `verification_resend`. Sends the code on
    commit. Raises ContactUnreachable (400) when no code channel reaches the customer.
    """
    for name in ("phone", "email"):
        value = getattr(customer, name)
        if value and _reachable(name, value):
            break
    else:
        raise ContactUnreachable(details={"field": "customer"})
    return _verification_open(
        purpose=ContactVerification.Purpose.ASSISTED_SALE,
        field_name=name,
        value=value,
        customer=customer,
    )


def assisted_sale_consent_take(
    *, customer: Customer, verification_id: uuid.UUID, code: str
) -> tuple[ContactVerification | None, DomainError | None]:
    """Check the customer's consent code inside the caller's transaction.

    Returns (the completed verification, None), or (None, the error) — InvalidCode (400,
    the wrong attempt counted), VerificationLocked / VerificationExpired (410),
    VerificationNotFound (404, also for another customer's). The caller raises the
    error after its transaction commits, so the count of wrong attempts survives the
    error answer. Locks the verification.
    """
    return _verification_take(
        verification_id=verification_id,
        code=code,
        purpose=ContactVerification.Purpose.ASSISTED_SALE,
        customer=customer,
    )


# --- merging duplicates ---------------------------------------------------------------


def _snapshot(customer: Customer) -> dict[str, Any]:
    consents = {
        c.channel: {
            "granted": c.granted,
            "changed_at": c.changed_at.isoformat(),
            "source": c.source,
        }
        for c in MarketingConsent.objects.filter(customer=customer)
    }
    return {
        "id": customer.pk,
        "first_name": customer.first_name,
        "last_name": customer.last_name,
        "phone": customer.phone,
        "email": customer.email,
        "card_number": customer.card_number,
        "user_id": customer.user_id,
        "signup_channel": customer.signup_channel,
        "registered_at": customer.registered_at.isoformat() if customer.registered_at else None,
        "registered_via": customer.registered_via,
        "created_at": customer.created_at.isoformat(),
        "first_order_at": customer.first_order_at.isoformat() if customer.first_order_at else None,
        "first_channel": customer.first_channel,
        "consents": consents,
    }


def _merge_consents(survivor: Customer, duplicate: Customer, *, merged_by, at) -> list[str]:
    """Give the survivor the duplicate's decision wherever that one is the more recent."""
    current = {c.channel: c for c in MarketingConsent.objects.filter(customer=survivor)}
    moved = []
    for theirs in MarketingConsent.objects.filter(customer=duplicate).order_by("channel"):
        ours = current.get(theirs.channel)
        mine = ConsentDecision(ours.granted, ours.changed_at, ours.source) if ours else None
        other = ConsentDecision(theirs.granted, theirs.changed_at, theirs.source)
        if latest_decision(mine, other) is mine:
            continue
        consent = ours or MarketingConsent(customer=survivor, channel=theirs.channel)
        # The decision keeps the time and source the person gave it with.
        consent.granted, consent.changed_at, consent.source = (
            theirs.granted,
            theirs.changed_at,
            theirs.source,
        )
        consent.save()
        ConsentChange.objects.create(
            customer=survivor,
            channel=theirs.channel,
            granted=theirs.granted,
            source=Source.MERGE,
            changed_by=merged_by,
            changed_at=at,
            details={
                "from_customer": duplicate.pk,
                "decided_at": theirs.changed_at.isoformat(),
                "decided_via": theirs.source,
            },
        )
        moved.append(theirs.channel)
    return moved


@transaction.atomic
def customer_merge(
    *, survivor: Customer, duplicate: Customer, merged_by: User | None
) -> CustomerMerge:
    """Fold a duplicate profile into the survivor, atomically, and record the merge.

    Locks both customer rows in primary-key order (no deadlock with a merge the other
    way round). Then: the more recent consent decision per channel wins; the earlier
    first order of the two (with its channel) becomes the survivor's; the survivor's empty
    name and contact fields are filled from the duplicate; the duplicate's login moves
    over when the survivor has none (otherwise it stays and resolves to the survivor);
    every handler in settings.CUSTOMER_MERGE_HANDLERS moves its app's rows;
    the duplicate becomes inactive with merged_into=survivor, and duplicates merged into
    it earlier now point at the survivor. Raises MergeIntoSelf (422),
    CustomerAlreadyMerged (409) and CustomerErased (409: an erased profile is no person
    to merge); a handler's error undoes the whole merge.
    """
    if survivor.pk == duplicate.pk:
        raise MergeIntoSelf(details={"customer": survivor.pk})
    locked = {
        c.pk: c
        for c in Customer.objects.select_for_update()
        .filter(pk__in=[survivor.pk, duplicate.pk])
        .order_by("pk")
    }
    survivor, duplicate = locked[survivor.pk], locked[duplicate.pk]
    for customer in (duplicate, survivor):
        if customer.merged_into_id is not None:
            raise CustomerAlreadyMerged(
                details={"customer": customer.pk, "merged_into": customer.merged_into_id}
            )
    erased = CustomerErasure.objects.filter(customer_id__in=list(locked)).values_list(
        "customer_id", flat=True
    )
    if erased:
        raise CustomerErased(details={"customer": min(erased)})
    now = timezone.now()
    snapshot = _snapshot(duplicate)
    consents = _merge_consents(survivor, duplicate, merged_by=merged_by, at=now)

    filled = {}
    for name in ("first_name", "last_name", *CONTACT_FIELDS):
        if not getattr(survivor, name) and getattr(duplicate, name):
            filled[name] = getattr(duplicate, name)
            if name in CONTACT_FIELDS:
                setattr(duplicate, name, None)  # released first: the fields are unique
    login_moved = survivor.user_id is None and duplicate.user_id is not None
    if login_moved:
        survivor.user_id = duplicate.user_id
        survivor.registered_at = duplicate.registered_at
        survivor.registered_via = duplicate.registered_via
        duplicate.user_id = None
    earlier = _earlier_first_order(survivor, duplicate)
    survivor.first_channel = earlier.first_channel
    for name in UTM_FIELDS:
        setattr(survivor, name, getattr(earlier, name))
    survivor.first_order_at, survivor.second_order_at = _two_earliest(
        survivor.first_order_at,
        survivor.second_order_at,
        duplicate.first_order_at,
        duplicate.second_order_at,
    )
    duplicate.is_active, duplicate.merged_into = False, survivor
    duplicate.save()
    for name, value in filled.items():
        setattr(survivor, name, value)
    survivor.save()
    repointed = Customer.objects.filter(merged_into_id=duplicate.pk).update(
        merged_into_id=survivor.pk
    )

    moved: dict[str, Any] = {
        "customers": {
            "consents": consents,
            "contacts": sorted(filled),
            "login": login_moved,
            "earlier_duplicates": repointed,
        }
    }
    for path, handler in merge_handlers():
        moved[path] = handler(survivor.pk, duplicate.pk) or {}
    return CustomerMerge.objects.create(
        survivor=survivor,
        duplicate=duplicate,
        merged_by=merged_by,
        merged_at=now,
        duplicate_snapshot=snapshot,
        moved=moved,
    )


def _earlier_first_order(survivor: Customer, duplicate: Customer) -> Customer:
    """Of the two profiles, the one whose first order came first (its channel and campaign
    become the survivor's); on a tie, or with neither ever ordering, the survivor."""
    ours, theirs = survivor.first_order_at, duplicate.first_order_at
    if theirs is not None and (ours is None or theirs < ours):
        return duplicate
    return survivor


# --- first orders ----------------------------------------------------------------------


NO_UTM = ("", "", "")
UTM_FIELDS = ("first_utm_source", "first_utm_medium", "first_utm_campaign")


def customer_first_order_record(
    *,
    customer_id: int,
    at: datetime,
    channel: str,
    utm: tuple[str, str, str] = NO_UTM,
    seen: Customer | None = None,
) -> bool:
    """Note that the customer placed an order at `at` in `channel` (web, app, pos …), from
    the campaign `utm` (source, medium, campaign; blank when none).

    It becomes their first order when they had none or only later ones (its channel and
    campaign become theirs), and their second when it falls between the first and the
    second; any later order changes nothing. One conditional UPDATE (`… WHERE
    first_order_at IS NULL OR first_order_at > at OR …`) and no read before it, so
    concurrent orders leave the two earliest whatever order they commit in: PostgreSQL
    re-checks the condition on a row a concurrent writer has just changed. Locks the
    customer row only when it changes it, so from their third order on a customer's
    orders never wait on it. Returns whether it changed the row. Called by orders inside
    the transaction that writes the order, before stock is locked.

    `seen`: the profile as this request read it. When it already held two orders before
    `at`, no statement is sent: orders and merges only ever move the kept times earlier,
    so this order cannot be one of the two earliest (a returning customer's checkout).
    """
    if _holds_two_before(seen, customer_id, at):
        return False
    return customers_first_orders_record(orders=[(customer_id, at, channel, utm)]) > 0


def customer_first_order_statement(
    *,
    customer_id: int,
    at: datetime,
    channel: str,
    utm: tuple[str, str, str] = NO_UTM,
    seen: Customer | None = None,
) -> tuple[str, list] | None:
    """`customer_first_order_record` as a statement for the caller to send with its next
    one, on PostgreSQL: (SQL, parameters), or None when no statement is needed (`seen`
    held two earlier orders). Elsewhere it records the order now and returns None. The
    checkout sends it ahead of its order's insert, in the same round trip and at the same
    place in the lock order (the customer row before any balance)."""
    if _holds_two_before(seen, customer_id, at):
        return None
    _channel_checked(channel)
    from django.db import connection

    if connection.vendor != "postgresql":
        _first_order_record_one(pk=customer_id, at=at, channel=channel, utm=tuple(utm))
        return None
    return _first_order_statement(pk=customer_id, at=at, channel=channel, utm=tuple(utm))


def _channel_checked(channel) -> None:
    """A first order's channel as the profile stores it (1–16 characters), else
    ValidationFailed (400)."""
    if not isinstance(channel, str) or not 0 < len(channel) <= 16:
        raise ValidationFailed(details={"channel": str(channel)[:32]})


def _holds_two_before(seen: Customer | None, customer_id: int, at: datetime) -> bool:
    """Whether the profile as the request read it already held two orders before `at`."""
    return (
        seen is not None
        and seen.pk == customer_id
        and seen.second_order_at is not None
        and seen.second_order_at < at
    )


def customers_first_orders_record(*, orders: Iterable[tuple]) -> int:
    """`customer_first_order_record` for a batch of (customer id, at, channel[, utm]), e.g.
    a till's synced sales: one UPDATE whatever the batch's size. Returns the rows changed.

    Per customer, the batch's two earliest distinct times t1 < t2 meet the kept first f and
    second s: the new pair is the two earliest distinct times of {f, s, t1, t2}."""
    times: dict[int, dict[datetime, tuple[str, tuple]]] = {}
    for customer_id, at, channel, *rest in orders:
        _channel_checked(channel)
        utm = tuple(rest[0]) if rest else NO_UTM
        seen = times.setdefault(customer_id, {})
        if at not in seen:
            seen[at] = (channel, utm)
    if not times:
        return 0
    first: dict[int, tuple[datetime, str, tuple]] = {}
    second: dict[int, datetime] = {}
    for pk, seen in times.items():
        earliest = sorted(seen)[:2]
        first[pk] = (earliest[0], *seen[earliest[0]])
        if len(earliest) > 1:
            second[pk] = earliest[1]
    if len(times) == 1 and not second:
        # The checkout's case — one customer, one order: a plain statement, as building the
        # batch form's expressions costs the ORM milliseconds per order.
        ((pk, (at, channel, utm)),) = first.items()
        return _first_order_record_one(pk=pk, at=at, channel=channel, utm=utm)

    def per_customer(values: dict[int, Any], field: models.Field) -> Case | Value:
        if len(times) == 1:
            return Value(next(iter(values.values()), None), output_field=field)
        whens = [When(pk=pk, then=Value(value)) for pk, value in values.items()]
        return Case(*whens, default=Value(None), output_field=field)

    stamp, text = models.DateTimeField(), models.CharField()
    t1 = per_customer({pk: at for pk, (at, _c, _u) in first.items()}, stamp)
    t2 = per_customer(second, stamp) if second else Value(None, output_field=stamp)
    has_t2 = Q(pk__in=list(second))
    f, s = F("first_order_at"), F("second_order_at")
    no_first, before_first = Q(first_order_at__isnull=True), Q(first_order_at__gt=t1)
    same_first, after_first = Q(first_order_at=t1), Q(first_order_at__lt=t1)
    t2_before_s = has_t2 & (Q(second_order_at__isnull=True) | Q(second_order_at__gt=t2))
    t1_before_s = Q(second_order_at__isnull=True) | Q(second_order_at__gt=t1)
    becomes_first = no_first | before_first
    new_second = Case(
        When(no_first, then=t2),
        When(before_first, then=Case(When(has_t2 & Q(first_order_at__gt=t2), then=t2), default=f)),
        When(same_first & t2_before_s, then=t2),
        When(after_first & t1_before_s, then=t1),
        default=s,
        output_field=stamp,
    )
    fields = {
        "first_order_at": Case(When(becomes_first, then=t1), default=f, output_field=stamp),
        "second_order_at": new_second,
        "first_channel": Case(
            When(
                becomes_first, then=per_customer({pk: c for pk, (_a, c, _u) in first.items()}, text)
            ),
            default=F("first_channel"),
            output_field=text,
        ),
    }
    for index, name in enumerate(UTM_FIELDS):
        values = {pk: u[index] for pk, (_a, _c, u) in first.items()}
        fields[name] = Case(
            When(becomes_first, then=per_customer(values, text)), default=F(name), output_field=text
        )
    return (
        Customer.objects.filter(pk__in=list(times))
        .filter(becomes_first | (same_first & t2_before_s) | (after_first & t1_before_s))
        .update(**fields)
    )


FIRST_ORDER_FIELDS = ("first_order_at", "first_channel", *UTM_FIELDS, "second_order_at")


def customers_first_orders_derive(*, orders: models.QuerySet, batch_size: int = 2000) -> int:
    """Set the first and second order, first channel and first campaign of every customer
    who has orders in `orders` (a queryset of the orders app's orders, passed in so this
    app does not import it): after a bulk load or a backfill that bypassed
    `customer_first_order_record`. One ranked pass over the orders (each customer's two
    earliest distinct times), then the customers updated in batches. Returns how many."""
    return customers_first_orders_set(rows=first_orders_ranked(orders), batch_size=batch_size)


def first_orders_ranked(orders: models.QuerySet) -> Iterable[tuple]:
    """(customer id, rank, placed_at, channel, utm source, medium, campaign) of each
    customer's orders at their two earliest distinct times, the earliest order first."""
    from django.db.models import Window
    from django.db.models.functions import DenseRank

    return (
        orders.filter(customer__isnull=False)
        .annotate(
            _rank=Window(
                DenseRank(), partition_by=[F("customer_id")], order_by=F("placed_at").asc()
            )
        )
        .filter(_rank__lte=2)
        .order_by("customer_id", "placed_at", "pk")
        .values_list(
            "customer_id",
            "_rank",
            "placed_at",
            "channel",
            "utm_source",
            "utm_medium",
            "utm_campaign",
        )
        .iterator(chunk_size=10_000)
    )


def customers_first_orders_set(*, rows: Iterable[tuple], batch_size: int = 2000) -> int:
    """Write what `first_orders_ranked` found (rows in its order) onto the customers."""
    found: dict[int, Customer] = {}
    for customer_id, rank, at, channel, source, medium, campaign in rows:
        customer = found.get(customer_id)
        if customer is None:
            found[customer_id] = Customer(
                pk=customer_id,
                first_order_at=at,
                first_channel=channel,
                first_utm_source=source,
                first_utm_medium=medium,
                first_utm_campaign=campaign,
                second_order_at=None,
            )
        elif rank == 2 and customer.second_order_at is None:
            customer.second_order_at = at
    Customer.objects.bulk_update(list(found.values()), FIRST_ORDER_FIELDS, batch_size=batch_size)
    return len(found)


def _first_order_record_one(*, pk: int, at: datetime, channel: str, utm: tuple) -> int:
    """One order of one customer, as `customers_first_orders_record` does for a batch: it
    becomes their first (the old first becoming the second), or their second, or nothing.
    Returns the rows changed (0 or 1)."""
    sql, values = _first_order_statement(pk=pk, at=at, channel=channel, utm=utm)
    with prepared_cursor() as cursor:  # one text for every checkout: planned once
        cursor.execute(sql, values)
        return cursor.rowcount


def _first_order_statement(*, pk: int, at: datetime, channel: str, utm: tuple) -> tuple[str, list]:
    """The UPDATE of `_first_order_record_one` (SQL, parameters)."""
    from django.db import connection

    table = connection.ops.quote_name(Customer._meta.db_table)
    t = connection.ops.adapt_datetimefield_value(at)
    earlier = "(first_order_at IS NULL OR first_order_at > %s)"
    between = "(first_order_at < %s AND (second_order_at IS NULL OR second_order_at > %s))"
    kept = ", ".join(
        f"{name} = CASE WHEN {earlier} THEN %s ELSE {name} END"
        for name in ("first_order_at", "first_channel", *UTM_FIELDS)
    )
    sql = (
        f"UPDATE {table} SET {kept}, second_order_at = CASE"
        " WHEN first_order_at IS NULL THEN second_order_at"
        " WHEN first_order_at > %s THEN first_order_at"
        f" WHEN {between} THEN %s ELSE second_order_at END"
        f" WHERE id = %s AND ({earlier} OR {between})"
    )
    values = [t, t, t, channel, *(v for value in utm for v in (t, value))]
    values += [t, t, t, t, pk, t, t, t]
    return sql, values


def _two_earliest(*times: datetime | None) -> tuple[datetime | None, datetime | None]:
    """The two earliest distinct times of `times` (None for missing ones)."""
    distinct = sorted({t for t in times if t is not None})
    return (distinct + [None, None])[0], (distinct + [None, None])[1]


# --- erasing a person's data on their request -----------------------------------------

ERASED_PROFILE = {
    "first_name": "",
    "last_name": "",
    "phone": None,
    "email": None,
    "card_number": None,
    "is_active": False,
    "user": None,
}


@transaction.atomic
def customer_erase(
    *, customer: Customer, erased_by: User | None = None, source: str = Source.ADMIN
) -> CustomerErasure:
    """Erase the personal data of a customer on their request, keeping what accounting needs.

    Locks the customer row and the rows of the duplicates merged into it (in primary-key
    order, as a merge does). Every handler in settings.CUSTOMER_ERASE_HANDLERS blanks its
    app's personal data first (orders keep their lines, money and ledgers, without the
    contact fields; a handler may refuse, e.g. while an order is open, and then nothing
    changes). Then every granted marketing consent is withdrawn (the history shows it);
    the profile and its merged duplicates lose names, contacts and card and become
    inactive; their logins are deleted with every token (so no device stays logged in);
    codes waiting for their contacts and the merge snapshots of the duplicates are
    deleted. The audit row (`CustomerErasure`) says who, when, through what and what was
    done, and holds no personal data. `source` ADMIN is staff (`erased_by`), any other
    source is the customer themselves.

    Raises CustomerAlreadyMerged (409: erase the survivor), CustomerErased (409: already
    done), StaffLoginNotErasable (409) and whatever a handler raises.
    """
    _validate_choice(source, Source, code="invalid_source", name="source")
    locked = Customer.objects.select_for_update().get(pk=customer.pk)
    if locked.merged_into_id is not None:
        raise CustomerAlreadyMerged(
            details={"customer": locked.pk, "merged_into": locked.merged_into_id}
        )
    if is_erased(customer_id=locked.pk):
        raise CustomerErased(details={"customer": locked.pk})
    profiles = list(
        Customer.objects.select_for_update()
        .filter(Q(pk=locked.pk) | Q(merged_into_id=locked.pk))
        .order_by("pk")
    )
    group = [p.pk for p in profiles]
    user_ids = [p.user_id for p in profiles if p.user_id]
    if (
        User.objects.filter(pk__in=user_ids)
        .filter(Q(is_staff=True) | Q(is_superuser=True))
        .exists()
    ):
        raise StaffLoginNotErasable(details={"customer": locked.pk})
    by_customer = source != Source.ADMIN

    done: dict[str, Any] = {}
    for path, handler in erase_handlers():
        done[path] = handler(locked.pk) or {}

    withdrawn = []
    for consent in MarketingConsent.objects.filter(customer=locked, granted=True).order_by(
        "channel"
    ):
        consent_set(
            customer=locked,
            channel=consent.channel,
            granted=False,
            source=source,
            changed_by=None if by_customer else erased_by,
            details={"erasure": True},
        )
        withdrawn.append(consent.channel)

    contacts = {value for p in profiles for value in (p.phone, p.email) if value}
    verifications, _by_model = ContactVerification.objects.filter(
        Q(customer_id__in=group) | Q(value__in=contacts)
    ).delete()
    snapshots = CustomerMerge.objects.filter(duplicate_id__in=group).update(duplicate_snapshot={})
    Customer.objects.filter(pk__in=group).update(**ERASED_PROFILE, updated_at=timezone.now())
    _total, by_model = AuthToken.objects.filter(user_id__in=user_ids).delete()
    sessions = by_model.get(AuthToken._meta.label, 0)
    User.objects.filter(pk__in=user_ids).delete()

    done["customers"] = {
        "profiles": len(group),
        "consents_withdrawn": withdrawn,
        "logins_deleted": len(user_ids),
        "sessions_ended": sessions,
        "verifications_deleted": verifications,
        "merge_snapshots_cleared": snapshots,
    }
    return CustomerErasure.objects.create(
        customer=locked,
        erased_by=None if by_customer else erased_by,
        via=CustomerErasure.Via.CUSTOMER if by_customer else CustomerErasure.Via.ADMIN,
        done=done,
    )


def customer_erase_own(*, user: User, password: str, source: str = Source.WEB) -> CustomerErasure:
    """The customer erases their own account: the password is asked again, so a token alone
    (a phone left unlocked, a leaked token) cannot do it.

    The slow password check runs before the transaction. Raises ReauthenticationFailed
    (403) for a wrong password (nothing changes), CustomerNotFound (404) for a login
    without a profile, and what `customer_erase` raises.
    """
    if not user.check_password(password or ""):
        raise ReauthenticationFailed()
    customer = customer_get_for_user(user=user)
    return customer_erase(customer=customer, erased_by=None, source=source)


# --- demo -----------------------------------------------------------------------------


@transaction.atomic
def user_ensure_demo_staff(*, email: str, password: str) -> User:
    """Create the demo superuser, or reset its password and rights when it exists."""
    user = User.objects.filter(email=normalize_email(email)).first()
    if user is None:
        return User.objects.create_superuser(email=email, password=password)
    user.is_staff = user.is_superuser = user.is_active = True
    user.set_password(password)
    user.save(update_fields=["is_staff", "is_superuser", "is_active", "password"])
    return user


# --- staff logins and login edits in the admin ----------------------------------------


@transaction.atomic
def staff_login_create(
    *, email: str, password: str, full_name: str = "", phone: str | None = None
) -> User:
    """A login for a member of staff (`is_staff`, no customer profile).

    The email (and phone) are normalized and must not belong to another login; the
    password passes the configured validators. Locks nothing: the unique columns decide
    a race. Raises Invalid* / InvalidPassword (400), ContactTaken (409).
    """
    email_n = normalize_email(email)
    phone_n = normalize_phone(phone) if phone else None
    name = clean_name(full_name, field="full_name")
    _validate_password(password, email=email_n, phone=phone_n, name=name)
    taken = [
        field_name
        for field_name, value in (("email", email_n), ("phone", phone_n))
        if value and User.objects.filter(**{field_name: value}).exists()
    ]
    if taken:
        raise ContactTaken(details={"fields": taken})
    user = User(email=email_n, phone=phone_n, full_name=name, is_staff=True)
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError as exc:
        raise ContactTaken(details={"fields": ["email"]}) from exc
    return user


LOGIN_FLAGS = ("is_active", "is_staff", "is_superuser")


@transaction.atomic
def user_update(
    *,
    user: User,
    email: str | None = UNSET,
    phone: str | None = UNSET,
    full_name: str = UNSET,
    changed_by: User | None = None,
    **flags: bool,
) -> User:
    """Change a login as staff do in the admin: contacts, name, active/staff/superuser flags.

    A login with a customer profile follows its profile: changed contacts go through
    `customer_update` (checked against every profile and login, mirrored back to the login
    and recorded as an admin change), and its name is the profile's, so changing it here
    is refused. Locks the login row (and the profile's, through customer_update). Raises
    ValidationFailed (`name_follows_profile`, unknown flag), Invalid* (400), ContactTaken
    (409), LoginIdentifierRequired (400).
    """
    unknown = set(flags) - set(LOGIN_FLAGS)
    if unknown:
        raise ValidationFailed(details={"fields": sorted(unknown)})
    locked = User.objects.select_for_update().get(pk=user.pk)
    profile = Customer.objects.filter(user=locked).first()
    contacts = {
        name: value for name, value in (("email", email), ("phone", phone)) if value is not UNSET
    }
    if profile is not None:
        if full_name is not UNSET and clean_name(full_name, field="full_name") != locked.full_name:
            raise ValidationFailed(
                _("This login's name is its customer profile's: change it on the profile."),
                code="name_follows_profile",
            )
        if contacts:
            customer_update(
                customer=profile, **contacts, source=Source.ADMIN, changed_by=changed_by
            )
            locked.refresh_from_db(fields=["email", "phone", "full_name"])
    else:
        normalized = {
            "email": normalize_email(contacts["email"]) if contacts.get("email") else None,
            "phone": normalize_phone(contacts["phone"]) if contacts.get("phone") else None,
        }
        changed = {n: normalized[n] for n in contacts if normalized[n] != getattr(locked, n)}
        final = {n: changed.get(n, getattr(locked, n)) for n in ("email", "phone")}
        if not (final["email"] or final["phone"]):
            raise LoginIdentifierRequired()
        taken = [
            n
            for n, value in changed.items()
            if value and User.objects.filter(**{n: value}).exclude(pk=locked.pk).exists()
        ]
        if taken:
            raise ContactTaken(details={"fields": taken})
        for name, value in changed.items():
            setattr(locked, name, value)
        if full_name is not UNSET:
            locked.full_name = clean_name(full_name, field="full_name")
    for name, value in flags.items():
        setattr(locked, name, bool(value))
    locked.save()
    return locked
