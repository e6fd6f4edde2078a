"""Writes of users and customer profiles: register, identify, update, consent, merge, log in.

Every public function is atomic. Contacts arrive raw and are normalized here. Unique
contacts are checked first, for a clear error, and the database's unique constraints
guard against concurrent writers: an IntegrityError becomes the same domain error.
Higher apps take part through the hooks in `customers.hooks`, never by being imported.
"""

from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import authenticate, password_validation
from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.authtoken.models import Token

from core.errors import ValidationFailed
from customers.domain import (
    ConsentDecision,
    latest_decision,
    normalize_card_number,
    normalize_email,
    normalize_phone,
)
from customers.errors import (
    ContactTaken,
    CustomerAlreadyMerged,
    CustomerAmbiguous,
    CustomerExists,
    IdentifierRequired,
    InvalidCredentials,
    InvalidPassword,
    LoginIdentifierRequired,
    MergeIntoSelf,
    NotACustomer,
)
from customers.hooks import login_handlers, merge_handlers
from customers.models import (
    ConsentChange,
    ConsentChannel,
    Customer,
    CustomerMerge,
    MarketingConsent,
    Source,
    User,
)
from customers.selectors import contact_conflicts, customer_find_by_contacts, customer_resolve

CONTACT_FIELDS = ("phone", "email", "card_number")


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


# "Leave this field alone" in customer_update, where None means "clear it".
UNSET: Any = _Unset()


