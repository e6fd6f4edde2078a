"""Reads of users and customer profiles: lookups, search, likely duplicates, consents,
contact conflicts, the timeline and the export of everything held about a customer.

A merged duplicate stays as a row pointing at its survivor; every lookup here resolves
it to the survivor, so an old phone, card or login keeps finding the right person.
"""

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import ValidationFailed
from customers.domain import (
    duplicate_keys,
    duplicate_reasons,
    identifier_candidates,
    looks_like_email,
    normalize_card_number,
    normalize_email,
    normalize_phone,
    phone_search_key,
    timeline_page,
)
from customers.errors import CustomerNotFound
from customers.hooks import admin_panels, export_sources, timeline_sources
from customers.models import (
    SALES_CHANNELS,
    ConsentChange,
    ConsentChannel,
    ContactVerification,
    Customer,
    CustomerErasure,
    CustomerMerge,
    LoginSession,
    MarketingConsent,
    User,
)


def user_find_by_login(*, login: str) -> User | None:
    """The user whose normalized email or phone matches `login`, or None."""
    login = login.strip()
    try:
        if looks_like_email(login):
            return User.objects.filter(email=normalize_email(login)).first()
        return User.objects.filter(phone=normalize_phone(login)).first()
    except ValidationFailed:
        return None


def customer_resolve(customer: Customer) -> Customer:
    """The survivor of a merged customer, or the customer itself.

    Merges re-point older duplicates at the newest survivor, so one hop is enough.
    """
    if customer.merged_into_id is None:
        return customer
    return Customer.objects.select_related("user").get(pk=customer.merged_into_id)


def customer_find(*, identifier: str) -> Customer | None:
    """The customer known by this email, phone or card number (survivor of a merge), or None.

    The identifier's kind is detected; a string that reads as both a card number and a
    phone matches the card first. Unparseable input finds nobody rather than raising.
    """
    candidates = identifier_candidates(identifier)
    if not candidates:
        return None
    query = Q()
    for field, value in candidates:
        query |= Q(**{field: value})
    found = {
        (field, getattr(c, field)): c
        for c in Customer.objects.select_related("user").filter(query)
        for field, _value in candidates
    }
    for candidate in candidates:
        if candidate in found:
            return customer_resolve(found[candidate])
    return None


def customer_identify(
    *, phone: str | None = None, card: str | None = None, id: int | None = None
) -> Customer:
    """The active (surviving) profile named by exactly one of phone, loyalty card number or
    id: for staff serving an identified customer (selling on their behalf) and for tills.

    ValidationFailed (400 `customer_identifier_required`) for none or several;
    InvalidPhone / InvalidCardNumber (400) for an unreadable one; CustomerNotFound (404)
    for nobody, or an inactive profile. One lookup through `customers_identify`.
    """
    given = {k: v for k, v in (("phone", phone), ("card", card), ("id", id)) if v not in (None, "")}
    if len(given) != 1:
        raise ValidationFailed(
            _("Give exactly one of phone, card or id."),
            code="customer_identifier_required",
            details={"given": sorted(given)},
        )
    ((kind, value),) = given.items()
    if kind == "phone":
        value = normalize_phone(value)
    elif kind == "card":
        value = normalize_card_number(value)
    found = customers_identify(
        phones={value} if kind == "phone" else (),
        cards={value} if kind == "card" else (),
        ids={value} if kind == "id" else (),
    ).get((kind, value))
    if found is None or not found.is_active:
        raise CustomerNotFound(_("No customer with this phone or card."))
    return found


def customer_find_by_contacts(
    *, phone: str | None = None, email: str | None = None, card_number: str | None = None
) -> dict[str, Customer]:
    """Survivors holding each of the given (already normalized) contacts: {field: customer}."""
    wanted = {f: v for f, v in (("phone", phone), ("email", email), ("card_number", card_number))}
    wanted = {f: v for f, v in wanted.items() if v}
    if not wanted:
        return {}
    query = Q()
    for field, value in wanted.items():
        query |= Q(**{field: value})
    result = {}
    for customer in Customer.objects.select_related("user").filter(query):
        for field, value in wanted.items():
            if getattr(customer, field) == value:
                result[field] = customer_resolve(customer)
    return result


