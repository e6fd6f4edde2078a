"""Loyalty writes: earn, redeem, reverse, adjust, expire, publish rules, merge accounts.

Locking discipline: every change to an account's points locks the `LoyaltyAccount` row
with `select_for_update()` first and only then reads its lots, so two writers on the same
account run one after the other and each sees the other's committed result. Accounts are
locked in primary-key order when more than one is touched. The ledger entry, its lot
allocations and the stored balance are written in the same transaction.

Debits (redeem, negative adjustment, taking back an earn) first expire the account's
lots that are already past their expiry, so points that have expired can never be spent
even when the beat task has not run yet.

Orders and the POS call these services by reference ("order:W-1001", "pos-sale:<uuid>"):
`points_earn` when a sale completes (`points_earn_many` for a synced batch of till sales),
`points_redeem` inside the checkout transaction, `points_reverse` on cancellation, expiry
or return. Tills set points aside with holds (`hold_create`, confirmed by the customer's
code above a limit); every redemption takes only the balance minus open holds, and a
synced till sale converts its hold (`points_redeem_at_till`). Lock order: accounts, then
holds; hold confirmation, release and expiry lock only the hold.
"""

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from catalog.selectors import category_ancestor_map
from core.background import enqueue_on_commit
from core.errors import DomainError, ValidationFailed
from core.messaging import Message, channels
from core.money import quantize
from customers.models import Customer
from customers.services import one_time_code_hmac, one_time_code_matches, one_time_code_new
from loyalty import domain, selectors
from loyalty.errors import (
    AdjustmentLimitExceeded,
    AdjustmentNotAllowed,
    AmbiguousReversal,
    HoldCodeExpired,
    HoldCodeInvalid,
    HoldConfirmationUnreachable,
    HoldLocked,
    HoldNotFound,
    HoldNotOpen,
    InsufficientPoints,
    InvalidEarnLines,
    InvalidPoints,
    InvalidReasonCode,
    InvalidRules,
    LoyaltyNotConfigured,
    ReasonRequired,
    RedemptionConflict,
    RedemptionLimitExceeded,
)
from loyalty.models import (
    OPEN_HOLD_STATUSES,
    SALES_CHANNELS,
    AdjustReason,
    Channel,
    EntryKind,
    HoldStatus,
    LoyaltyAccount,
    LoyaltyAllocation,
    LoyaltyEntry,
    LoyaltyHold,
    LoyaltyRules,
    Tier,
)
from reports import services as report_services

# --- helpers ---------------------------------------------------------------------------


def _clean_reference(reference: str) -> str:
    reference = (reference or "").strip()
    if not reference or len(reference) > 100:
        raise ValidationFailed(
            _("A reference of 1 to 100 characters is required."),
            code="invalid_reference",
            details={"reference": reference},
        )
    return reference


def _clean_channel(channel: str) -> str:
    if channel not in SALES_CHANNELS:
        raise ValidationFailed(
            _("Unknown sales channel."),
            code="invalid_channel",
            details={"channel": channel, "allowed": sorted(SALES_CHANNELS)},
        )
    return channel


def _clean_points(points: Any) -> int:
    if isinstance(points, bool) or not isinstance(points, int) or points == 0:
        raise InvalidPoints(details={"points": str(points)})
    return points


def _lock(account_id: int) -> LoyaltyAccount:
    return LoyaltyAccount.objects.select_for_update().get(pk=account_id)


def _locked_account(customer: Customer) -> LoyaltyAccount:
    account = account_get_or_create(customer=customer)
    locked = LoyaltyAccount.objects.select_for_update().filter(pk=account.pk).first()
    if locked is None:
        # A merge moved this profile's ledger to its survivor while we waited for the
        # lock: re-read the profile and use the survivor's account.
        customer.refresh_from_db(fields=["merged_into"])
        locked = _lock(account_get_or_create(customer=customer).pk)
    return locked


def _set_balance(account: LoyaltyAccount, delta: int) -> None:
    if delta:
        account.balance += delta
        account.save(update_fields=["balance", "updated_at"])


def _apply_allocations(entry: LoyaltyEntry, changes: Sequence[tuple[LoyaltyEntry, int]]) -> None:
    """Change each lot's `remaining` by the signed amount and record the allocation rows."""
    for lot, delta in changes:
        lot.remaining += delta
    LoyaltyEntry.objects.bulk_update([lot for lot, _d in changes], ["remaining"])
    LoyaltyAllocation.objects.bulk_create(
        [LoyaltyAllocation(entry=entry, lot=lot, points=delta) for lot, delta in changes]
    )


def _consume(
    account: LoyaltyAccount,
    entry: LoyaltyEntry,
    points: int,
    *,
    first: LoyaltyEntry | None = None,
    spare: str = "",
) -> None:
    """Take `points` from the account's lots in FIFO order (`first` lot before all others,
    lots earned by the reference `spare` after all others)."""
    if points <= 0:
        return
    lots = list(selectors.open_lots(account_id=account.pk))
    if first is not None:
        lots.sort(key=lambda lot: lot.pk != first.pk)  # stable: the rest stays FIFO
    if spare:
        lots.sort(key=lambda lot: lot.kind == EntryKind.EARN and lot.reference == spare)
    by_id = {lot.pk: lot for lot in lots}
    taken = domain.allocate_fifo([(lot.pk, lot.remaining) for lot in lots], points)
    _apply_allocations(entry, [(by_id[lot_id], -take) for lot_id, take in taken])


def _expire_due(account: LoyaltyAccount, at: datetime) -> LoyaltyEntry | None:
    """Expire every lot of the (locked) account whose expiry is not after `at`."""
    due = list(
        LoyaltyEntry.objects.filter(account=account, remaining__gt=0, expires_at__lte=at).order_by(
            "expires_at", "id"
        )
    )
    if not due:
        return None
    points = sum(lot.remaining for lot in due)
    entry = LoyaltyEntry.objects.create(
        account=account,
        kind=EntryKind.EXPIRE,
        points=-points,
        reference=f"expiry:{at:%Y-%m-%d}",
        channel=Channel.SYSTEM,
        occurred_at=at,
        details={"lots": [lot.pk for lot in due]},
    )
    report_services.points_expired(entry, [(lot, lot.remaining) for lot in due])
    _apply_allocations(entry, [(lot, -lot.remaining) for lot in due])
    _set_balance(account, -points)
    return entry


def _lifetime_end(rules: LoyaltyRules | None, start: datetime) -> datetime | None:
    if rules is None or rules.points_lifetime_days is None:
        return None
    return start + timedelta(days=rules.points_lifetime_days)


