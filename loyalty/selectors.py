"""Loyalty reads: rules in force, balances, tiers, quotes for checkout, ledger and timeline.

These never write (a customer without an account simply has a zero balance), so the
quote, the API and the customer timeline can call them freely. The checkout's
quote uses `points_redeem_value` and `points_redeemable_max`; `points_earn_preview` shows
the points a cart would earn ("pending points") with the same arithmetic as `points_earn`.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import F, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import ngettext

from catalog.selectors import category_ancestor_map, variants_by_id
from core.money import default_currency, quantize
from customers.models import Customer
from loyalty import domain
from loyalty.errors import InvalidEarnLines
from loyalty.models import (
    OPEN_HOLD_STATUSES,
    SALES_CHANNELS,
    EntryKind,
    LoyaltyAccount,
    LoyaltyEntry,
    LoyaltyHold,
    LoyaltyRules,
)

# How far ahead the API warns about points that will expire.
EXPIRING_SOON_DAYS = 30


@dataclass(frozen=True)
class EarnQuote:
    """What a sale earns under `rules`: the points and how they were worked out."""

    rules: LoyaltyRules
    points: int
    amount_paid: Decimal
    eligible_amount: Decimal
    spend_before: Decimal
    tier: domain.TierRule | None
    lines: tuple[dict[str, Any], ...] = ()

    @property
    def multiplier(self) -> Decimal:
        return self.tier.multiplier if self.tier else Decimal(1)

    def details(self) -> dict[str, Any]:
        return {
            "eligible_amount": str(self.eligible_amount),
            "earn_rate": str(self.rules.earn_rate),
            "multiplier": str(self.multiplier),
            "tier": self.tier.name if self.tier else None,
            "spend_12m_before": str(self.spend_before),
            # Per sale line, in order: what it paid and earned (a return takes these back).
            "lines": list(self.lines),
        }


def customer_survivor(*, customer: Customer) -> Customer:
    """The customer itself, or the profile it was merged into (followed to the end)."""
    seen = set()
    while customer.merged_into_id is not None and customer.pk not in seen:
        seen.add(customer.pk)
        customer = customer.merged_into
    return customer


def account_for_customer(*, customer: Customer) -> LoyaltyAccount | None:
    customer = customer_survivor(customer=customer)
    return LoyaltyAccount.objects.filter(customer=customer).first()


def balance_get(*, customer: Customer) -> int:
    account = account_for_customer(customer=customer)
    return account.balance if account else 0


def rules_in_force(*, at: datetime | None = None) -> LoyaltyRules | None:
    """The newest rules version whose `effective_from` is not after `at` (default now)."""
    at = at or timezone.now()
    return (
        LoyaltyRules.objects.filter(effective_from__lte=at)
        .prefetch_related("tiers")
        .order_by("-effective_from", "-id")
        .first()
    )


def rules_versions() -> QuerySet[LoyaltyRules]:
    return LoyaltyRules.objects.prefetch_related("tiers").order_by("-effective_from", "-id")


def rules_problems(
    *,
    earn_rate: Decimal,
    redemption_value: Decimal,
    max_redeem_percent: Decimal,
    points_lifetime_days: int | None,
    tiers: list[domain.TierRule],
    effective_from: datetime | None,
    now: datetime | None = None,
) -> dict[str, str]:
    """What is wrong with a rules version about to be published (field → problem code).

    Besides the pure checks: a version may not start in the past, because rule changes
    apply to new sales only — except the first version ever, which changes no earlier sale.
    """
    now = now or timezone.now()
    problems = domain.rules_problems(
        earn_rate=earn_rate,
        redemption_value=redemption_value,
        max_redeem_percent=max_redeem_percent,
        points_lifetime_days=points_lifetime_days,
        tiers=tiers,
    )
    if effective_from is not None and effective_from < now and LoyaltyRules.objects.exists():
        problems["effective_from"] = "must_not_be_in_the_past"
    return problems


def tier_rules(rules: LoyaltyRules | None) -> list[domain.TierRule]:
    if rules is None:
        return []
    return [domain.TierRule(t.name, t.min_spend, t.multiplier) for t in rules.tiers.all()]


def rolling_spend(*, account_id: int | None, at: datetime | None = None) -> Decimal:
    """Money paid on earning sales in the 12 months before `at`, minus what was refunded.

    A refund counts against the month of the sale it refunds, so a return never pulls
    an old sale's spend into the current window.
    """
    if account_id is None:
        return quantize(0)
    at = at or timezone.now()
    since = at - domain.ROLLING_WINDOW
    total = LoyaltyEntry.objects.filter(
        Q(kind=EntryKind.EARN, occurred_at__gte=since, occurred_at__lt=at)
        | Q(
            kind=EntryKind.REVERSE,
            reverses__kind=EntryKind.EARN,
            reverses__occurred_at__gte=since,
            reverses__occurred_at__lt=at,
        ),
        account_id=account_id,
    ).aggregate(total=Sum("amount_paid"))["total"]
    return quantize(total or 0)


def earn_lines(lines: Iterable[Mapping[str, Any]]) -> list[domain.EarnLine]:
    """Validate the sale lines given to `points_earn` and fill in missing categories."""
    parsed: list[domain.EarnLine] = []
    problems: dict[str, str] = {}
    for index, line in enumerate(lines):
        try:
            amount = Decimal(str(line["amount_paid"]))
            variant_id = line.get("variant_id")
            category_id = line.get("category_id")
            variant_id = int(variant_id) if variant_id is not None else None
            category_id = int(category_id) if category_id is not None else None
        except (KeyError, TypeError, ValueError, InvalidOperation):
            problems[str(index)] = "needs amount_paid and integer ids"
            continue
        if not amount.is_finite() or amount < 0:
            problems[str(index)] = "amount_paid must not be negative"
            continue
        parsed.append(domain.EarnLine(variant_id, category_id, quantize(amount)))
    if problems:
        raise InvalidEarnLines(details={"lines": problems})
    missing = {line.variant_id for line in parsed if line.category_id is None and line.variant_id}
    if missing:
        variants = variants_by_id(ids=missing)
        parsed = [
            domain.EarnLine(
                line.variant_id,
                variants[line.variant_id].product.category_id
                if line.category_id is None and line.variant_id in variants
                else line.category_id,
                line.amount_paid,
            )
            for line in parsed
        ]
    return parsed


def earn_quote(
    *,
    rules: LoyaltyRules,
    account_id: int | None,
    lines: list[domain.EarnLine],
    at: datetime,
) -> EarnQuote:
    """The points `lines` earn under `rules` for the account's tier at `at`."""
    exclusions = {
        "excluded_variant_ids": set(rules.excluded_variants.values_list("id", flat=True)),
        "excluded_category_ids": set(rules.excluded_categories.values_list("id", flat=True)),
    }
    exclusions["category_ancestors"] = (
        category_ancestor_map() if exclusions["excluded_category_ids"] else {}
    )
    eligible = domain.eligible_amount(lines, **exclusions)
    spend = rolling_spend(account_id=account_id, at=at)
    tier = domain.tier_for_spend(tier_rules(rules), spend)
    points = domain.earned_points(
        eligible=eligible,
        earn_rate=rules.earn_rate,
        multiplier=tier.multiplier if tier else Decimal(1),
    )
    return EarnQuote(
        rules=rules,
        points=points,
        amount_paid=quantize(sum((line.amount_paid for line in lines), Decimal(0))),
        eligible_amount=eligible,
        spend_before=spend,
        tier=tier,
        lines=tuple(domain.earn_breakdown(lines, points=points, **exclusions)),
    )