def customer_list(*, active: bool | None = True) -> QuerySet[Customer]:
    """Customers in creation order; by default only those not merged away."""
    qs = Customer.objects.order_by("pk")
    return qs if active is None else qs.filter(is_active=active)


def customer_get_for_user(*, user, preloaded: bool = False) -> Customer:
    """The (surviving) customer profile of a login; raises CustomerNotFound when it has none.
    `preloaded`: the login was read with its profile in this request (the API's token check,
    `customers.auth.profile_preloaded`), so that profile is used without a query."""
    if preloaded and User.customer.is_cached(user):
        customer = getattr(user, "customer", None)
    else:
        customer = Customer.objects.select_related("user").filter(user_id=user.pk).first()
    if customer is None:
        raise CustomerNotFound()
    return customer_resolve(customer)


def customer_merge_group_ids(*, customer_id: int) -> list[int]:
    """The customer and every duplicate merged into it (their history belongs to it now)."""
    return [
        customer_id,
        *Customer.objects.filter(merged_into_id=customer_id).values_list("id", flat=True),
    ]


def contact_conflicts(
    *,
    customer: Customer | None,
    phone: str | None = None,
    email: str | None = None,
    card_number: str | None = None,
) -> dict[str, Customer | User]:
    """Which of the given normalized contacts another customer or another login holds.

    Duplicates merged into `customer` are not conflicts: their old contacts may be
    reclaimed by the survivor (the service releases them). Logins always are.
    """
    conflicts: dict[str, Customer | User] = {}
    own_id = customer.pk if customer else None
    for field, holder in customer_find_by_contacts(
        phone=phone, email=email, card_number=card_number
    ).items():
        if holder.pk != own_id:
            conflicts[field] = holder
    wanted_logins = {field: value for field, value in (("phone", phone), ("email", email)) if value}
    if wanted_logins:
        logins = Q()
        for field, value in wanted_logins.items():
            logins |= Q(**{field: value})
        own_user_id = customer.user_id if customer else None
        for user in User.objects.filter(logins).exclude(pk=own_user_id):
            for field, value in wanted_logins.items():
                if getattr(user, field) == value:
                    conflicts.setdefault(field, user)
    return conflicts


def customer_consents(*, customer: Customer) -> dict[str, MarketingConsent | None]:
    """The current decision per consent channel (None: never asked)."""
    current = {c.channel: c for c in MarketingConsent.objects.filter(customer=customer)}
    return {channel: current.get(channel) for channel in ConsentChannel.values}


def consent_granted(*, customer_id: int, channel: str) -> bool:
    """Whether marketing may use this channel (transactional messages need no consent)."""
    return MarketingConsent.objects.filter(
        customer_id=customer_id, channel=channel, granted=True
    ).exists()


def consent_history(*, customer: Customer) -> QuerySet[ConsentChange]:
    """Every consent decision of the customer and of the duplicates merged into it, newest first."""
    return (
        ConsentChange.objects.filter(
            customer_id__in=customer_merge_group_ids(customer_id=customer.pk)
        )
        .select_related("changed_by")
        .order_by("-changed_at", "-id")
    )


def customer_search(*, queryset: QuerySet[Customer], term: str) -> QuerySet[Customer]:
    """Customers matching what staff typed: a (partial) phone in any format, email, card, name.

    Several words are a full name in any order ("Anna Schmidt", "Schmidt Anna", "Anna
    Maria Schmidt"): each word must be in the first or the last name. A phone matches by
    its E.164 prefix ("0151 2345 678", "+49 151 234…") or by four or more digits in it.
    """
    term = " ".join((term or "").split())
    if not term:
        return queryset
    query = (
        Q(first_name__icontains=term)
        | Q(last_name__icontains=term)
        | Q(email__icontains=term)
        | Q(card_number__icontains=term.replace(" ", "").replace("-", ""))
    )
    words = term.split(" ")
    if len(words) > 1:
        every_word = Q()
        for word in words:
            every_word &= Q(first_name__icontains=word) | Q(last_name__icontains=word)
        query |= every_word
    key = phone_search_key(term)
    if key:
        query |= Q(phone__startswith=key)
    digits = "".join(ch for ch in term if ch.isdigit())
    if len(digits) >= 4 and not looks_like_email(term):
        query |= Q(phone__contains=digits)
    return queryset.filter(query)