def _actor(actor: Any) -> Any:
    return actor if getattr(actor, "is_authenticated", False) else None


# --- accounts --------------------------------------------------------------------------


@transaction.atomic
def account_get_or_create(*, customer: Customer) -> LoyaltyAccount:
    """The customer's account, created on first need (a merged profile uses its survivor's).

    Locks nothing; a concurrent first creation is resolved by the unique customer column.
    """
    customer = selectors.customer_survivor(customer=customer)
    account, _created = LoyaltyAccount.objects.get_or_create(customer=customer)
    return account


# --- earning ---------------------------------------------------------------------------


@transaction.atomic
def points_earn(
    *,
    customer: Customer,
    reference: str,
    channel: str,
    lines: Sequence[Mapping[str, Any]],
    at: datetime | None = None,
    location_id: int | None = None,
) -> LoyaltyEntry | None:
    """Credit the points of a completed sale, once per `reference` (at `location_id`, the
    sale's store or shipping location, kept on the entry for the reports).

    `lines` are {"variant_id", "category_id", "amount_paid"} with the amount actually paid
    after discounts and without the part paid with points. The rules in force at `at`
    (the sale's time; default now) decide the rate, exclusions, lifetime and tiers; the
    tier comes from the spend of the 12 months before `at`. A second call with the same
    reference returns the first entry. Returns None when nothing was paid or no rules are
    in force. Locks the account row. Raises InvalidEarnLines, ValidationFailed.
    """
    reference = _clean_reference(reference)
    channel = _clean_channel(channel)
    at = at or timezone.now()
    parsed = selectors.earn_lines(lines)
    account = _locked_account(customer)
    existing = LoyaltyEntry.objects.filter(kind=EntryKind.EARN, reference=reference).first()
    if existing is not None:
        return existing
    rules = selectors.rules_in_force(at=at)
    if rules is None:
        return None
    quote = selectors.earn_quote(rules=rules, account_id=account.pk, lines=parsed, at=at)
    if quote.points == 0 and quote.amount_paid == 0:
        return None
    entry = LoyaltyEntry.objects.create(
        account=account,
        kind=EntryKind.EARN,
        points=quote.points,
        remaining=quote.points,
        reference=reference,
        channel=channel,
        amount_paid=quote.amount_paid,
        expires_at=_lifetime_end(rules, at),
        rules=rules,
        occurred_at=at,
        location_id=location_id,
        details=quote.details(),
    )
    report_services.points_recorded([entry])
    _set_balance(account, quote.points)
    return entry


def _lock_accounts(customers: Iterable[Customer]) -> dict[int, LoyaltyAccount]:
    """Each customer's account (created when missing), all locked in primary-key order.

    Keyed by the given customer's pk (a merged profile maps to its survivor's account).
    Statements: one to find the accounts, one to create the missing ones, one to lock.
    """
    survivors = {c.pk: selectors.customer_survivor(customer=c) for c in customers}
    wanted = {s.pk for s in survivors.values()}
    if not wanted:
        return {}
    existing = set(
        LoyaltyAccount.objects.filter(customer_id__in=wanted).values_list("customer_id", flat=True)
    )
    if wanted - existing:
        # A concurrent first creation is settled by the unique customer column.
        LoyaltyAccount.objects.bulk_create(
            [LoyaltyAccount(customer_id=pk) for pk in sorted(wanted - existing)],
            ignore_conflicts=True,
        )
    locked = {
        account.customer_id: account
        for account in LoyaltyAccount.objects.select_for_update()
        .filter(customer_id__in=wanted)
        .order_by("pk")
    }
    accounts = {}
    for pk, survivor in survivors.items():
        account = locked.get(survivor.pk)
        if account is None:
            # A merge moved this profile's ledger while we waited for the lock.
            account = _locked_account(survivor)
            locked[survivor.pk] = account
        accounts[pk] = account
    return accounts


def _rules_for_times(times: Iterable[datetime]) -> list[LoyaltyRules]:
    """The rules versions that can be in force at any of `times`, newest first, with
    their tiers and exclusions read once (two queries for the exclusions)."""
    latest = max(times)
    versions = list(
        LoyaltyRules.objects.filter(effective_from__lte=latest)
        .prefetch_related("tiers")
        .order_by("-effective_from", "-id")
    )
    ids = [rules.pk for rules in versions]
    variants: dict[int, set[int]] = defaultdict(set)
    categories: dict[int, set[int]] = defaultdict(set)
    if ids:
        through = LoyaltyRules.excluded_variants.through
        for rules_id, variant_id in through.objects.filter(loyaltyrules_id__in=ids).values_list(
            "loyaltyrules_id", "variant_id"
        ):
            variants[rules_id].add(variant_id)
        through = LoyaltyRules.excluded_categories.through
        for rules_id, category_id in through.objects.filter(loyaltyrules_id__in=ids).values_list(
            "loyaltyrules_id", "category_id"
        ):
            categories[rules_id].add(category_id)
    for rules in versions:
        rules.excluded_variant_ids = variants[rules.pk]
        rules.excluded_category_ids = categories[rules.pk]
    return versions


def _in_force(versions: Sequence[LoyaltyRules], at: datetime) -> LoyaltyRules | None:
    # `versions` is newest first, like `selectors.rules_in_force`.
    return next((rules for rules in versions if rules.effective_from <= at), None)


def _spend_rows(
    account_ids: set[int], *, since: datetime, until: datetime
) -> dict[int, list[tuple[datetime, Decimal]]]:
    """Tier-spend rows of the accounts between `since` and `until`: earns at their time,
    refunds of earns at the time of the sale they refund (see `selectors.rolling_spend`)."""
    rows: dict[int, list[tuple[datetime, Decimal]]] = defaultdict(list)
    found = (
        LoyaltyEntry.objects.filter(
            Q(kind=EntryKind.EARN, occurred_at__gte=since, occurred_at__lt=until)
            | Q(
                kind=EntryKind.REVERSE,
                reverses__kind=EntryKind.EARN,
                reverses__occurred_at__gte=since,
                reverses__occurred_at__lt=until,
            ),
            account_id__in=account_ids,
        )
        .annotate(sale_at=Coalesce("reverses__occurred_at", "occurred_at"))
        .values_list("account_id", "sale_at", "amount_paid")
    )
    for account_id, sale_at, amount in found:
        rows[account_id].append((sale_at, amount or Decimal(0)))
    return rows


