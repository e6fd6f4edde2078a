"""Pricing writes: price lists, effective-dated prices (one by one or in bulk), promotions,
coupons and coupon uses. Each is atomic and raises pricing domain errors.

Price writes validate every row against the stored prices and each other before writing
anything (`pricing.domain.plan_prices`); on PostgreSQL the exclusion constraint
`price_no_overlap` is the last line of defence against a concurrent writer and its
violation is reported as the same `price_overlap` error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from simple_history.utils import bulk_create_with_history

from catalog.models import Category, Product, Variant
from catalog.selectors import variants_by_sku
from core.changelog import changes_record
from core.money import quantize
from pricing import domain, selectors
from pricing.errors import (
    CouponCustomerRequired,
    CouponLimitReached,
    CouponNotFound,
    InvalidCoupon,
    InvalidPrice,
    InvalidPriceList,
    InvalidPromotion,
    InvalidShippingRate,
    PriceHistoryImmutable,
    PriceImportInvalid,
    PriceOverlap,
)
from pricing.models import (
    COUPON_CODE_VALIDATOR,
    Coupon,
    CouponRedemption,
    Price,
    PriceList,
    Promotion,
    ShippingRate,
    history_reason_current,
)

EXCLUSION_CONSTRAINT = "price_no_overlap"

# --- price lists --------------------------------------------------------------------


def _currency(value: str) -> str:
    code = (value or "").strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", code):
        raise InvalidPriceList(
            _("A currency is a three-letter ISO 4217 code."), details={"currency": value}
        )
    return code


def _unset_other_defaults(price_list: PriceList) -> None:
    # Lock the current default first so two admins making different lists the default
    # serialise here instead of failing on the partial unique index.
    others = PriceList.objects.select_for_update().filter(is_default=True).exclude(pk=price_list.pk)
    for other in others:
        other.is_default = False
        other.save(update_fields=["is_default"])


@transaction.atomic
def price_list_create(
    *, name: str, currency: str | None = None, is_default: bool = False, is_active: bool = True
) -> PriceList:
    """Create a price list; making it the default takes the flag from the previous default.

    Locks the current default price list row. Raises InvalidPriceList.
    """
    price_list = PriceList(
        name=name.strip(),
        currency=_currency(currency or PriceList._meta.get_field("currency").get_default()),
        is_default=is_default,
        is_active=is_active or is_default,
    )
    if is_default:
        _unset_other_defaults(price_list)
    price_list.save()
    return price_list


@transaction.atomic
def price_list_update(*, price_list: PriceList, **fields: Any) -> PriceList:
    """Change name, currency (only while the list has no prices), active or default flag.

    Locks the price list and the current default. The default list is always active.
    Raises InvalidPriceList.
    """
    allowed = {"name", "currency", "is_default", "is_active"}
    unknown = set(fields) - allowed
    if unknown:
        raise TypeError(f"price_list_update does not change {sorted(unknown)}")
    locked = PriceList.objects.select_for_update().get(pk=price_list.pk)
    if "currency" in fields:
        fields["currency"] = _currency(fields["currency"])
        if fields["currency"] != locked.currency and locked.prices.exists():
            raise InvalidPriceList(
                _("The currency of a price list with prices cannot change."),
                details={"price_list": locked.pk},
            )
    for name, value in fields.items():
        setattr(price_list, name, value)
    if price_list.is_default and not price_list.is_active:
        raise InvalidPriceList(
            _("The default price list must be active."), details={"price_list": price_list.pk}
        )
    if price_list.is_default and not locked.is_default:
        _unset_other_defaults(price_list)
    price_list.save(update_fields=list(fields))
    if {"is_default", "is_active"} & set(fields):
        # Another list is now the price book: every variant's price may have changed.
        changes_record(
            topic="price", keys=Price.objects.values_list("variant_id", flat=True).distinct()
        )
    return price_list


# --- prices -------------------------------------------------------------------------


@dataclass(frozen=True)
class PriceRow:
    """One price to write: new (`price_id` None) or a change of the stored price `price_id`."""

    price_list_id: int
    variant_id: int
    amount: Decimal
    valid_from: datetime
    valid_until: datetime | None = None
    price_id: int | None = None


def _period(row: PriceRow | Price) -> domain.PricePeriod:
    return domain.PricePeriod(
        price_list_id=row.price_list_id,
        variant_id=row.variant_id,
        amount=row.amount,
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        price_id=row.price_id if isinstance(row, PriceRow) else row.pk,
    )


def price_rows_check(
    *, rows: Sequence[PriceRow], close_open_ended: bool = False, lock: bool = False
) -> domain.PricePlan:
    """Plan a batch of price rows: what it would write, or the errors of every row.

    Reads the stored prices of the pairs involved (locked when `lock`) and checks amounts
    against their currency's minor unit. Writes nothing.
    """
    pairs = {(row.price_list_id, row.variant_id) for row in rows}
    changed_ids = {row.price_id for row in rows if row.price_id is not None}
    if changed_ids:
        # A changed price may move to another pair: its own pair is checked as well.
        pairs |= set(
            Price.objects.filter(pk__in=changed_ids).values_list("price_list_id", "variant_id")
        )
    stored = selectors.prices_stored(pairs=pairs, lock=lock)
    currencies = dict(
        PriceList.objects.filter(pk__in={row.price_list_id for row in rows}).values_list(
            "pk", "currency"
        )
    )
    plan = domain.plan_prices(
        [_period(p) for p in stored],
        [_period(row) for row in rows],
        now=timezone.now(),
        close_open_ended=close_open_ended,
    )
    for index, row in enumerate(rows):
        currency = currencies.get(row.price_list_id)
        if currency is None:
            plan.fail(index, domain.PRICE_INVALID, _("Unknown price list."))
        elif row.amount != quantize(row.amount, currency):
            plan.fail(
                index,
                domain.PRICE_INVALID,
                _("The amount has more decimals than %(currency)s allows.")
                % {"currency": currency},
            )
    return plan


def _plan_error(plan: domain.PricePlan, rows: Sequence[PriceRow]) -> Exception:
    details = {
        "rows": [
            {"row": index, "variant_id": rows[index].variant_id, "errors": messages}
            for index, messages in sorted(plan.errors.items())
        ]
    }
    # History first: a refused change of the past also leaves an overlap behind.
    if domain.PRICE_HISTORY in plan.codes:
        return PriceHistoryImmutable(details=details)
    if domain.PRICE_OVERLAP in plan.codes:
        return PriceOverlap(details=details)
    return InvalidPrice(details=details)


@transaction.atomic
def prices_save(*, rows: Sequence[PriceRow], close_open_ended: bool = False) -> list[Price]:
    """Write a batch of new and changed prices, all or nothing; return the written prices.

    Locks the stored prices of every (price list, variant) pair involved, re-checks the
    whole batch (`price_rows_check`) and raises PriceOverlap, PriceHistoryImmutable or
    InvalidPrice listing every bad row in `details["rows"]` before writing anything.
    With `close_open_ended`, a new price starting after an open-ended one ends it (a
    scheduled change). New prices are inserted with one bulk_create, their history rows
    with another.
    """
    if not rows:
        return []
    plan = price_rows_check(rows=rows, close_open_ended=close_open_ended, lock=True)
    if not plan.ok:
        raise _plan_error(plan, rows)
    try:
        # A savepoint, so that a constraint violation leaves the outer transaction usable.
        with transaction.atomic():
            # Saved one by one (not QuerySet.update) so that each end is in the price's
            # history, with the reason of the change.
            for price in Price.objects.filter(pk__in=list(plan.closures)).order_by("pk"):
                price.valid_until = plan.closures[price.pk]
                price.save(update_fields=["valid_until"])
            updated = []
            for period in plan.updates:
                price = Price.objects.get(pk=period.price_id)
                price.price_list_id = period.price_list_id
                price.variant_id = period.variant_id
                price.amount = period.amount
                price.valid_from = period.valid_from
                price.valid_until = period.valid_until
                price.save(
                    update_fields=["price_list", "variant", "amount", "valid_from", "valid_until"]
                )
                updated.append(price)
            created = bulk_create_with_history(
                [
                    Price(
                        price_list_id=p.price_list_id,
                        variant_id=p.variant_id,
                        amount=p.amount,
                        valid_from=p.valid_from,
                        valid_until=p.valid_until,
                    )
                    for p in plan.creates
                ],
                Price,
                default_change_reason=history_reason_current() or None,
            )
    except IntegrityError as exc:
        if EXCLUSION_CONSTRAINT in str(exc):
            # A concurrent writer inserted an overlapping price after our check.
            raise PriceOverlap(details={"constraint": EXCLUSION_CONSTRAINT}) from exc
        raise
    changes_record(topic="price", keys={row.variant_id for row in rows})
    return updated + created


def price_create(
    *,
    price_list: PriceList,
    variant: Variant,
    amount: Decimal | str | int,
    valid_from: datetime,
    valid_until: datetime | None = None,
) -> Price:
    """Add one price; any overlap with another price of the variant in the list is refused.

    Raises PriceOverlap (409) or InvalidPrice (400).
    """
    (price,) = prices_save(
        rows=[
            PriceRow(
                price_list_id=price_list.pk,
                variant_id=variant.pk,
                amount=_amount(amount),
                valid_from=valid_from,
                valid_until=valid_until,
            )
        ]
    )
    return price


def price_schedule(
    *,
    price_list: PriceList,
    variant: Variant,
    amount: Decimal | str | int,
    valid_from: datetime,
    valid_until: datetime | None = None,
) -> Price:
    """Schedule a price change: the open-ended price in effect before `valid_from` ends there.

    Any other overlap is refused (PriceOverlap). Raises InvalidPrice for bad values.
    """
    saved = prices_save(
        rows=[
            PriceRow(
                price_list_id=price_list.pk,
                variant_id=variant.pk,
                amount=_amount(amount),
                valid_from=valid_from,
                valid_until=valid_until,
            )
        ],
        close_open_ended=True,
    )
    return saved[-1]


def price_update(*, price: Price, **fields: Any) -> Price:
    """Change a price. One already in effect may only get (or move) its end, not into the past.

    Raises PriceHistoryImmutable, PriceOverlap or InvalidPrice.
    """
    allowed = {"amount", "valid_from", "valid_until"}
    unknown = set(fields) - allowed
    if unknown:
        raise TypeError(f"price_update does not change {sorted(unknown)}")
    stored = Price.objects.get(pk=price.pk)
    row = PriceRow(
        price_id=stored.pk,
        price_list_id=stored.price_list_id,
        variant_id=stored.variant_id,
        amount=_amount(fields.get("amount", stored.amount)),
        valid_from=fields.get("valid_from", stored.valid_from),
        valid_until=fields.get("valid_until", stored.valid_until),
    )
    (saved,) = prices_save(rows=[row])
    return saved


@transaction.atomic
def price_delete(*, price: Price) -> None:
    """Delete a price that has not taken effect yet; history stays. Locks the price row.

    Raises PriceHistoryImmutable.
    """
    locked = Price.objects.select_for_update().get(pk=price.pk)
    if locked.valid_from <= timezone.now():
        raise PriceHistoryImmutable(details={"price": locked.pk})
    locked.delete()
    changes_record(topic="price", keys=[locked.variant_id])


def _amount(value: Any) -> Decimal:
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise InvalidPrice(details={"amount": str(value)}) from exc
    if not amount.is_finite():
        raise InvalidPrice(details={"amount": str(value)})
    return amount


# --- bulk import --------------------------------------------------------------------

IMPORT_COLUMNS = ("sku", "amount", "valid_from", "valid_until", "price_list")


@dataclass
class PriceImportPlan:
    """A parsed price file: one PriceRow per data row (None where unreadable) and the
    errors of each row, keyed by 1-based data row number."""

    rows: list[PriceRow | None]
    errors: dict[int, list[str]]
    variants: dict[int, Variant]

    @property
    def ok(self) -> bool:
        return not self.errors


def _parse_datetime(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        text = str(value).strip()
        parsed = parse_datetime(text)
        if parsed is None:
            day = parse_date(text)
            if day is None:
                raise ValueError(text)
            parsed = datetime(day.year, day.month, day.day)
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return parsed


def price_import_check(
    *, records: Sequence[dict[str, Any]], close_open_ended: bool = True
) -> PriceImportPlan:
    """Parse and validate every row of a price file (dicts keyed by IMPORT_COLUMNS).

    `sku`, `amount` and `valid_from` are required; `valid_until` is optional (open-ended);
    `price_list` is a price list name, empty for the default list. Reports unknown SKUs,
    unknown price lists, unreadable values, overlaps with stored prices and between rows.
    Reads in a constant number of queries; writes nothing.
    """
    default = selectors.price_list_default()
    lists = {pl.name.casefold(): pl for pl in PriceList.objects.all()}
    skus = {str(r.get("sku") or "").strip() for r in records}
    variants = variants_by_sku(skus=skus - {""})
    parsed: list[PriceRow | None] = []
    errors: dict[int, list[str]] = {}
    for number, record in enumerate(records, start=1):
        problems = []
        sku = str(record.get("sku") or "").strip()
        variant = variants.get(sku)
        if not sku:
            problems.append(_("The SKU is missing."))
        elif variant is None:
            problems.append(_("Unknown SKU %(sku)s.") % {"sku": sku})
        list_name = str(record.get("price_list") or "").strip()
        price_list = lists.get(list_name.casefold()) if list_name else default
        if price_list is None:
            problems.append(
                _("Unknown price list %(name)s.") % {"name": list_name}
                if list_name
                else _("There is no default price list.")
            )
        try:
            amount = _amount(record.get("amount"))
        except InvalidPrice:
            problems.append(_("The amount is not a number."))
            amount = None
        try:
            valid_from = _parse_datetime(record.get("valid_from"))
            if valid_from is None:
                problems.append(_("valid_from is missing."))
        except ValueError:
            problems.append(_("valid_from is not a date or date-time."))
            valid_from = None
        try:
            valid_until = _parse_datetime(record.get("valid_until"))
        except ValueError:
            problems.append(_("valid_until is not a date or date-time."))
            valid_until = None
        if problems:
            errors[number] = problems
            parsed.append(None)
            continue
        parsed.append(
            PriceRow(
                price_list_id=price_list.pk,
                variant_id=variant.pk,
                amount=amount,
                valid_from=valid_from,
                valid_until=valid_until,
            )
        )
    readable = [(number, row) for number, row in enumerate(parsed, start=1) if row is not None]
    plan = price_rows_check(rows=[row for _n, row in readable], close_open_ended=close_open_ended)
    for index, messages in plan.errors.items():
        errors.setdefault(readable[index][0], []).extend(messages)
    by_id = {v.pk: v for v in variants.values()}
    return PriceImportPlan(rows=parsed, errors=dict(sorted(errors.items())), variants=by_id)


@transaction.atomic
def price_import(
    *, records: Sequence[dict[str, Any]], close_open_ended: bool = True
) -> list[Price]:
    """Import a price file all or nothing: validate every row, then write every row.

    A row starting after an open-ended price of the same variant and list ends that price
    (a scheduled change) unless `close_open_ended` is False. Raises PriceImportInvalid
    with every bad row (`details["rows"]`: row number, errors) and writes nothing then;
    locks as `prices_save`.
    """
    plan = price_import_check(records=records, close_open_ended=close_open_ended)
    if not plan.ok:
        raise PriceImportInvalid(
            details={"rows": [{"row": n, "errors": e} for n, e in plan.errors.items()]}
        )
    try:
        return prices_save(
            rows=[row for row in plan.rows if row is not None], close_open_ended=close_open_ended
        )
    except (PriceOverlap, InvalidPrice, PriceHistoryImmutable) as exc:
        raise PriceImportInvalid(details=exc.details) from exc


# --- promotions ---------------------------------------------------------------------


def _promotion_check(promotion: Promotion, scope_size: int | None) -> None:
    problems = domain.promotion_problems(
        kind=promotion.kind,
        scope=promotion.scope,
        value=promotion.value,
        buy_quantity=promotion.buy_quantity,
        get_quantity=promotion.get_quantity,
        threshold=promotion.threshold,
        starts_at=promotion.starts_at,
        ends_at=promotion.ends_at,
        scope_size=scope_size,
    )
    if problems:
        raise InvalidPromotion(next(iter(problems.values())), details={"fields": problems})


_SCOPE_MODELS = {"variants": Variant, "products": Product, "categories": Category}


@transaction.atomic
def promotion_save(
    *,
    promotion: Promotion,
    variants: Iterable[Variant] | None = None,
    products: Iterable[Product] | None = None,
    categories: Iterable[Category] | None = None,
) -> Promotion:
    """Create or change a promotion and, when given, the items of its scope.

    The scope list that matches `promotion.scope` must not be empty; the others are
    cleared so a promotion never carries a stale scope. Raises InvalidPromotion.
    """
    given = {"variants": variants, "products": products, "categories": categories}
    size = None
    if promotion.scope in given and given[promotion.scope] is not None:
        given[promotion.scope] = list(given[promotion.scope])
        size = len(given[promotion.scope])
    elif promotion.scope in given and promotion.pk:
        size = getattr(promotion, promotion.scope).count()
    _promotion_check(promotion, size)
    promotion.save()
    for name in _SCOPE_MODELS:
        if name == promotion.scope and given[name] is not None:
            getattr(promotion, name).set(given[name])
        elif name != promotion.scope:
            getattr(promotion, name).clear()
    changes_record(topic="promotion", keys=[promotion.pk])
    return promotion


@transaction.atomic
def promotion_create(
    *,
    name: str,
    kind: str,
    scope: str,
    starts_at: datetime,
    value: Decimal | int | str = 0,
    ends_at: datetime | None = None,
    buy_quantity: int = 0,
    get_quantity: int = 0,
    threshold: Decimal | int | str = 0,
    priority: int = 0,
    is_stackable: bool = True,
    is_active: bool = True,
    description: str = "",
    variants: Iterable[Variant] = (),
    products: Iterable[Product] = (),
    categories: Iterable[Category] = (),
) -> Promotion:
    """Create a promotion with its scope. Raises InvalidPromotion."""
    promotion = Promotion(
        name=name,
        description=description,
        kind=kind,
        scope=scope,
        value=Decimal(str(value)),
        buy_quantity=buy_quantity,
        get_quantity=get_quantity,
        threshold=Decimal(str(threshold)),
        starts_at=starts_at,
        ends_at=ends_at,
        priority=priority,
        is_stackable=is_stackable,
        is_active=is_active,
    )
    return promotion_save(
        promotion=promotion, variants=variants, products=products, categories=categories
    )


# --- coupons ------------------------------------------------------------------------


@transaction.atomic
def coupon_save(*, coupon: Coupon) -> Coupon:
    """Create or change a coupon; its code is stored upper-case. Raises InvalidCoupon."""
    coupon.code = domain.coupon_code_normalize(coupon.code or "")
    try:
        COUPON_CODE_VALIDATOR(coupon.code)
    except ValidationError as exc:
        raise InvalidCoupon(str(exc.messages[0]), details={"code": coupon.code}) from exc
    taken = Coupon.objects.filter(code=coupon.code).exclude(pk=coupon.pk).exists()
    if taken:
        raise InvalidCoupon(_("Another coupon has this code."), details={"code": coupon.code})
    coupon.save()
    changes_record(topic="promotion", keys=[coupon.promotion_id])
    return coupon


def coupon_create(
    *,
    promotion: Promotion,
    code: str,
    usage_limit: int | None = None,
    usage_limit_per_customer: int | None = None,
    is_active: bool = True,
) -> Coupon:
    """Create a coupon for a promotion (which then applies only with one of its codes)."""
    return coupon_save(
        coupon=Coupon(
            promotion=promotion,
            code=code,
            usage_limit=usage_limit,
            usage_limit_per_customer=usage_limit_per_customer,
            is_active=is_active,
        )
    )


@transaction.atomic
def coupon_redemption_record(
    *, code: str, customer_id: int | None, reference: str
) -> CouponRedemption:
    """Record one use of a coupon by `reference` (an order), inside the caller's transaction.

    Locks the coupon row (`select_for_update`), so concurrent checkouts count uses one
    after the other and the limits hold under any concurrency. Idempotent per
    (coupon, reference): recording again returns the same use; recording a released one
    makes it count again. Raises CouponNotFound, CouponCustomerRequired (the coupon has a
    per-customer limit and no customer is given) and CouponLimitReached (422; details say
    which limit).
    """
    coupon = (
        Coupon.objects.select_for_update().filter(code=domain.coupon_code_normalize(code)).first()
    )
    if coupon is None:
        raise CouponNotFound(details={"coupon": code})
    existing = CouponRedemption.objects.filter(coupon=coupon, reference=reference).first()
    if existing is not None and existing.released_at is None:
        return existing
    active = CouponRedemption.objects.filter(coupon=coupon, released_at__isnull=True)
    problem = domain.coupon_usage_problem(
        usage_limit=coupon.usage_limit,
        used=active.count() if coupon.usage_limit is not None else 0,
        usage_limit_per_customer=coupon.usage_limit_per_customer,
        used_by_customer=(
            active.filter(customer_id=customer_id).count()
            if coupon.usage_limit_per_customer is not None and customer_id is not None
            else 0
        ),
        customer_id=customer_id,
    )
    details = {"coupon": coupon.code, "reference": reference}
    if problem == domain.COUPON_CUSTOMER_REQUIRED:
        raise CouponCustomerRequired(details=details)
    if problem == domain.COUPON_USAGE_LIMIT:
        raise CouponLimitReached(details=details | {"limit": "total"})
    if problem == domain.COUPON_CUSTOMER_LIMIT:
        raise CouponLimitReached(details=details | {"limit": "per_customer"})
    if existing is not None:
        existing.released_at = None
        existing.customer_id = customer_id
        existing.save(update_fields=["released_at", "customer_id"])
        return existing
    return CouponRedemption.objects.create(
        coupon=coupon, customer_id=customer_id, reference=reference
    )


@transaction.atomic
def coupon_uses_record_facts(
    *, uses: Sequence[tuple[str, int | None, str]]
) -> dict[str, str | None]:
    """Record coupon uses that already happened at a till: (code, customer id, reference).

    A sale that happened is never refused: a use beyond a limit is recorded all the same
    and reported, so staff see it. Locks the coupons in id order (the lock order of
    coupon counters), once for the whole batch. Idempotent per (coupon, reference).
    Returns reference → None (within limits), "unknown_coupon", "usage_limit" or
    "customer_limit".
    """
    by_code: dict[str, Coupon] = {
        c.code: c
        for c in Coupon.objects.select_for_update()
        .filter(code__in={domain.coupon_code_normalize(code) for code, _c, _r in uses})
        .order_by("pk")
    }
    outcome: dict[str, str | None] = {}
    for code, customer_id, reference in uses:
        coupon = by_code.get(domain.coupon_code_normalize(code))
        if coupon is None:
            outcome[reference] = "unknown_coupon"
            continue
        active = CouponRedemption.objects.filter(coupon=coupon, released_at__isnull=True)
        problem = domain.coupon_usage_problem(
            usage_limit=coupon.usage_limit,
            used=active.count() if coupon.usage_limit is not None else 0,
            usage_limit_per_customer=coupon.usage_limit_per_customer,
            used_by_customer=(
                active.filter(customer_id=customer_id).count()
                if coupon.usage_limit_per_customer is not None and customer_id is not None
                else 0
            ),
            customer_id=customer_id,
        )
        CouponRedemption.objects.get_or_create(
            coupon=coupon, reference=reference, defaults={"customer_id": customer_id}
        )
        outcome[reference] = {
            domain.COUPON_USAGE_LIMIT: "usage_limit",
            domain.COUPON_CUSTOMER_LIMIT: "customer_limit",
        }.get(problem)
    return outcome


@transaction.atomic
def coupon_redemption_release(*, reference: str) -> int:
    """Give back the coupon use(s) of `reference` (an order was cancelled); return how many.

    Locks the coupon rows first (in id order, the same lock `coupon_redemption_record`
    takes) so a release and a new use of the same coupon never interleave. Idempotent:
    releasing twice gives back once.
    """
    coupon_ids = list(
        CouponRedemption.objects.filter(reference=reference, released_at__isnull=True)
        .values_list("coupon_id", flat=True)
        .distinct()
    )
    if not coupon_ids:
        return 0
    list(Coupon.objects.select_for_update().filter(pk__in=coupon_ids).order_by("pk"))
    return CouponRedemption.objects.filter(
        reference=reference, coupon_id__in=coupon_ids, released_at__isnull=True
    ).update(released_at=timezone.now())


# --- customer merge ----------------------------------------------------------------------


@transaction.atomic
def customer_merged(survivor_id: int, duplicate_id: int) -> dict[str, int]:
    """Move the duplicate customer's coupon uses to the survivor (a CUSTOMER_MERGE_HANDLERS
    hook); returns how many moved.

    The uses keep counting against per-customer limits, now the survivor's: a customer
    cannot use a once-per-customer coupon again by having had two profiles. Locks the
    coupons concerned in primary-key order (coupon counters come last in the global lock
    order, after orders and points accounts), so no use of them is recorded meanwhile.
    """
    if survivor_id == duplicate_id:
        return {"coupon_uses": 0}
    uses = CouponRedemption.objects.filter(customer_id=duplicate_id)
    coupon_ids = sorted(set(uses.values_list("coupon_id", flat=True)))
    if not coupon_ids:
        return {"coupon_uses": 0}
    list(Coupon.objects.select_for_update().filter(pk__in=coupon_ids).order_by("pk"))
    moved = CouponRedemption.objects.filter(customer_id=duplicate_id).update(
        customer_id=survivor_id
    )
    return {"coupon_uses": moved}


# --- delivery fees ---------------------------------------------------------------------


@transaction.atomic
def shipping_rate_save(*, rate: ShippingRate) -> ShippingRate:
    """Validate and save a (new or changed) delivery method's rate; codes are stored lower
    case. Raises InvalidShippingRate with every problem. The next delivery quote reads it
    (rates are never cached, so no quote is priced with a stale one). Locks nothing."""
    rate.code = (rate.code or "").strip().lower()
    problems: dict[str, list[str]] = {}
    if rate.price is None or rate.price < 0:
        problems.setdefault("price", []).append(_("A fee cannot be negative."))
    if rate.free_above is not None and rate.free_above < 0:
        problems.setdefault("free_above", []).append(_("Must not be negative."))
    if rate.vat_rate is None or not 0 <= rate.vat_rate < 100:
        problems.setdefault("vat_rate", []).append(_("A VAT rate is from 0 to under 100 %."))
    try:
        rate.full_clean(validate_constraints=False)
    except ValidationError as exc:
        for name, messages in exc.message_dict.items():
            problems.setdefault(name, []).extend(messages)
    if problems:
        raise InvalidShippingRate(details={"fields": problems})
    rate.save()
    return rate