# Most likely duplicates listed on a customer's page.
DUPLICATES_LIMIT = 20


def likely_duplicates(*, customer: Customer) -> list[tuple[Customer, list[str]]]:
    """Other live profiles that are likely the same person, with the reasons, oldest first.

    The rule is `customers.domain.duplicate_reasons` (same full name and a close contact).
    One query on the full-name index (lower-cased last and first name) finds the profiles
    of the same name; the contacts are compared in Python on those few rows.
    """
    keys = duplicate_keys(
        first_name=customer.first_name,
        last_name=customer.last_name,
        phone=customer.phone,
        email=customer.email,
    )
    if keys.full_name is None or customer.merged_into_id is not None:
        return []
    first, last = keys.full_name
    same_name = (
        Customer.objects.alias(last_key=Lower("last_name"), first_key=Lower("first_name"))
        .filter(last_key=last, first_key=first, merged_into__isnull=True)
        .exclude(pk=customer.pk)
        .select_related("user")
        .order_by("pk")[: DUPLICATES_LIMIT * 5]
    )
    found = []
    for other in same_name:
        reasons = duplicate_reasons(
            keys,
            duplicate_keys(
                first_name=other.first_name,
                last_name=other.last_name,
                phone=other.phone,
                email=other.email,
            ),
        )
        if reasons:
            found.append((other, reasons))
    return found[:DUPLICATES_LIMIT]


def customer_erasure(*, customer: Customer) -> CustomerErasure | None:
    """The erasure of this profile's personal data, or None when it was not erased."""
    return CustomerErasure.objects.select_related("erased_by").filter(customer=customer).first()


def is_erased(*, customer_id: int) -> bool:
    return CustomerErasure.objects.filter(customer_id=customer_id).exists()