@transaction.atomic
def points_earn_many(*, items: Sequence[Mapping[str, Any]]) -> list[LoyaltyEntry | None]:
    """`points_earn` for many sales at once: one answer per item, in the items' order.

    Each item is {"customer", "reference", "channel", "lines", "at"} as `points_earn`
    takes them (plus an optional "place", e.g. the store's name, kept for the ledger), with
    the same meaning: once per reference (an earlier earn, or an earlier
    item of this batch, is returned instead), the rules in force at each sale's time,
    its tier from the 12 months before it (earlier items of the batch count), exclusions;
    None when nothing was paid or no rules are in force. Locks every account involved
    once, in primary-key order, then writes the entries and the balances in bulk: the
    statements do not grow with the number of items. Raises InvalidEarnLines (details
    per item index), ValidationFailed.
    """
    if not items:
        return []
    prepared = []
    flat: list[Mapping[str, Any]] = []
    for item in items:
        reference = _clean_reference(item["reference"])
        channel = _clean_channel(item["channel"])
        lines = list(item["lines"])
        prepared.append((item, reference, channel, item.get("at") or timezone.now(), len(lines)))
        flat.extend(lines)
    try:
        parsed_flat = selectors.earn_lines(flat)
    except InvalidEarnLines as exc:
        raise InvalidEarnLines(details={"items": _problems_by_item(exc, prepared)}) from exc
    accounts = _lock_accounts(item["customer"] for item, *_rest in prepared)
    earlier = {
        entry.reference: entry
        for entry in LoyaltyEntry.objects.filter(
            kind=EntryKind.EARN, reference__in={reference for _i, reference, *_r in prepared}
        )
    }
    times = [at for _i, _r, _c, at, _n in prepared]
    versions = _rules_for_times(times)
    needs_spend = any(rules.tiers.all() for rules in versions)
    spend = (
        _spend_rows(
            {a.pk for a in accounts.values()},
            since=min(times) - domain.ROLLING_WINDOW,
            until=max(times),
        )
        if needs_spend
        else defaultdict(list)
    )
    excluded_categories = set().union(*(r.excluded_category_ids for r in versions))
    ancestors = category_ancestor_map() if excluded_categories else {}
    answers: list[LoyaltyEntry | None] = []
    new_entries: list[LoyaltyEntry] = []
    credit: dict[int, int] = defaultdict(int)
    offset = 0
    for item, reference, channel, at, count in prepared:
        lines, offset = parsed_flat[offset : offset + count], offset + count
        account = accounts[item["customer"].pk]
        if reference in earlier:
            answers.append(earlier[reference])
            continue
        rules = _in_force(versions, at)
        if rules is None:
            answers.append(None)
            continue
        tier = domain.tier_for_spend(
            selectors.tier_rules(rules), domain.spend_in_window(spend[account.pk], at=at)
        )
        exclusions = {
            "excluded_variant_ids": rules.excluded_variant_ids,
            "excluded_category_ids": rules.excluded_category_ids,
            "category_ancestors": ancestors,
        }
        eligible = domain.eligible_amount(lines, **exclusions)
        points = domain.earned_points(
            eligible=eligible,
            earn_rate=rules.earn_rate,
            multiplier=tier.multiplier if tier else Decimal(1),
        )
        quote = selectors.EarnQuote(
            rules=rules,
            points=points,
            amount_paid=quantize(sum((line.amount_paid for line in lines), Decimal(0))),
            eligible_amount=eligible,
            spend_before=domain.spend_in_window(spend[account.pk], at=at),
            tier=tier,
            lines=tuple(domain.earn_breakdown(lines, points=points, **exclusions)),
        )
        if quote.points == 0 and quote.amount_paid == 0:
            answers.append(None)
            continue
        entry = LoyaltyEntry(
            account=account,
            kind=EntryKind.EARN,
            points=quote.points,
            remaining=quote.points,
            reference=reference,
            channel=channel,
            amount_paid=quote.amount_paid,
            expires_at=_lifetime_end(rules, at),
            rules=rules,
            occurred_at=at,
            location_id=item.get("location_id"),
            details=quote.details() | ({"place": item["place"]} if item.get("place") else {}),
        )
        new_entries.append(entry)
        earlier[reference] = entry
        answers.append(entry)
        credit[account.pk] += quote.points
        spend[account.pk].append((at, quote.amount_paid))
    LoyaltyEntry.objects.bulk_create(new_entries)
    report_services.points_recorded(new_entries)
    touched = []
    now = timezone.now()
    for account in {a.pk: a for a in accounts.values()}.values():
        if credit[account.pk]:
            account.balance += credit[account.pk]
            account.updated_at = now
            touched.append(account)
    LoyaltyAccount.objects.bulk_update(touched, ["balance", "updated_at"])
    return answers


def _problems_by_item(exc: InvalidEarnLines, prepared: Sequence[tuple]) -> dict[str, dict]:
    """Map the line indexes of a flattened validation back to (item, line)."""
    problems: dict[str, dict] = defaultdict(dict)
    bounds, start = [], 0
    for index, (*_rest, count) in enumerate(prepared):
        bounds.append((index, start, start + count))
        start += count
    for flat_index, problem in exc.details.get("lines", {}).items():
        position = int(flat_index)
        for index, low, high in bounds:
            if low <= position < high:
                problems[str(index)][str(position - low)] = problem
    return dict(problems)


# --- redeeming -------------------------------------------------------------------------


def _spendable_check(
    account: LoyaltyAccount, *, points: int, order_total: Decimal, now: datetime
) -> LoyaltyRules:
    """The rules in force, once `points` may be spent on an order of `order_total` now.

    One definition for every redemption (checkout, a till's hold): never more than the
    rules' share of the order, never more than the balance after overdue lots expire less
    the points held at tills for sales in progress. The caller holds the account's lock.
    Raises LoyaltyNotConfigured, RedemptionLimitExceeded, InsufficientPoints.
    """
    rules = selectors.rules_in_force(at=now)
    if rules is None:
        raise LoyaltyNotConfigured()
    limit = domain.redeemable_limit(
        order_total=order_total,
        max_redeem_percent=rules.max_redeem_percent,
        redemption_value=rules.redemption_value,
    )
    if points > limit:
        raise RedemptionLimitExceeded(
            details={"max_points": limit, "requested": points, "order_total": str(order_total)}
        )
    _expire_due(account, now)
    held = selectors.held_points(account_id=account.pk, at=now)
    if points > account.balance - held:
        details = {"available": max(account.balance - held, 0), "requested": points}
        raise InsufficientPoints(details=details | ({"held": held} if held else {}))
    return rules