def points_earn_preview(
    *, customer: Customer | None, lines: Iterable[Mapping[str, Any]], at: datetime | None = None
) -> int:
    """The points these lines would earn if the sale completed at `at` (0 without rules)."""
    at = at or timezone.now()
    rules = rules_in_force(at=at)
    if rules is None:
        return 0
    account = account_for_customer(customer=customer) if customer else None
    quote = earn_quote(
        rules=rules, account_id=account.pk if account else None, lines=earn_lines(lines), at=at
    )
    return quote.points


def points_redeem_value(*, points: int, at: datetime | None = None) -> Decimal:
    """What `points` pay under the rules in force at `at`; 0.00 when no rules are set."""
    rules = rules_in_force(at=at)
    if rules is None or points <= 0:
        return quantize(0)
    return domain.redeem_value(points, redemption_value=rules.redemption_value)


def points_redeemable_max(
    *, customer: Customer, order_total: Decimal, at: datetime | None = None
) -> int:
    """The most points this customer may spend on an order of `order_total` right now."""
    rules = rules_in_force(at=at)
    if rules is None:
        return 0
    limit = domain.redeemable_limit(
        order_total=quantize(order_total),
        max_redeem_percent=rules.max_redeem_percent,
        redemption_value=rules.redemption_value,
    )
    return min(limit, spendable_balance(customer=customer, at=at))