def customer_panels(*, customer: Customer, user, limit: int) -> list[dict[str, Any]]:
    """The read-only panels other apps give the customer's admin page (orders, returns,
    points…), each in a bounded number of queries; those `user` may not see are left out."""
    panels = []
    for _path, panel in admin_panels():
        found = panel(customer.pk, user=user, limit=limit)
        if found is not None:
            panels.append(found)
    return panels


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def customer_export(*, customer: Customer) -> dict[str, Any]:
    """Everything held about the customer, as JSON-ready data (the right of access).

    The profile, its login and devices, consents and their history, contact changes
    waiting for a code, the profiles merged into it (what they held when merged), and
    what every source in settings.CUSTOMER_EXPORT_SOURCES holds (orders, points,
    returns…). Read only; the cost is a few queries per source.
    """
    group = customer_merge_group_ids(customer_id=customer.pk)
    data: dict[str, Any] = {}
    for _path, source in export_sources():
        data.update(source(customer.pk) or {})
    user = customer.user if customer.user_id else None
    consents = MarketingConsent.objects.filter(customer=customer).order_by("channel")
    merges = CustomerMerge.objects.filter(survivor=customer).order_by("merged_at", "pk")
    pending = ContactVerification.objects.filter(
        customer_id__in=group, completed_at__isnull=True, expires_at__gt=timezone.now()
    ).order_by("created_at")
    erasure = customer_erasure(customer=customer)
    # The profile's own parts last, so that no source can overwrite them.
    data.update(
        {
            "exported_at": timezone.now().isoformat(),
            "customer": {
                "id": customer.pk,
                "first_name": customer.first_name,
                "last_name": customer.last_name,
                "phone": customer.phone,
                "email": customer.email,
                "card_number": customer.card_number,
                "is_active": customer.is_active,
                "signup_channel": customer.signup_channel,
                "registered_at": _iso(customer.registered_at),
                "registered_via": customer.registered_via,
                "created_at": _iso(customer.created_at),
                "updated_at": _iso(customer.updated_at),
            },
            "login": None
            if user is None
            else {
                "email": user.email,
                "phone": user.phone,
                "full_name": user.full_name,
                "is_active": user.is_active,
                "date_joined": _iso(user.date_joined),
                "last_login": _iso(user.last_login),
            },
            "sessions": [
                {
                    "device": session.name,
                    "created_at": _iso(session.created_at),
                    "last_used_at": _iso(session.last_used_at),
                    "expires_at": _iso(session.token.expiry),
                }
                for session in (login_sessions(user=user) if user else [])
            ],
            "consents": {
                c.channel: {
                    "granted": c.granted,
                    "changed_at": _iso(c.changed_at),
                    "source": c.source,
                }
                for c in consents
            },
            "consent_history": [
                {
                    "channel": change.channel,
                    "granted": change.granted,
                    "source": change.source,
                    "changed_at": _iso(change.changed_at),
                }
                for change in consent_history(customer=customer)
            ],
            "pending_contact_changes": [
                {"field": v.field, "value": v.value, "requested_at": _iso(v.created_at)}
                for v in pending
            ],
            "merged_profiles": [
                {
                    "id": merge.duplicate_id,
                    "merged_at": _iso(merge.merged_at),
                    "held_when_merged": merge.duplicate_snapshot,
                }
                for merge in merges
            ],
            "erasure": None
            if erasure is None
            else {"erased_at": _iso(erasure.erased_at), "via": erasure.via},
        }
    )
    return data


# --- timeline -------------------------------------------------------------------------


def _entry(at, kind, title, reference, *, channel=None, details=None) -> dict[str, Any]:
    return {
        "at": at,
        "kind": kind,
        "channel": channel if channel in SALES_CHANNELS else None,
        "title": title,
        "reference": reference,
        "details": details or {},
    }


def _own_timeline(customer: Customer, *, limit: int, before: datetime | None) -> list[dict]:
    """The profile's own events: created, registered, consent decisions, merges."""
    group = customer_merge_group_ids(customer_id=customer.pk)
    entries = []

    # Merges first: on equal timestamps (a merge and the consents it moved) the stable
    # sort then shows the merge above what it caused.
    merges = CustomerMerge.objects.filter(survivor_id=customer.pk)
    if before is not None:
        merges = merges.filter(merged_at__lt=before)
    for merge in merges.order_by("-merged_at")[:limit]:
        entries.append(
            _entry(
                merge.merged_at,
                "customer_merged",
                _("Duplicate profile #%(id)s merged into this one") % {"id": merge.duplicate_id},
                f"merge:{merge.pk}",
                details={"duplicate": merge.duplicate_id, "moved": merge.moved},
            )
        )

    # The erasure comes with its profile (an erasure is always later than the profile).
    profiles = Customer.objects.filter(pk__in=group).select_related("erasure")
    if before is not None:
        profiles = profiles.filter(created_at__lt=before)
    for profile in profiles.order_by("-created_at")[:limit]:
        erasure = getattr(profile, "erasure", None)
        if erasure is not None and (before is None or erasure.erased_at < before):
            entries.append(
                _entry(
                    erasure.erased_at,
                    "customer_erased",
                    _("Personal data erased on the customer's request"),
                    f"erasure:{erasure.pk}",
                    details={"via": erasure.via},
                )
            )
        # A profile made by registering shows only as "registered".
        if profile.registered_at != profile.created_at:
            entries.append(
                _entry(
                    profile.created_at,
                    "customer_created",
                    _("Customer profile created"),
                    f"customer:{profile.pk}",
                    channel=profile.signup_channel,
                    details={"customer": profile.pk, "source": profile.signup_channel},
                )
            )
    registrations = Customer.objects.filter(pk__in=group, registered_at__isnull=False)
    if before is not None:
        registrations = registrations.filter(registered_at__lt=before)
    for profile in registrations.order_by("-registered_at")[:limit]:
        entries.append(
            _entry(
                profile.registered_at,
                "customer_registered",
                _("Registered an account"),
                f"customer:{profile.pk}",
                channel=profile.registered_via,
                details={"customer": profile.pk},
            )
        )

    changes = ConsentChange.objects.filter(customer_id__in=group)
    if before is not None:
        changes = changes.filter(changed_at__lt=before)
    for change in changes.order_by("-changed_at", "-id")[:limit]:
        label = ConsentChannel(change.channel).label
        title = (
            _("Consent to %(channel)s marketing given")
            if change.granted
            else _("Consent to %(channel)s marketing withdrawn")
        )
        entries.append(
            _entry(
                change.changed_at,
                "consent_given" if change.granted else "consent_withdrawn",
                title % {"channel": label},
                f"consent:{change.pk}",
                channel=change.source,
                details={
                    "consent_channel": change.channel,
                    "source": change.source,
                    "customer": change.customer_id,
                },
            )
        )

    return entries