@transaction.atomic
def points_redeem(
    *,
    customer: Customer,
    points: int,
    reference: str,
    order_total: Decimal,
    channel: str = Channel.WEB,
    location_id: int | None = None,
) -> LoyaltyEntry:
    """Spend `points` on the order `reference` (call it inside the checkout transaction).

    Idempotent per reference: a retry with the same points returns the first entry.
    Locks the account row, expires overdue lots, then takes the points FIFO. Raises
    InvalidPoints, LoyaltyNotConfigured, RedemptionConflict (same reference, other
    points), RedemptionLimitExceeded (more than the rules' share of `order_total`),
    InsufficientPoints (more than the balance minus the points of open till holds: the
    balance never goes negative and held points are never spent twice).
    """
    points = _clean_points(points)
    if points < 0:
        raise InvalidPoints(details={"points": points})
    reference = _clean_reference(reference)
    channel = _clean_channel(channel)
    order_total = quantize(order_total)
    account = _locked_account(customer)
    existing = LoyaltyEntry.objects.filter(kind=EntryKind.REDEEM, reference=reference).first()
    if existing is not None:
        if existing.account_id != account.pk or -existing.points != points:
            raise RedemptionConflict(details={"reference": reference, "points": -existing.points})
        return existing
    now = timezone.now()
    rules = _spendable_check(account, points=points, order_total=order_total, now=now)
    value = domain.redeem_value(points, redemption_value=rules.redemption_value)
    entry = LoyaltyEntry.objects.create(
        account=account,
        kind=EntryKind.REDEEM,
        points=-points,
        reference=reference,
        channel=channel,
        rules=rules,
        occurred_at=now,
        location_id=location_id,
        details={"value": str(value), "order_total": str(order_total)},
    )
    report_services.points_recorded([entry])
    _consume(account, entry, points)
    _set_balance(account, -points)
    return entry


# --- holds at the till ------------------------------------------------------------------

HOLD_CODE_SCOPE = "loyalty.LoyaltyHold"


def _hold_message_for(customer: Customer, *, subject: str = "", body: str = "") -> Message:
    return Message(
        subject=subject, body=body, email=customer.email or "", phone=customer.phone or ""
    )


def _code_channels(message: Message) -> list:
    return [ch for ch in channels(settings.CUSTOMER_CODE_CHANNELS) if ch.recipient(message)]


@transaction.atomic
def hold_create(
    *,
    customer: Customer,
    points: int,
    order_total: Decimal,
    terminal_code: str,
    reference: str = "",
) -> LoyaltyHold:
    """Set `points` aside for a sale in progress at a till, for LOYALTY_HOLD_MINUTES.

    Never more than the rules' share of `order_total` and never more than the points
    available now (the balance after overdue lots expire, minus the account's other open
    holds). Above LOYALTY_HOLD_CONFIRM_POINTS the hold needs the customer's one-time code:
    it is made and sent after commit (`tasks.hold_send_code`), and the hold cannot be
    converted until confirmed. Locks the account row. Raises InvalidPoints,
    LoyaltyNotConfigured, RedemptionLimitExceeded, InsufficientPoints,
    HoldConfirmationUnreachable.
    """
    points = _clean_points(points)
    if points < 0:
        raise InvalidPoints(details={"points": points})
    order_total = quantize(order_total)
    account = _locked_account(customer)
    now = timezone.now()
    _spendable_check(account, points=points, order_total=order_total, now=now)
    confirm = points > settings.LOYALTY_HOLD_CONFIRM_POINTS
    if confirm and not _code_channels(_hold_message_for(account.customer)):
        raise HoldConfirmationUnreachable(
            details={"max_unconfirmed_points": settings.LOYALTY_HOLD_CONFIRM_POINTS}
        )
    hold = LoyaltyHold.objects.create(
        account=account,
        points=points,
        order_total=order_total,
        terminal_code=terminal_code,
        reference=(reference or "").strip()[:100],
        expires_at=now + timedelta(minutes=settings.LOYALTY_HOLD_MINUTES),
        confirmation_required=confirm,
        created_at=now,
    )
    if confirm:
        from loyalty import tasks  # tasks call services: imported late to avoid a cycle

        enqueue_on_commit(tasks.hold_send_code, str(hold.pk))
    return hold


@transaction.atomic
def hold_code_deliver(*, hold_id: str) -> bool:
    """Make and send the confirmation code of a hold; safe to run twice (worker side).

    Locks the hold; does nothing (False) when it is closed, confirmed, due, needs no
    code or already has one. Only the HMAC of the code is stored; it is valid for
    CUSTOMER_CODE_TTL_MINUTES, never beyond the hold. A channel's error rolls the code
    back and is raised for the task to retry.
    """
    # Only the hold's row: the account and customer joined in are read, not locked (the
    # code is sent while this lock is held, and redemptions wait on the account).
    hold = (
        LoyaltyHold.objects.select_for_update(of=("self",))
        .select_related("account__customer")
        .filter(pk=hold_id)
        .first()
    )
    now = timezone.now()
    if (
        hold is None
        or not hold.is_open
        or not hold.confirmation_required
        or hold.confirmed_at is not None
        or hold.code_hash
        or hold.expires_at <= now
    ):
        return False
    code = one_time_code_new()
    hold.code_hash = one_time_code_hmac(HOLD_CODE_SCOPE, hold.pk, code)
    hold.code_expires_at = min(
        now + timedelta(minutes=settings.CUSTOMER_CODE_TTL_MINUTES), hold.expires_at
    )
    hold.save(update_fields=["code_hash", "code_expires_at"])
    body = _(
        "Your code is %(code)s: give it to the cashier to pay %(points)s points at the store. "
        "If you are not at a till, ignore this message."
    ) % {"code": code, "points": hold.points}
    message = _hold_message_for(
        hold.account.customer, subject=str(_("Paying with points")), body=str(body)
    )
    reached = _code_channels(message)
    for channel in reached:
        channel.send(message)
    return bool(reached)


def _hold_locked(*, hold_id: Any, terminal_code: str) -> LoyaltyHold:
    try:
        hold = (
            LoyaltyHold.objects.select_for_update()
            .filter(pk=hold_id, terminal_code=terminal_code)
            .first()
        )
    except (ValueError, DjangoValidationError):
        hold = None
    if hold is None:
        raise HoldNotFound(details={"hold": str(hold_id)})
    return hold