def spendable_balance(*, customer: Customer, at: datetime | None = None) -> int:
    """What the customer can spend now: the balance minus lots already past their expiry
    that the expiry job has not run on, minus the points of open holds at the tills."""
    account = account_for_customer(customer=customer)
    if account is None:
        return 0
    at = at or timezone.now()
    overdue = (
        LoyaltyEntry.objects.filter(account=account, remaining__gt=0, expires_at__lte=at).aggregate(
            total=Sum("remaining")
        )["total"]
        or 0
    )
    return max(account.balance - overdue - held_points(account_id=account.pk, at=at), 0)


def open_holds(*, at: datetime | None = None) -> QuerySet[LoyaltyHold]:
    """Holds that still keep their points from other redemptions: open and not yet due.

    A hold past `expires_at` stops counting at once, before the expiry job marks it.
    """
    return LoyaltyHold.objects.filter(
        status__in=OPEN_HOLD_STATUSES, expires_at__gt=at or timezone.now()
    )


def held_points(*, account_id: int, at: datetime | None = None, exclude: Iterable[Any] = ()) -> int:
    """Points of the account's open holds (`exclude`: hold ids not to count)."""
    holds = open_holds(at=at).filter(account_id=account_id)
    if exclude:
        holds = holds.exclude(pk__in=list(exclude))
    return holds.aggregate(total=Sum("points"))["total"] or 0


def hold_for_terminal(*, hold_id: Any, terminal_code: str) -> LoyaltyHold | None:
    """The hold, if it exists and was made by this till (another till's hold is not found)."""
    try:
        return LoyaltyHold.objects.filter(pk=hold_id, terminal_code=terminal_code).first()
    except (ValueError, ValidationError):
        return None


def till_summary(*, customer: Customer, order_total: Decimal | None = None) -> dict[str, Any]:
    """What a till may know of a customer's points: tier, what can be spent now and, for a
    basket of `order_total`, how many points may pay for it under the rules in force."""
    now = timezone.now()
    rules = rules_in_force(at=now)
    account = account_for_customer(customer=customer)
    spend = rolling_spend(account_id=account.pk if account else None, at=now)
    tier = domain.tier_for_spend(tier_rules(rules), spend)
    available = spendable_balance(customer=customer, at=now)
    summary: dict[str, Any] = {
        "tier": tier.name if tier else None,
        "tier_multiplier": tier.multiplier if tier else Decimal(1),
        "points_available": available,
        "points_value": domain.redeem_value(available, redemption_value=rules.redemption_value)
        if rules
        else quantize(0),
        "currency": default_currency(),
        "redeemable_points": None,
        "redeemable_value": None,
    }
    if order_total is not None:
        usable = points_redeemable_max(customer=customer, order_total=order_total, at=now)
        summary["redeemable_points"] = usable
        summary["redeemable_value"] = points_redeem_value(points=usable, at=now)
    return summary


def open_lots(*, account_id: int) -> QuerySet[LoyaltyEntry]:
    """Lots with unspent points in FIFO order: soonest to expire first, then oldest."""
    return LoyaltyEntry.objects.filter(account_id=account_id, remaining__gt=0).order_by(
        F("expires_at").asc(nulls_last=True), "occurred_at", "id"
    )


def points_expiring(
    *, customer: Customer, within: timedelta, at: datetime | None = None
) -> list[dict[str, Any]]:
    """Unspent points that expire before `at + within`, grouped by expiry date."""
    account = account_for_customer(customer=customer)
    if account is None:
        return []
    at = at or timezone.now()
    rows = (
        LoyaltyEntry.objects.filter(
            account=account, remaining__gt=0, expires_at__isnull=False, expires_at__lte=at + within
        )
        .values("expires_at")
        .annotate(points=Sum("remaining"))
        .order_by("expires_at")
    )
    return [{"expires_at": row["expires_at"], "points": row["points"]} for row in rows]


def ledger_entries(*, customer: Customer) -> QuerySet[LoyaltyEntry]:
    """The customer's ledger, newest first (empty when the customer has no account)."""
    customer = customer_survivor(customer=customer)
    return LoyaltyEntry.objects.filter(account__customer=customer).order_by("-id")