def _clean(value: str | None) -> str | None:
    value = (value or "").strip()
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
                first_name=(first_name or "").strip(),
                last_name=(last_name or "").strip(),
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
    phone over the email: a sale must not fail because a profile needs merging. Empty
    names and free contacts of the found customer are filled in; its login is untouched.
    Locks the found customer row. Raises IdentifierRequired and Invalid* (400).
    """
    _validate_choice(source, Source, code="invalid_source", name="source")
    contacts = _normalize_contacts(phone=phone, email=email, card_number=card_number)
    if not any(contacts.values()):
        raise IdentifierRequired()
    first_name, last_name = (first_name or "").strip(), (last_name or "").strip()
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
    changed: dict[str, Any] = {}
    for name, value in (("first_name", first_name), ("last_name", last_name)):
        if value is not UNSET and (value or "").strip() != getattr(locked, name):
            changed[name] = (value or "").strip()
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
    password: str,
    first_name: str = "",
    last_name: str = "",
    consents: dict[str, bool] | None = None,
    source: str = Source.WEB,
) -> Customer:
    """Create a login and its customer profile, or give a login to a known customer.

    A customer already known by this phone or email but without a login (identified at
    the till, a guest checkout) gets the new login, so there is never a second profile.
    Locks that customer row. Raises LoginIdentifierRequired, Invalid* / InvalidPassword
    (400), CustomerExists (409) when a login exists for the contact, CustomerAmbiguous
    (409) when the phone and the email belong to two different customers.
    """
    _validate_choice(source, Source, code="invalid_source", name="source")
    contacts = _normalize_contacts(phone=phone, email=email, card_number=None)
    phone, email = contacts["phone"], contacts["email"]
    if not phone and not email:
        raise LoginIdentifierRequired(_("Give an email or a phone to register with."))
    first_name, last_name = (first_name or "").strip(), (last_name or "").strip()
    full_name = f"{first_name} {last_name}".strip()
    _validate_password(password, email=email, phone=phone, name=full_name)
    # Hashed before any row is locked: hashing is slow on purpose.
    password_hash = make_password(password)
    if any(isinstance(h, User) for h in contact_conflicts(customer=None, **contacts).values()):
        raise CustomerExists()
    found = {c.pk: c for c in customer_find_by_contacts(phone=phone, email=email).values()}
    if len(found) > 1:
        raise CustomerAmbiguous(details={"fields": ["email", "phone"]})
    customer = None
    if found:
        customer = Customer.objects.select_for_update().get(pk=next(iter(found)))
        if customer.user_id is not None:
            raise CustomerExists()
    try:
        with transaction.atomic():
            user = User.objects.create(
                email=email, phone=phone, password=password_hash, full_name=full_name
            )
    except IntegrityError as exc:
        raise CustomerExists() from exc
    now = timezone.now()
    if customer is None:
        try:
            with transaction.atomic():
                customer = Customer.objects.create(
                    user=user,
                    first_name=first_name,
                    last_name=last_name,
                    phone=phone,
                    email=email,
                    signup_channel=source,
                )
        except IntegrityError as exc:
            raise CustomerExists() from exc
        # Equal timestamps mark "the profile was made by registering" (one timeline entry).
        customer.registered_at, customer.registered_via = customer.created_at, source
        customer.save(update_fields=["registered_at", "registered_via"])
    else:
        customer.user, customer.registered_at, customer.registered_via = user, now, source
        changed = ["user", "registered_at", "registered_via", "updated_at"]
        for name, value in (
            ("first_name", first_name),
            ("last_name", last_name),
            ("phone", phone),
            ("email", email),
        ):
            if value and not getattr(customer, name):
                setattr(customer, name, value)
                changed.append(name)
        customer.save(update_fields=changed)
    _consents_apply(customer, consents, source=source, changed_by=user)
    return customer


@dataclass
class AuthResult:
    """A login: the token key, the customer, and what the login handlers added."""

    token: str
    customer: Customer
    extras: dict[str, Any] = field(default_factory=dict)


def _session_start(user: User, customer: Customer, request_data: dict[str, Any]) -> AuthResult:
    token, _created = Token.objects.get_or_create(user=user)
    user.last_login = timezone.now()
    user.save(update_fields=["last_login"])
    # Handlers get what the client sent (e.g. an anonymous "cart_token"), never the password.
    data = {k: v for k, v in (request_data or {}).items() if k != "password"}
    extras: dict[str, Any] = {}
    for _path, handler in login_handlers():
        extras.update(handler(customer, data) or {})
    return AuthResult(token=token.key, customer=customer, extras=extras)


def auth_login(
    *, login: str, password: str, request_data: dict[str, Any] | None = None
) -> AuthResult:
    """Check a login (email or phone) and password; return the login's token and customer.

    Runs settings.CUSTOMER_LOGIN_HANDLERS in the same transaction: a DomainError from one
    fails the login and undoes everything. Raises InvalidCredentials (401) for an unknown
    login, a wrong password or a disabled user alike, NotACustomer (403) for a login
    without a customer profile (a staff account).
    """
    # The deliberately slow password check runs before the transaction opens.
    user = authenticate(request=None, username=(login or "").strip(), password=password or "")
    if user is None:
        raise InvalidCredentials()
    with transaction.atomic():
        profile = Customer.objects.select_related("user").filter(user_id=user.pk).first()
        if profile is None:
            raise NotACustomer()
        return _session_start(user, customer_resolve(profile), request_data or {})


@transaction.atomic
def auth_register(*, request_data: dict[str, Any] | None = None, **registration: Any) -> AuthResult:
    """`customer_register` and log the new customer in, in one transaction."""
    customer = customer_register(**registration)
    return _session_start(customer.user, customer, request_data or {})


@transaction.atomic
def auth_logout(*, user: User) -> int:
    """Delete the login's API token (every device using it must log in again)."""
    deleted, _by_model = Token.objects.filter(user=user).delete()
    return deleted


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
    way round). Then: the more recent consent decision per channel wins; the survivor's
    empty name and contact fields are filled from the duplicate; the duplicate's login
    moves over when the survivor has none (otherwise it stays and resolves to the
    survivor); every handler in settings.CUSTOMER_MERGE_HANDLERS moves its app's rows;
    the duplicate becomes inactive with merged_into=survivor, and duplicates merged into
    it earlier now point at the survivor. Raises MergeIntoSelf (422) and
    CustomerAlreadyMerged (409); a handler's error undoes the whole merge.
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