def hold_confirm(*, hold_id: Any, terminal_code: str, code: str) -> LoyaltyHold:
    """The customer's code confirms a hold made by this till; returns the hold.

    A hold that needs no confirmation, or is confirmed already, is returned unchanged.
    A wrong code is counted (the count is committed before the error is raised, so do not
    call this inside another transaction); after CUSTOMER_CODE_MAX_ATTEMPTS wrong codes
    the hold is released. Locks the hold. Raises HoldNotFound (another till's hold too),
    HoldNotOpen, HoldCodeExpired, HoldCodeInvalid, HoldLocked.
    """
    with transaction.atomic():
        hold, error = _hold_confirm_take(hold_id=hold_id, terminal_code=terminal_code, code=code)
    if error is not None:
        raise error
    return hold


def _hold_confirm_take(
    *, hold_id: Any, terminal_code: str, code: str
) -> tuple[LoyaltyHold, DomainError | None]:
    hold = _hold_locked(hold_id=hold_id, terminal_code=terminal_code)
    now = timezone.now()
    if not hold.is_open:
        return hold, HoldNotOpen(details={"status": hold.status})
    if not hold.confirmation_required or hold.confirmed_at is not None:
        return hold, None
    if hold.expires_at <= now or (hold.code_expires_at and hold.code_expires_at <= now):
        return hold, HoldCodeExpired()
    limit = settings.CUSTOMER_CODE_MAX_ATTEMPTS
    if not one_time_code_matches(HOLD_CODE_SCOPE, hold.pk, code, hold.code_hash):
        hold.attempts += 1
        fields = ["attempts"]
        if hold.attempts >= limit:
            # Someone is guessing: give the points back; the till may start again.
            hold.status, hold.closed_at = HoldStatus.RELEASED, now
            fields += ["status", "closed_at"]
        hold.save(update_fields=fields)
        if hold.attempts >= limit:
            return hold, HoldLocked()
        return hold, HoldCodeInvalid(details={"attempts_left": limit - hold.attempts})
    hold.status, hold.confirmed_at, hold.code_hash = HoldStatus.CONFIRMED, now, ""
    hold.save(update_fields=["status", "confirmed_at", "code_hash"])
    return hold, None


@transaction.atomic
def hold_release(*, hold_id: Any, terminal_code: str) -> LoyaltyHold:
    """Give a hold's points back (the sale was abandoned); returns the hold.

    Releasing a released or expired hold changes nothing. Locks the hold. Raises
    HoldNotFound (another till's hold too), HoldNotOpen for a converted one.
    """
    hold = _hold_locked(hold_id=hold_id, terminal_code=terminal_code)
    if hold.status == HoldStatus.CONVERTED:
        raise HoldNotOpen(details={"status": hold.status})
    if hold.is_open:
        hold.status, hold.closed_at = HoldStatus.RELEASED, timezone.now()
        hold.save(update_fields=["status", "closed_at"])
    return hold


def holds_expire_due(*, at: datetime | None = None, batch: int = 500) -> int:
    """Mark open holds past their expiry as expired; returns how many.

    Their points already stopped counting at `expires_at` (see `selectors.open_holds`);
    this closes the rows. Batches of `batch` rows, each locked with SKIP LOCKED: a hold
    being converted by a sale sync right now is skipped (the sync decides it), and two
    runs at once take different rows; the UPDATE re-checks the status, so running it
    twice, or concurrently, expires each hold once.
    """
    at = at or timezone.now()
    expired = 0
    while True:
        with transaction.atomic():
            ids = list(
                LoyaltyHold.objects.select_for_update(skip_locked=True)
                .filter(status__in=OPEN_HOLD_STATUSES, expires_at__lte=at)
                .order_by("expires_at")
                .values_list("pk", flat=True)[:batch]
            )
            if not ids:
                return expired
            expired += LoyaltyHold.objects.filter(pk__in=ids, status__in=OPEN_HOLD_STATUSES).update(
                status=HoldStatus.EXPIRED, closed_at=at
            )
        if len(ids) < batch:
            return expired


# --- points tendered at the till --------------------------------------------------------


@dataclass(frozen=True)
class TillRedemption:
    """Points a till sale was paid with, as the till recorded it."""

    key: str  # the caller's name for the sale (its flags are keyed by it)
    reference: str  # the ledger reference: the order's, "order:<number>"
    customer: Customer | None
    points: int  # asked: the points tenders' total (0 with only a hold)
    hold: str  # the hold the till took for the sale, or ""
    occurred_at: datetime
    location_id: int | None = None  # the till's store


def _hold_problem(
    hold: LoyaltyHold | None, item: TillRedemption, account: LoyaltyAccount | None
) -> str:
    if hold is None:
        return "hold_not_found"
    if account is None or hold.account_id != account.pk:
        return "hold_of_another_customer"
    if not hold.is_open:
        return f"hold_{hold.status}"
    if hold.confirmation_required and hold.confirmed_at is None:
        return "hold_unconfirmed"
    return ""