def customer_timeline(
    *, customer: Customer, limit: int, before: datetime | None = None
) -> list[dict[str, Any]]:
    """Up to `limit` timeline entries older than `before`, newest first, from every source.

    Each source in settings.CUSTOMER_TIMELINE_SOURCES and the profile's own events give at
    most `limit` entries each, so the cost is one bounded query per source.
    """
    entries, _next = customer_timeline_page(customer=customer, limit=limit, before=before)
    return entries


def customer_timeline_page(
    *, customer: Customer, limit: int, before: datetime | None = None
) -> tuple[list[dict[str, Any]], datetime | None]:
    """One page of the timeline and the `before` cursor of the next page (None at the end)."""
    fetch = limit + 1
    entries = _own_timeline(customer, limit=fetch, before=before)
    for _path, source in timeline_sources():
        entries.extend(source(customer.pk, limit=fetch, before=before))
    return timeline_page(entries, limit=limit)


def login_sessions(*, user) -> QuerySet[LoginSession]:
    """The login's unexpired token sessions (devices), newest first, with their tokens."""
    now = timezone.now()
    return (
        LoginSession.objects.select_related("token")
        .filter(token__user=user)
        .filter(Q(token__expiry__isnull=True) | Q(token__expiry__gt=now))
        .order_by("-created_at", "-pk")
    )


def pending_contact_changes(*, customer: Customer) -> list[ContactVerification]:
    """New emails or phones of this profile waiting for their code, oldest first."""
    return list(
        ContactVerification.objects.filter(
            customer=customer,
            purpose=ContactVerification.Purpose.CONTACT_CHANGE,
            completed_at__isnull=True,
            expires_at__gt=timezone.now(),
            attempts__lt=settings.CUSTOMER_CODE_MAX_ATTEMPTS,
        ).order_by("created_at")
    )


def customers_identify(
    *, phones: Iterable[str] = (), cards: Iterable[str] = (), ids: Iterable[int] = ()
) -> dict[tuple[str, str | int], Customer]:
    """Profiles for many till identifiers at once (normalized phones, card numbers, ids):
    {("phone", value) | ("card", value) | ("id", value): the surviving profile}, one query
    (plus one for the survivors of merged profiles)."""
    phones, cards, ids = set(phones), set(cards), set(ids)
    if not (phones or cards or ids):
        return {}
    found = Customer.objects.filter(Q(phone__in=phones) | Q(card_number__in=cards) | Q(pk__in=ids))
    result: dict[tuple[str, str | int], Customer] = {}
    for customer in found:
        survivor = customer_resolve(customer) if customer.merged_into_id else customer
        if customer.phone in phones:
            result[("phone", customer.phone)] = survivor
        if customer.card_number in cards:
            result[("card", customer.card_number)] = survivor
        if customer.pk in ids:
            result[("id", customer.pk)] = survivor
    return result