def entries_for_reference(*, reference: str) -> QuerySet[LoyaltyEntry]:
    return LoyaltyEntry.objects.filter(reference=reference).order_by("id")


def earned_by_line(*, reference: str, weights: Sequence[Decimal]) -> list[int] | None:
    """What each line of the sale `reference` earned, in the sale's line order; None
    when the sale earned nothing. An earn recorded before lines were kept is split over
    `weights` (the lines' amounts) the same way a new one is."""
    earn = LoyaltyEntry.objects.filter(kind=EntryKind.EARN, reference=reference).first()
    if earn is None:
        return None
    recorded = (earn.details or {}).get("lines")
    if isinstance(recorded, list) and len(recorded) == len(weights):
        return [int(line.get("points", 0)) for line in recorded]
    return domain.split_points(earn.points, list(weights))


def account_summary(
    *, customer: Customer, expiring_within_days: int = EXPIRING_SOON_DAYS
) -> dict[str, Any]:
    """Balance, its money value, tier and progress, and points expiring soon."""
    now = timezone.now()
    account = account_for_customer(customer=customer)
    rules = rules_in_force(at=now)
    tiers = tier_rules(rules)
    spend = rolling_spend(account_id=account.pk if account else None, at=now)
    balance = account.balance if account else 0
    held = held_points(account_id=account.pk, at=now) if account else 0
    upcoming = domain.next_tier(tiers, spend)
    expiring = points_expiring(
        customer=customer, within=timedelta(days=expiring_within_days), at=now
    )
    return {
        "balance": balance,
        "balance_value": (
            domain.redeem_value(balance, redemption_value=rules.redemption_value)
            if rules
            else quantize(0)
        ),
        "currency": default_currency(),
        # Points set aside at a till for a sale in progress: not spendable until released.
        "held_points": held,
        "available_points": max(balance - held, 0),
        "rolling_spend": spend,
        "tier": domain.tier_for_spend(tiers, spend),
        "next_tier": upcoming,
        "spend_to_next_tier": quantize(upcoming.min_spend - spend) if upcoming else None,
        "expiring_within_days": expiring_within_days,
        "expiring_soon_points": sum(row["points"] for row in expiring),
        "expiring_soon": expiring,
    }


def entry_title(entry: LoyaltyEntry) -> str:
    """A one-line, translated description of an entry for the ledger and the timeline."""
    n = abs(entry.points)
    if entry.kind == EntryKind.EARN:
        text = ngettext("%(points)s point earned", "%(points)s points earned", n)
    elif entry.kind == EntryKind.REDEEM:
        text = ngettext("%(points)s point spent", "%(points)s points spent", n)
    elif entry.kind == EntryKind.EXPIRE:
        text = ngettext("%(points)s point expired", "%(points)s points expired", n)
    elif entry.kind == EntryKind.ADJUST and entry.points > 0:
        text = ngettext("%(points)s point added by staff", "%(points)s points added by staff", n)
    elif entry.kind == EntryKind.ADJUST:
        text = ngettext(
            "%(points)s point removed by staff", "%(points)s points removed by staff", n
        )
    elif entry.points > 0:
        text = ngettext("%(points)s point given back", "%(points)s points given back", n)
    else:
        text = ngettext("%(points)s point taken back", "%(points)s points taken back", n)
    return text % {"points": n}


def timeline_entries(
    customer_id: int, *, limit: int, before: datetime | None
) -> list[dict[str, Any]]:
    """The customer timeline's bonus movements (hook in settings.CUSTOMER_TIMELINE_SOURCES)."""
    qs = LoyaltyEntry.objects.filter(account__customer_id=customer_id)
    if before is not None:
        qs = qs.filter(occurred_at__lt=before)
    rows = qs.order_by("-occurred_at", "-id")[: max(limit, 0)]
    return [
        {
            "at": entry.occurred_at,
            "kind": f"loyalty_{entry.kind}",
            # The timeline knows the sales channels only; staff and system entries have none.
            "channel": entry.channel if entry.channel in SALES_CHANNELS else None,
            "title": entry_title(entry),
            "reference": entry.reference,
            "details": {
                "entry_id": entry.pk,
                "points": entry.points,
                "expires_at": entry.expires_at.isoformat() if entry.expires_at else None,
                "place": (entry.details or {}).get("place"),
            },
        }
        for entry in rows
    ]