@transaction.atomic
def points_redeem_at_till(*, items: Sequence[TillRedemption]) -> dict[str, dict[str, Any]]:
    """Record the points that synced till sales were paid with; flags per sale key.

    A sale that already happened is never refused. Per sale: a usable hold (open, of the
    sale's customer, confirmed when it had to be) is converted into the redemption
    (`converted`; what it held beyond the points used simply goes back); without one,
    the points are taken up to what can be spent at sync time. Either way never more
    than the balance minus the account's other open holds, so the balance never goes
    negative and held points are never spent twice (nor the points the sale itself earned:
    they did not exist when it was paid); what could not be redeemed, and any
    hold problem, is returned as {"asked", "redeemed", "problem"} for staff. A named hold
    that cannot be used but is open is released. Entries: kind redeem, the order's
    reference, channel pos, at the sale's time. Locks the accounts in primary-key order,
    then the named holds (the global order: after stock levels, before coupon counters).
    """
    items = [item for item in items if item.points > 0 or item.hold]
    if not items:
        return {}
    now = timezone.now()
    accounts = _lock_accounts(item.customer for item in items if item.customer is not None)
    hold_ids = []
    for item in items:
        try:
            hold_ids.append(uuid.UUID(item.hold))
        except ValueError:
            continue
    holds = {
        str(hold.pk): hold
        for hold in LoyaltyHold.objects.select_for_update().filter(pk__in=hold_ids).order_by("pk")
    }
    # The points were tendered before the sale earned anything: its own earn is not spendable.
    earned_here = dict(
        LoyaltyEntry.objects.filter(
            kind=EntryKind.EARN, reference__in=[item.reference for item in items]
        ).values_list("reference", "points")
    )
    flags: dict[str, dict[str, Any]] = {}
    expired_for: set[int] = set()
    for item in items:
        account = accounts.get(item.customer.pk) if item.customer is not None else None
        hold = holds.get(str(_as_uuid(item.hold))) if item.hold else None
        problem = _hold_problem(hold, item, account) if item.hold else ""
        usable = hold if item.hold and not problem else None
        if hold is not None and problem == "hold_unconfirmed":
            hold.status, hold.closed_at = HoldStatus.RELEASED, now
            hold.sale_reference = item.reference
            hold.save(update_fields=["status", "closed_at", "sale_reference"])
        redeemed = 0
        if account is None:
            problem = problem or "no_customer"
        elif item.points > 0:
            if account.pk not in expired_for:
                _expire_due(account, now)
                expired_for.add(account.pk)
            others = selectors.held_points(
                account_id=account.pk, at=now, exclude=[usable.pk] if usable else []
            )
            spendable = account.balance - others - earned_here.get(item.reference, 0)
            redeemed = max(min(item.points, spendable), 0)
        entry = _till_redeem(account, item, redeemed) if redeemed else None
        if usable is not None:
            usable.status = HoldStatus.CONVERTED if entry else HoldStatus.RELEASED
            usable.redeem_entry, usable.sale_reference, usable.closed_at = (
                entry,
                item.reference,
                now,
            )
            usable.save(update_fields=["status", "redeem_entry", "sale_reference", "closed_at"])
        if redeemed < item.points or problem:
            flags[item.key] = {"asked": item.points, "redeemed": redeemed}
            if problem:
                flags[item.key]["problem"] = problem
    return flags


def _as_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _till_redeem(account: LoyaltyAccount, item: TillRedemption, points: int) -> LoyaltyEntry:
    rules = selectors.rules_in_force(at=item.occurred_at)
    details: dict[str, Any] = {"asked": item.points}
    if rules is not None:
        details["value"] = str(domain.redeem_value(points, redemption_value=rules.redemption_value))
    if item.hold:
        details["hold"] = item.hold
    entry = LoyaltyEntry.objects.create(
        account=account,
        kind=EntryKind.REDEEM,
        points=-points,
        reference=item.reference,
        channel=Channel.POS,
        rules=rules,
        occurred_at=item.occurred_at,
        location_id=item.location_id,
        details=details,
    )
    report_services.points_recorded([entry])
    _consume(account, entry, points, spare=item.reference)
    _set_balance(account, -points)
    return entry


# --- reversing -------------------------------------------------------------------------


def _reverse_redeem(
    original: LoyaltyEntry,
    *,
    account: LoyaltyAccount,
    points: int | None,
    reason: str,
    cause: str,
    now: datetime,
) -> LoyaltyEntry | None:
    done = original.reversals.aggregate(total=Sum("reversed_points"))["total"] or 0
    reversible = -original.points - done
    take = reversible if points is None else min(points, reversible)
    if take <= 0:
        return None
    # What the redemption still holds of each lot: its takings minus what was given back.
    held: dict[int, int] = defaultdict(int)
    order: list[int] = []
    for alloc in LoyaltyAllocation.objects.filter(entry=original).order_by("id"):
        held[alloc.lot_id] -= alloc.points
        order.append(alloc.lot_id)
    for alloc in LoyaltyAllocation.objects.filter(entry__reverses=original):
        held[alloc.lot_id] -= alloc.points
    restored = domain.restore_lifo([(lot_id, held[lot_id]) for lot_id in order], take)
    lots = LoyaltyEntry.objects.in_bulk([lot_id for lot_id, _give in restored])
    entry = LoyaltyEntry.objects.create(
        account=account,
        kind=EntryKind.REVERSE,
        points=take,
        reversed_points=take,
        reverses=original,
        reference=cause or original.reference,
        channel=original.channel,
        location_id=original.location_id,
        reason=reason,
        occurred_at=now,
    )
    # Points go back into the lots they came from, keeping those lots' expiry dates: a
    # point that would have expired meanwhile expires at the next run.
    _apply_allocations(entry, [(lots[lot_id], give) for lot_id, give in restored])
    report_services.points_recorded([entry])
    _set_balance(account, take)
    return entry


def _reverse_earn(
    original: LoyaltyEntry,
    *,
    account: LoyaltyAccount,
    points: int | None,
    amount_paid: Decimal | None,
    reason: str,
    cause: str,
    now: datetime,
) -> LoyaltyEntry | None:
    reversals = original.reversals.aggregate(
        points=Sum("reversed_points"), amount=Sum("amount_paid")
    )
    reversible = original.points - (reversals["points"] or 0)
    refundable = quantize((original.amount_paid or 0) + (reversals["amount"] or 0))
    take = reversible if points is None else min(points, reversible)
    if amount_paid is not None:
        refund = min(quantize(amount_paid), refundable)
    elif points is None or take == reversible:
        refund = refundable
    else:
        refund = min(domain.prorate(original.amount_paid or 0, take, original.points), refundable)
    if take <= 0 and refund <= 0:
        return None
    _expire_due(account, now)
    # Points of this earn that expired gave the customer nothing: they are not taken
    # again from other points (each expired point excuses one reversed point, once).
    expired = -(
        LoyaltyAllocation.objects.filter(lot=original, entry__kind=EntryKind.EXPIRE).aggregate(
            total=Sum("points")
        )["total"]
        or 0
    )
    excused_before = sum(r.details.get("expired", 0) for r in original.reversals.all())
    excused = min(take, max(expired - excused_before, 0))
    # Points already spent cannot be taken back without a negative balance, which the
    # ledger never allows: take what is there and record the shortfall for staff.
    taken = min(take - excused, account.balance)
    details = {"expired": excused} if excused else {}
    if taken < take - excused:
        details["shortfall"] = take - excused - taken
    entry = LoyaltyEntry.objects.create(
        account=account,
        kind=EntryKind.REVERSE,
        points=-taken,
        reversed_points=take,
        amount_paid=-refund,
        reverses=original,
        reference=cause or original.reference,
        channel=original.channel,
        location_id=original.location_id,
        reason=reason,
        occurred_at=now,
        details=details,
    )
    _consume(account, entry, taken, first=original)
    report_services.points_recorded([entry])
    _set_balance(account, -taken)
    return entry


@transaction.atomic
def points_reverse(
    *,
    reference: str,
    kind: str | None = None,
    points: int | None = None,
    reason: str = "",
    cause: str = "",
    amount_paid: Decimal | None = None,
) -> list[LoyaltyEntry]:
    """Give back a redemption and/or take back an earn of the sale `reference`.

    `kind` "earn" or "redeem" picks one; None reverses both (an order's cancellation).
    `points` makes it partial (a return of some units); without it, whatever is left of
    the original is reversed, so a second full reversal changes nothing. Never reverses
    more than the original. `cause` names what caused the reversal (e.g. "return:R-17"):
    a retry with the same cause returns the earlier reversal instead of reversing again.
    `amount_paid` is the money refunded, to lower tier spend (default: pro rata to points).
    Taking back an earn never drives the balance negative: points already spent are
    recorded as a shortfall in the entry's details, and points of that earn that already
    expired are not taken again from other points (details "expired"). Redeemed points
    go back into the lots they came from. Returns the reversal entries (empty when
    nothing is left to reverse or the reference has no entries). Locks the accounts
    involved. Raises AmbiguousReversal, InvalidPoints, ValidationFailed.
    """
    reference = _clean_reference(reference)
    kinds = [EntryKind.EARN, EntryKind.REDEEM] if kind is None else [kind]
    if any(k not in (EntryKind.EARN, EntryKind.REDEEM) for k in kinds):
        raise ValidationFailed(
            _("Only an earn or a redemption can be reversed."),
            code="invalid_reversal_kind",
            details={"kind": kind},
        )
    # 0 points is a reversal of money only (goods that earned nothing were refunded: the
    # tier spend still falls), so it needs the refunded amount.
    money_only = points == 0 and amount_paid is not None and not isinstance(points, bool)
    if points is not None and not money_only and _clean_points(points) < 0:
        raise InvalidPoints(details={"points": points})
    if amount_paid is not None and quantize(amount_paid) < 0:
        raise ValidationFailed(
            _("A refunded amount cannot be negative."),
            code="invalid_amount",
            details={"amount_paid": str(amount_paid)},
        )
    originals = list(
        LoyaltyEntry.objects.filter(reference=reference, kind__in=kinds).order_by("id")
    )
    if points is not None and len(originals) > 1:
        raise AmbiguousReversal(details={"reference": reference})
    locked = {
        account_id: _lock(account_id) for account_id in sorted({o.account_id for o in originals})
    }
    now = timezone.now()
    cause = (cause or "").strip()
    results: list[LoyaltyEntry] = []
    for original in originals:
        original.refresh_from_db()  # its account may have moved in a merge meanwhile
        if original.account_id not in locked:
            locked[original.account_id] = _lock(original.account_id)
        account = locked[original.account_id]
        if cause:
            earlier = original.reversals.filter(reference=cause).first()
            if earlier is not None:
                results.append(earlier)
                continue
        if original.kind == EntryKind.REDEEM:
            entry = _reverse_redeem(
                original, account=account, points=points, reason=reason, cause=cause, now=now
            )
        else:
            entry = _reverse_earn(
                original,
                account=account,
                points=points,
                amount_paid=amount_paid,
                reason=reason,
                cause=cause,
                now=now,
            )
        if entry is not None:
            results.append(entry)
    return results


# --- staff adjustments -----------------------------------------------------------------


ADJUST_PERMISSION = "loyalty.adjust_points"
ADJUST_UNLIMITED_PERMISSION = "loyalty.adjust_points_unlimited"


def adjust_limit_for(user: Any) -> int | None:
    """Most points `user` may adjust at once (None: no limit), from the resolver that the
    `LOYALTY_ADJUST_LIMIT_RESOLVER` setting names (the staff roles); 0 without one."""
    if user.is_superuser or user.has_perm(ADJUST_UNLIMITED_PERMISSION):
        return None
    path = getattr(settings, "LOYALTY_ADJUST_LIMIT_RESOLVER", "")
    return import_string(path)(user) if path else 0


def _check_adjust_allowed(actor: Any, points: int) -> None:
    if actor is None:
        return  # the system itself (demo data, data fixes run by engineers)
    if not (actor.is_active and (actor.is_superuser or actor.has_perm(ADJUST_PERMISSION))):
        raise AdjustmentNotAllowed()
    limit = adjust_limit_for(actor)
    if limit is not None and abs(points) > limit:
        raise AdjustmentLimitExceeded(details={"points": points, "limit": limit})


@transaction.atomic
def points_adjust(
    *,
    customer: Customer,
    points: int,
    reason: str,
    actor: Any,
    reason_code: str | None = None,
) -> LoyaltyEntry:
    """Add (points > 0) or remove (points < 0) points by hand, with a reason code and text.

    A member of staff (`actor`) needs `loyalty.adjust_points` and may move at most their
    role's limit of points at once; above it only a holder of
    `loyalty.adjust_points_unlimited` (head office) or a superuser may. Staff must give a
    `reason_code` (AdjustReason); the system's own adjustments (no actor) are recorded as
    `other`. Added points are a lot with the lifetime of the rules in force now; removed
    points are taken FIFO after overdue lots expire. Locks the account row. Raises
    ReasonRequired, InvalidReasonCode, InvalidPoints (400), AdjustmentNotAllowed,
    AdjustmentLimitExceeded (403), InsufficientPoints (422).
    """
    points = _clean_points(points)
    reason = (reason or "").strip()
    if not reason:
        raise ReasonRequired()
    actor = _actor(actor)
    if reason_code is None and actor is None:
        reason_code = AdjustReason.OTHER
    if not reason_code:
        raise ReasonRequired(details={"field": "reason_code"})
    if reason_code not in AdjustReason.values:
        raise InvalidReasonCode(details={"reason_code": reason_code})
    _check_adjust_allowed(actor, points)
    account = _locked_account(customer)
    now = timezone.now()
    common = {
        "account": account,
        "kind": EntryKind.ADJUST,
        "points": points,
        "channel": Channel.ADMIN,
        "reason": reason,
        "reason_code": reason_code,
        "created_by": actor,
        "occurred_at": now,
    }
    if points > 0:
        rules = selectors.rules_in_force(at=now)
        entry = LoyaltyEntry.objects.create(
            **common, remaining=points, expires_at=_lifetime_end(rules, now), rules=rules
        )
    else:
        _expire_due(account, now)
        if -points > account.balance:
            raise InsufficientPoints(details={"balance": account.balance, "requested": -points})
        entry = LoyaltyEntry.objects.create(**common)
        _consume(account, entry, -points)
    report_services.points_recorded([entry])
    _set_balance(account, points)
    return entry


# --- expiry ----------------------------------------------------------------------------


def points_expire_due(*, at: datetime | None = None) -> int:
    """Expire every lot whose expiry is not after `at` (default now); returns points expired.

    One short transaction per account: lock the account row, re-read its due lots, expire
    them (one `expire` entry per account and run, taking each lot's remaining points).
    Two runs at once serialize on each account's lock and the later one finds nothing
    left, so running it twice, or concurrently, expires every point exactly once.
    """
    at = at or timezone.now()
    account_ids = (
        LoyaltyEntry.objects.filter(remaining__gt=0, expires_at__lte=at)
        .values_list("account_id", flat=True)
        .distinct()
        .order_by("account_id")
    )
    expired = 0
    for account_id in list(account_ids):
        with transaction.atomic():
            entry = _expire_due(_lock(account_id), at)
            if entry is not None:
                expired -= entry.points
    return expired


# --- rules -----------------------------------------------------------------------------


@transaction.atomic
def rules_publish(
    *,
    earn_rate: Decimal,
    redemption_value: Decimal,
    max_redeem_percent: Decimal,
    points_lifetime_days: int | None,
    tiers: Sequence[Mapping[str, Any]] = (),
    excluded_categories: Iterable[Any] = (),
    excluded_variants: Iterable[Any] = (),
    effective_from: datetime | None = None,
    note: str = "",
    actor: Any = None,
) -> LoyaltyRules:
    """Publish a new rules version with its tiers; earlier versions are never changed.

    It takes effect at `effective_from` (default now). A version cannot take effect in
    the past — rule changes apply to new sales only — except the very first one, which
    has no earlier sales to change. Locks nothing. Raises InvalidRules with every problem.
    """
    now = timezone.now()
    effective_from = effective_from or now
    tier_list = [
        domain.TierRule(
            str(t["name"]).strip(), quantize(t["min_spend"]), Decimal(str(t["multiplier"]))
        )
        for t in tiers
    ]
    problems = selectors.rules_problems(
        earn_rate=Decimal(str(earn_rate)),
        redemption_value=Decimal(str(redemption_value)),
        max_redeem_percent=Decimal(str(max_redeem_percent)),
        points_lifetime_days=points_lifetime_days,
        tiers=tier_list,
        effective_from=effective_from,
        now=now,
    )
    if problems:
        raise InvalidRules(details={"fields": problems})
    rules = LoyaltyRules.objects.create(
        effective_from=effective_from,
        earn_rate=earn_rate,
        redemption_value=redemption_value,
        max_redeem_percent=max_redeem_percent,
        points_lifetime_days=points_lifetime_days,
        note=note,
        created_by=_actor(actor),
    )
    rules.excluded_categories.set(list(excluded_categories))
    rules.excluded_variants.set(list(excluded_variants))
    Tier.objects.bulk_create(
        [
            Tier(rules=rules, name=t.name, min_spend=t.min_spend, multiplier=t.multiplier)
            for t in tier_list
        ]
    )
    return rules


# --- customer merge (hook in settings.CUSTOMER_MERGE_HANDLERS) -------------------------


@transaction.atomic
def customer_merged(survivor_id: int, duplicate_id: int) -> dict[str, int]:
    """Move the duplicate's points ledger to the survivor's account; returns counts moved.

    Entries keep their dates, lots and expiry, so FIFO and tier spend carry on as if the
    sales had been made by the survivor. Locks both accounts in primary-key order.
    """
    accounts = {
        a.customer_id: a
        for a in LoyaltyAccount.objects.select_for_update()
        .filter(customer_id__in=[survivor_id, duplicate_id])
        .order_by("pk")
    }
    duplicate = accounts.get(duplicate_id)
    if duplicate is None or survivor_id == duplicate_id:
        return {"loyalty_entries": 0, "loyalty_points": 0}
    survivor = accounts.get(survivor_id)
    moved_points = duplicate.balance
    if survivor is None:
        # The survivor had no account yet: the duplicate's account simply changes hands.
        count = duplicate.entries.count()
        duplicate.customer_id = survivor_id
        duplicate.save(update_fields=["customer", "updated_at"])
        return {"loyalty_entries": count, "loyalty_points": moved_points}
    count = LoyaltyEntry.objects.filter(account=duplicate).update(account=survivor)
    LoyaltyHold.objects.filter(account=duplicate).update(account=survivor)
    _set_balance(survivor, moved_points)
    duplicate.delete()
    return {"loyalty_entries": count, "loyalty_points": moved_points}


# --- verification ----------------------------------------------------------------------


def verify(*, customer: Customer | None = None) -> list[str]:
    """Every inconsistency between stored balances, lots and the ledger (empty when sound).

    Checks: stored balance == sum of entries; no negative balance; the unspent points of
    the lots add up to the balance; each lot's `remaining` equals its points plus its
    allocations and lies between 0 and its points.
    """
    accounts = LoyaltyAccount.objects.all()
    entries = LoyaltyEntry.objects.all()
    allocations = LoyaltyAllocation.objects.all()
    if customer is not None:
        customer = selectors.customer_survivor(customer=customer)
        accounts = accounts.filter(customer=customer)
        entries = entries.filter(account__customer=customer)
        allocations = allocations.filter(lot__account__customer=customer)
    sums = dict(
        entries.values("account_id")
        .annotate(total=Sum("points"))
        .values_list("account_id", "total")
    )
    unspent = dict(
        entries.filter(remaining__isnull=False)
        .values("account_id")
        .annotate(total=Sum("remaining"))
        .values_list("account_id", "total")
    )
    problems = []
    for account in accounts.order_by("pk"):
        ledger = sums.get(account.pk, 0)
        if account.balance != ledger:
            problems.append(
                f"account {account.pk}: stored balance {account.balance} != ledger {ledger}"
            )
        if account.balance < 0:
            problems.append(f"account {account.pk}: negative balance {account.balance}")
        lots = unspent.get(account.pk, 0)
        if lots != ledger:
            problems.append(f"account {account.pk}: unspent lots {lots} != ledger {ledger}")
    moved = dict(
        allocations.values("lot_id").annotate(total=Sum("points")).values_list("lot_id", "total")
    )
    for lot_id, points, remaining in entries.filter(remaining__isnull=False).values_list(
        "id", "points", "remaining"
    ):
        expected = points + moved.get(lot_id, 0)
        if remaining != expected or not 0 <= remaining <= points:
            problems.append(
                f"lot {lot_id}: remaining {remaining} != points and allocations {expected}"
            )
    return problems
