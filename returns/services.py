"""Returns writes: a return or exchange of any order, in any store, in one service.

`return_create` takes goods back at once (the store desk, a store tablet, a till);
`return_request` records what a customer will bring (app or web) and moves nothing until
staff `return_request_complete` it. Both end in `_complete`, which does, in one
transaction and in the global lock order:

1. the original order's row (`orders.services.order_lock`): returns of one order run one
   at a time, so no line is ever returned beyond what was bought, also under races;
2. stock levels of the receiving location — returned and exchanged items at once —
   resaleable units back on hand, damaged ones returned and written off;
3. the customer's points account: spent points given back, earned points taken back
   per line (a shortfall of points already spent is kept back from the money);
4. the exchange's new sale (its levels and the account are already held);
5. the return, its lines and refund tenders; the order's `partially_returned` /
   `returned`; after commit, the provider refunds (a task, retried) and the message.

The money rules (shares per unit, tender order, shortfall) are pure and live in
`returns.domain`.
"""

import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from catalog import selectors as catalog_selectors
from core.background import enqueue_on_commit
from core.errors import ValidationFailed
from core.money import quantize
from inventory import selectors as inventory_selectors
from inventory import services as inventory_services
from loyalty import selectors as loyalty_selectors
from loyalty import services as loyalty_services
from orders import selectors as order_selectors
from orders import services as order_services
from orders.domain import RETURNABLE, Status
from orders.errors import OrderNotFound
from orders.payments import payment_provider
from pricing import selectors as pricing_selectors
from reports import services as report_services
from returns import domain, selectors
from returns.errors import (
    ExchangePaymentRequired,
    OrderNotReturnable,
    RefundTenderNotAllowed,
    ReturnExceedsPurchase,
    ReturnLineUnknown,
    ReturnNotRequested,
    ReturnWindowClosed,
)
from returns.models import Condition, RefundTender, Return, ReturnLine, ReturnReason, ReturnWindow

NUMBER_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
MAX_QUANTITY = 10_000
MAX_LINES = 200
OVERRIDE_PERMISSION = "returns.override_return_window"
OTHER_TENDER_PERMISSION = "returns.refund_other_tender"
# Tenders staff may refund to instead of the original ones (with a reason, as a manager).
OTHER_TENDERS = ("cash", "card", "gift_card", "store_credit")
# Money paid back on the spot at the desk or till; card tenders of a provider are refunded
# through it.
DESK_PROVIDERS = ("desk", "till", "")


@dataclass(frozen=True)
class LineInput:
    sku: str
    quantity: int
    condition: str = Condition.RESALEABLE


@dataclass(frozen=True)
class ExchangeInput:
    """The new sale of an exchange: SKUs and quantities, and how a difference is paid."""

    lines: tuple[tuple[str, int], ...]
    payment_kind: str = ""  # cash or card, when the new items cost more
    payment_reference: str = ""


@dataclass
class PlannedLine:
    order_line: Any
    index: int  # position among the order's lines (the earn's per-line record)
    quantity: int
    condition: str
    value: Decimal = Decimal(0)
    points: int = 0


@dataclass
class Plan:
    """What a return would do: for the desk's preview and for `_complete` itself."""

    order: Any
    lines: list[PlannedLine]
    currency: str
    value: Decimal
    points_part: Decimal  # money value given back as points
    money: Decimal  # money value given back as money, before any shortfall
    points_back: int  # spent points given back
    points_reversed: int  # earned points to take back
    tender_parts: list[tuple[domain.Room, Decimal]] = field(default_factory=list)
    window_closed: list[dict[str, Any]] = field(default_factory=list)


# --- inputs --------------------------------------------------------------------------


def _clean_reason(reason: Any) -> str:
    if reason not in ReturnReason.values:
        raise ValidationFailed(
            _("Unknown return reason."),
            code="invalid_reason",
            details={"reason": str(reason)[:40], "allowed": list(ReturnReason.values)},
        )
    return reason


def _clean_lines(lines: Any, *, with_condition: bool = True) -> list[LineInput]:
    if not isinstance(lines, list | tuple) or not lines:
        raise ValidationFailed(_("Name at least one line to return."), code="lines_required")
    if len(lines) > MAX_LINES:
        raise ValidationFailed(
            _("Too many lines."), code="too_many_lines", details={"max": MAX_LINES}
        )
    cleaned, problems = [], {}
    for index, line in enumerate(lines):
        if isinstance(line, LineInput):
            line = {"sku": line.sku, "quantity": line.quantity, "condition": line.condition}
        if not isinstance(line, dict):
            problems[str(index)] = "must be an object"
            continue
        sku, quantity = line.get("sku"), line.get("quantity")
        condition = line.get("condition") or Condition.RESALEABLE
        if not isinstance(sku, str) or not sku.strip() or len(sku) > 64 or not sku.isprintable():
            problems[str(index)] = "sku must be a SKU"
        elif isinstance(quantity, bool) or not isinstance(quantity, int):
            problems[str(index)] = "quantity must be a whole number"
        elif not 1 <= quantity <= MAX_QUANTITY:
            problems[str(index)] = f"quantity must be from 1 to {MAX_QUANTITY}"
        elif with_condition and condition not in Condition.values:
            problems[str(index)] = f"condition must be one of {', '.join(Condition.values)}"
        else:
            cleaned.append(LineInput(sku.strip(), quantity, condition))
    if problems:
        raise ValidationFailed(
            _("Some return lines are not valid."),
            code="invalid_return_lines",
            details={"lines": problems},
        )
    return cleaned


def _receiving_location(location: Any, staff_location_ids: set[int] | None):
    found = (
        location
        if hasattr(location, "pk")
        else inventory_selectors.location_get(code_or_id=location, include_inactive=False)
    )
    if not found.is_active or (
        staff_location_ids is not None and found.pk not in staff_location_ids
    ):
        raise ValidationFailed(
            _("Returns are received at an active location you work at."),
            code="invalid_location",
            details={"location": getattr(found, "code", str(location))},
        )
    return found


def _new_number() -> str:
    while True:
        number = "R-" + "".join(secrets.choice(NUMBER_ALPHABET) for _ in range(8))
        if not Return.objects.filter(number=number).exists():
            return number


def order_find(*, reference: str):
    """The order a receipt names: its number, or a till sale's UUID. Raises OrderNotFound."""
    order = order_selectors.order_for_return(reference=str(reference or "")[:64])
    if order is None:
        raise OrderNotFound(details={"order": str(reference)[:64]})
    return order


# --- the plan: pure arithmetic over what the database says ------------------------------


def _returned_so_far(order, *, exclude_id: int | None = None) -> tuple[dict, dict]:
    return selectors.units_returned(order=order, exclude_id=exclude_id)


def _match_lines(order, lines: list[LineInput], claimed: dict[int, int]) -> list[PlannedLine]:
    """Each requested SKU spread over the order's lines of that SKU, oldest first."""
    order_lines = list(order.lines.select_related("variant__product").order_by("id"))
    by_sku: dict[str, list[tuple[int, Any]]] = defaultdict(list)
    for index, line in enumerate(order_lines):
        by_sku[line.sku.upper()].append((index, line))
    unknown = [line.sku for line in lines if line.sku.upper() not in by_sku]
    if unknown:
        raise ReturnLineUnknown(details={"order": order.number, "skus": unknown})
    planned: list[PlannedLine] = []
    left = {line.pk: line.quantity - claimed.get(line.pk, 0) for line in order_lines}
    over = []
    for wanted in lines:
        need = wanted.quantity
        for index, line in by_sku[wanted.sku.upper()]:
            take = min(need, left[line.pk])
            if take > 0:
                planned.append(PlannedLine(line, index, take, wanted.condition))
                left[line.pk] -= take
                need -= take
        if need:
            bought = sum(line.quantity for _i, line in by_sku[wanted.sku.upper()])
            over.append(
                {
                    "sku": wanted.sku,
                    "bought": bought,
                    "returnable": wanted.quantity - need,
                    "requested": wanted.quantity,
                }
            )
    if over:
        raise ReturnExceedsPurchase(details={"order": order.number, "lines": over})
    return planned


def _windows_closed(order, planned: list[PlannedLine], *, at: datetime) -> list[dict]:
    completed_at = order_selectors.order_completed_at(order=order)
    windows = dict(ReturnWindow.objects.values_list("category_id", "days"))
    ancestors = catalog_selectors.category_ancestor_map() if windows else {}
    closed = []
    for line in planned:
        category_id = line.order_line.variant.product.category_id
        days = next(
            (windows[c] for c in ancestors.get(category_id, ()) if c in windows),
            settings.RETURN_WINDOW_DAYS,
        )
        if at > completed_at + timedelta(days=days):
            closed.append(
                {
                    "sku": line.order_line.sku,
                    "days": days,
                    "closed_at": (completed_at + timedelta(days=days)).isoformat(),
                }
            )
    return closed


def _tender_rooms(order) -> tuple[list[domain.Room], dict[int, Any], dict[int, Decimal]]:
    """The order's captured tenders and what each can still give back."""
    tenders = {t.pk: t for t in order.tenders.filter(status="captured").order_by("id")}
    refunded = dict(
        RefundTender.objects.filter(original_tender_id__in=list(tenders))
        .exclude(status=RefundTender.State.FAILED)
        .values("original_tender_id")
        .annotate(total=Sum("amount"))
        .values_list("original_tender_id", "total")
    )
    rooms = [
        domain.Room(pk, t.kind, t.amount - (refunded.get(pk) or Decimal(0)))
        for pk, t in tenders.items()
    ]
    return rooms, tenders, {pk: refunded.get(pk) or Decimal(0) for pk in tenders}


def _tender_points(tender, order) -> int:
    try:
        return int(tender.provider_reference)
    except (TypeError, ValueError):
        return order.points_redeemed


def plan(
    *,
    order,
    lines: list[LineInput],
    exclude_id: int | None = None,
    at: datetime | None = None,
) -> Plan:
    """What returning `lines` of `order` is worth and how it goes back (no writes, no locks;
    `_complete` plans again under the order's lock). Raises ReturnLineUnknown,
    ReturnExceedsPurchase."""
    at = at or timezone.now()
    completed, claimed = _returned_so_far(order, exclude_id=exclude_id)
    planned = _match_lines(order, lines, claimed)
    currency = order.currency
    counted: dict[int, int] = defaultdict(int)
    for line in planned:
        before = completed.get(line.order_line.pk, 0) + counted[line.order_line.pk]
        line.value = domain.units_value(
            line.order_line.line_total,
            quantity=line.order_line.quantity,
            before=before,
            now=line.quantity,
            currency=currency,
        )
        counted[line.order_line.pk] += line.quantity
    value = sum((line.value for line in planned), quantize(Decimal(0), currency))

    all_lines = list(order.lines.order_by("id").values_list("line_total", flat=True))
    earned = loyalty_selectors.earned_by_line(reference=order.reference, weights=all_lines)
    if earned:
        counted.clear()
        for line in planned:
            before = completed.get(line.order_line.pk, 0) + counted[line.order_line.pk]
            line.points = domain.points_share(
                earned[line.index],
                quantity=line.order_line.quantity,
                before=before,
                now=line.quantity,
            )
            counted[line.order_line.pk] += line.quantity

    rooms, tenders, refunded = _tender_rooms(order)
    parts, leftover = domain.split(value, rooms)
    if leftover > 0:
        # Tenders that do not cover the total (a till's gift voucher, rounding): the rest
        # is paid out in cash at the desk.
        parts.append((domain.Room(0, "cash", leftover), leftover))
    points_part = sum((amount for room, amount in parts if room.kind == "points"), Decimal(0))
    points_back = sum(
        domain.proportional_points(
            _tender_points(tenders[room.key], order),
            amount=tenders[room.key].amount,
            done=refunded[room.key],
            now=amount,
        )
        for room, amount in parts
        if room.kind == "points"
    )
    return Plan(
        order=order,
        lines=planned,
        currency=currency,
        value=value,
        points_part=quantize(points_part, currency),
        money=quantize(value - points_part, currency),
        points_back=points_back,
        points_reversed=sum(line.points for line in planned),
        tender_parts=parts,
        window_closed=_windows_closed(order, planned, at=at),
    )


# --- writes ----------------------------------------------------------------------------


def _check_returnable(order) -> None:
    # A fully returned order is still a completed sale: asking for more of it is refused
    # for its units (return_exceeds_purchase, naming what is left: nothing), exactly as
    # for a partly returned one, whichever return took its last unit.
    if order.status not in RETURNABLE and order.status != Status.RETURNED:
        raise OrderNotReturnable(details={"order": order.number, "status": order.status})


def _has_perm(user, permission: str) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False)) and user.has_perm(
        permission
    )


def _check_refund_to(refund_to: str, refund_to_reason: str, user) -> None:
    """Another tender than was paid: a known one, with a reason, by a manager."""
    if not refund_to:
        return
    if refund_to not in OTHER_TENDERS:
        raise ValidationFailed(
            _("Unknown refund tender."),
            code="invalid_refund_tender",
            details={"refund_to": str(refund_to)[:20], "allowed": list(OTHER_TENDERS)},
        )
    if not (refund_to_reason or "").strip() or not _has_perm(user, OTHER_TENDER_PERMISSION):
        raise RefundTenderNotAllowed(details={"refund_to": refund_to})


def _exchange_quote(order, exchange: ExchangeInput | None, at: datetime):
    if exchange is None or not exchange.lines:
        return None
    return pricing_selectors.quote(
        [{"sku": sku, "quantity": quantity} for sku, quantity in exchange.lines],
        customer=order.customer_id,
        at=at,
    )


@transaction.atomic
def return_create(
    *,
    order,
    location,
    reason: str,
    lines: list[LineInput] | list[dict],
    source: str = Return.Source.STAFF_API,
    user=None,
    note: str = "",
    override_reason: str = "",
    refund_to: str = "",
    refund_to_reason: str = "",
    exchange: ExchangeInput | None = None,
    till_refund: list[tuple[str, Decimal]] | None = None,
    terminal: str = "",
    pos_sale=None,
    enforce_window: bool = True,
    staff_location_ids: set[int] | None = None,
) -> Return:
    """Take goods of a completed order back at `location` now, refund them, move the stock
    and the points; with `exchange`, sell the new items in the same step.

    `override_reason` accepts goods past their return window (permission
    `returns.override_return_window`); `refund_to` pays the money back in another tender
    than was paid, with `refund_to_reason` (permission `returns.refund_other_tender`).
    `till_refund` is what a till already paid out (kind, amount): recorded as given.
    Locks as the module says. Raises OrderNotReturnable, ReturnLineUnknown,
    ReturnExceedsPurchase, ReturnWindowClosed, RefundTenderNotAllowed,
    ExchangePaymentRequired, ValidationFailed; pricing errors for exchange SKUs.
    """
    reason = _clean_reason(reason)
    cleaned = _clean_lines(lines)
    location = _receiving_location(location, staff_location_ids)
    _check_refund_to(refund_to, refund_to_reason, user)
    if override_reason and not _has_perm(user, OVERRIDE_PERMISSION):
        raise ReturnWindowClosed(
            _("Only a store manager can accept a return after its window."),
            details={"override": "permission_required"},
        )
    order = order_services.order_lock(order_id=order.pk)
    _check_returnable(order)
    now = timezone.now()
    ret = Return(
        number=_new_number(),
        order=order,
        status=Return.Status.COMPLETED,
        source=source,
        location=location,
        reason=reason,
        note=(note or "")[:255],
        currency=order.currency,
        processed_by=user if getattr(user, "is_authenticated", False) else None,
        terminal=(terminal or "")[:32],
        pos_sale=pos_sale,
    )
    return _complete(
        ret,
        order=order,
        lines=cleaned,
        window_at=now,
        enforce_window=enforce_window,
        override_reason=override_reason,
        refund_to=refund_to,
        refund_to_reason=refund_to_reason,
        exchange=exchange,
        till_refund=till_refund,
        user=user,
        now=now,
    )


def _complete(
    ret: Return,
    *,
    order,
    lines: list[LineInput],
    window_at: datetime,
    enforce_window: bool,
    override_reason: str,
    refund_to: str,
    refund_to_reason: str,
    exchange: ExchangeInput | None,
    till_refund: list[tuple[str, Decimal]] | None,
    user,
    now: datetime,
) -> Return:
    planned = plan(order=order, lines=lines, exclude_id=ret.pk, at=window_at)
    if planned.window_closed and enforce_window:
        if not override_reason.strip():
            raise ReturnWindowClosed(
                details={"order": order.number, "lines": planned.window_closed}
            )
        ret.window_override_reason = override_reason.strip()[:255]
    elif planned.window_closed:
        ret.note = (ret.note + " " + _("Past the return window.")).strip()[:255]
    new_quote = _exchange_quote(order, exchange, now)
    ret.value = planned.value
    ret.save()  # the number is the reference of every ledger row below
    reference = ret.reference

    # 2. Stock: every level this return and its exchange touch, locked at once.
    location = ret.location
    returned = [(p.order_line.variant_id, p.quantity) for p in planned.lines]
    if new_quote is not None:
        inventory_services.stock_levels_lock(
            location=location,
            variant_ids={vid for vid, _q in returned} | {q.variant_id for q in new_quote.lines},
        )
    inventory_services.stock_return(
        lines=[
            (v, q)
            for p, (v, q) in zip(planned.lines, returned, strict=True)
            if p.condition == Condition.RESALEABLE
        ],
        damaged=[
            (v, q)
            for p, (v, q) in zip(planned.lines, returned, strict=True)
            if p.condition == Condition.DAMAGED
        ],
        location=location,
        reference=reference,
        actor=user if getattr(user, "is_authenticated", False) else None,
        reason=_("return %(number)s") % {"number": ret.number},
    )

    # 3. Points: spent points come back first, then what the returned units earned goes.
    if planned.points_back:
        loyalty_services.points_reverse(
            reference=order.reference,
            kind="redeem",
            points=planned.points_back,
            cause=reference,
            reason=_("returned goods of order %(n)s") % {"n": order.number},
        )
        ret.points_returned = planned.points_back
    shortfall = 0
    # Units that earned nothing (a line excluded from earning, or a unit whose share of a
    # few points rounds to 0) take back 0 points, but their money still lowers the tier
    # spend: a reversal of money only.
    if planned.points_reversed or planned.money > 0:
        reversals = loyalty_services.points_reverse(
            reference=order.reference,
            kind="earn",
            points=planned.points_reversed,
            amount_paid=planned.money,
            cause=reference,
            reason=_("returned goods of order %(n)s") % {"n": order.number},
        )
        for entry in reversals:
            shortfall += int((entry.details or {}).get("shortfall", 0))
            ret.points_reversed += -entry.points if entry.points < 0 else 0
    if shortfall:
        rules = loyalty_selectors.rules_in_force(at=now)
        point_value = rules.redemption_value if rules else Decimal(0)
        ret.points_shortfall = shortfall
        ret.shortfall_deduction = domain.shortfall_deduction(
            shortfall, point_value=point_value, limit=planned.money, currency=ret.currency
        )
    money = planned.money - ret.shortfall_deduction

    # 4. The exchange's new sale, paid first with the money of the returned goods.
    refunds: list[RefundTender] = []
    if new_quote is not None:
        credit = min(money, new_quote.total)
        difference = new_quote.total - credit
        if difference > 0 and (exchange.payment_kind not in ("cash", "card")):
            raise ExchangePaymentRequired(
                details={"difference": str(difference), "currency": ret.currency}
            )
        ret.exchange_order = _exchange_sale(
            ret,
            order=order,
            quote=new_quote,
            credit=credit,
            difference=difference,
            exchange=exchange,
            user=user,
            now=now,
        )
        if credit > 0:
            refunds.append(_refund(ret, "exchange", credit, now=now))
        if difference > 0 and exchange.payment_reference:
            paid = _("Difference %(amount)s paid by %(kind)s, slip %(slip)s.") % {
                "amount": difference,
                "kind": exchange.payment_kind,
                "slip": exchange.payment_reference[:40],
            }
            ret.note = f"{ret.note} {paid}".strip()[:255]
        money -= credit

    # 5. The money: back over the tenders it came from, or as the till or a manager says.
    if planned.points_part > 0:
        refunds.extend(
            _refund(ret, "points", amount, points=0, original=room.key, now=now)
            for room, amount in planned.tender_parts
            if room.kind == "points"
        )
        _spread_points(refunds, planned, order)
    if till_refund is not None:
        for kind, amount in till_refund:
            if amount > 0:
                refunds.append(_refund(ret, kind, amount, provider="till", now=now))
        paid_out = sum((amount for _k, amount in till_refund), Decimal(0))
        if quantize(paid_out, ret.currency) != quantize(money, ret.currency):
            ret.note = (
                ret.note
                + " "
                + _("The till paid out %(paid)s, the refund is %(due)s.")
                % {"paid": paid_out, "due": money}
            ).strip()[:255]
        money = quantize(paid_out, ret.currency)
    elif refund_to:
        if money > 0:
            refunds.append(
                _refund(ret, refund_to, money, provider="desk", reason=refund_to_reason, now=now)
            )
    else:
        money_rooms = [
            domain.Room(room.key, room.kind, amount)
            for room, amount in planned.tender_parts
            if room.kind != "points"
        ]
        parts, _left = domain.split(money, money_rooms)
        tenders = {t.pk: t for t in order.tenders.all()}
        for room, amount in parts:
            tender = tenders.get(room.key)
            # Goods bought with an exchange credit were paid by the earlier return's money:
            # that part is paid out in cash at the desk (the credit is not a tender a
            # customer can hold).
            paid_out_as_cash = room.kind == "exchange"
            refunds.append(
                _refund(
                    ret,
                    "cash" if paid_out_as_cash else room.kind,
                    amount,
                    original=room.key or None,
                    provider="desk" if paid_out_as_cash or tender is None else tender.provider,
                    now=now,
                )
            )
    RefundTender.objects.bulk_create(refunds)
    ret.refund_amount = quantize(money, ret.currency)
    ret.completed_at = now
    ret.status = Return.Status.COMPLETED
    ret.save()
    report_services.return_completed(
        ret,
        refunded=sum((r.amount for r in refunds if r.kind != "points"), Decimal(0)),
        units=sum(p.quantity for p in planned.lines),
        order=order,
    )
    ReturnLine.objects.bulk_create(
        ReturnLine(
            ret=ret,
            order_line=p.order_line,
            variant_id=p.order_line.variant_id,
            sku=p.order_line.sku,
            name=p.order_line.name,
            quantity=p.quantity,
            condition=p.condition,
            value=p.value,
            points_reversed=p.points,
        )
        for p in planned.lines
    )
    _done, claimed = _returned_so_far(order)
    fully = (
        all(claimed.get(line.pk, 0) >= line.quantity for line in order.lines.all())
        and not Return.objects.filter(order=order, status=Return.Status.REQUESTED).exists()
    )
    order_services.order_returned(
        order=order,
        fully=fully,
        note=_("return %(number)s at %(store)s")
        % {"number": ret.number, "store": ret.location.code},
        user=user,
        at=now,
    )
    if any(r.status == RefundTender.State.PENDING for r in refunds):
        from returns.tasks import return_refunds_execute

        enqueue_on_commit(return_refunds_execute, ret.pk)
    else:
        _notify_refund(ret, order)
    return ret


def _spread_points(refunds: list[RefundTender], planned: Plan, order) -> None:
    """Put the points given back on the points refund rows (one per points tender)."""
    rows = [r for r in refunds if r.kind == "points"]
    if rows:
        rows[0].points = planned.points_back


def _refund(
    ret: Return,
    kind: str,
    amount: Decimal,
    *,
    points: int = 0,
    original: int | None = None,
    provider: str = "",
    reason: str = "",
    now: datetime,
) -> RefundTender:
    pending = kind == "card" and provider not in DESK_PROVIDERS
    return RefundTender(
        ret=ret,
        kind=kind,
        amount=quantize(amount, ret.currency),
        points=points,
        currency=ret.currency,
        original_tender_id=original,
        provider=provider or ("desk" if kind not in ("points", "exchange") else ""),
        status=RefundTender.State.PENDING if pending else RefundTender.State.REFUNDED,
        reason=(reason or "")[:255],
        refunded_at=None if pending else now,
    )


def _exchange_sale(ret, *, order, quote, credit, difference, exchange, user, now):
    variants = catalog_selectors.variants_by_sku(skus=[q.sku for q in quote.lines])
    tenders = []
    if credit > 0:
        tenders.append(order_services.TillTender(kind="exchange", amount=credit))
    if difference > 0:
        tenders.append(order_services.TillTender(kind=exchange.payment_kind, amount=difference))
    sale = order_services.TillSale(
        reference=f"exchange:{ret.number}",
        occurred_at=now,
        cashier=(getattr(user, "get_username", lambda: "")() or "")[:32],
        customer=order.customer,
        lines=tuple(
            order_services.TillLine(
                variant_id=q.variant_id,
                sku=q.sku,
                name=str(variants[q.sku].name or variants[q.sku].product.name),
                category_id=variants[q.sku].product.category_id,
                quantity=q.quantity,
                unit_price=q.unit_price,
                discount=q.discount_total,
                vat_rate=q.vat_rate,
            )
            for q in quote.lines
        ),
        tenders=tuple(tenders),
    )
    record = order_services.till_sales_record(
        location=ret.location, sales=[sale], currency=quote.currency
    )
    return record.orders[sale.reference]


def _notify_refund(ret: Return, order) -> None:
    if order.customer_id or order.contact_email or order.contact_phone:
        order_services.order_notify_after_commit(
            order=order,
            event=f"refund_made:{ret.number}",
            extra=_("Return %(number)s: %(amount)s %(currency)s back, %(points)s points back.")
            % {
                "number": ret.number,
                "amount": ret.refund_amount,
                "currency": ret.currency,
                "points": ret.points_returned,
            },
        )


# --- customer requests -----------------------------------------------------------------


@transaction.atomic
def return_request(
    *,
    order,
    customer,
    location=None,
    reason: str,
    lines: list[dict],
    courier_pickup: bool = False,
    note: str = "",
) -> Return:
    """A customer says which goods of their order they will bring back (or have a courier
    fetch): recorded as a `requested` return that moves no stock, points or money, but
    whose units no other return may take. Only the order's owner may ask; the window is
    checked now. Locks the order row. Raises OrderNotFound (not theirs), as return_create.
    """
    if order.customer_id is None or customer is None or order.customer_id != customer.pk:
        raise OrderNotFound(details={"order": order.number})
    reason = _clean_reason(reason)
    cleaned = [
        LineInput(line.sku, line.quantity) for line in _clean_lines(lines, with_condition=False)
    ]
    if courier_pickup and location in (None, ""):
        location = order.location
    if location in (None, ""):
        raise ValidationFailed(
            _("Say which store you will bring the goods to, or ask for a courier pickup."),
            code="location_required",
        )
    location = _receiving_location(location, None)
    order = order_services.order_lock(order_id=order.pk)
    _check_returnable(order)
    planned = plan(order=order, lines=cleaned)
    if planned.window_closed:
        raise ReturnWindowClosed(details={"order": order.number, "lines": planned.window_closed})
    ret = Return.objects.create(
        number=_new_number(),
        order=order,
        status=Return.Status.REQUESTED,
        source=Return.Source.CUSTOMER,
        location=location,
        courier_pickup=bool(courier_pickup),
        reason=reason,
        note=(note or "")[:255],
        currency=order.currency,
        value=planned.value,
    )
    ReturnLine.objects.bulk_create(
        ReturnLine(
            ret=ret,
            order_line=p.order_line,
            variant_id=p.order_line.variant_id,
            sku=p.order_line.sku,
            name=p.order_line.name,
            quantity=p.quantity,
            condition=Condition.RESALEABLE,
            value=p.value,
        )
        for p in planned.lines
    )
    order_services.order_notify_after_commit(
        order=order,
        event=f"return_received:{ret.number}",
        extra=_("Return %(number)s: bring the goods to %(store)s.")
        % {"number": ret.number, "store": location.name},
    )
    return ret


@transaction.atomic
def return_request_complete(
    *,
    ret: Return,
    user,
    lines: list[dict] | None = None,
    location=None,
    refund_to: str = "",
    refund_to_reason: str = "",
    staff_location_ids: set[int] | None = None,
) -> Return:
    """Staff take in the goods of a customer's request: as asked, or with the quantities
    and conditions they find (`lines`). The window is the one at the time of the request.
    Locks the order row, then as `return_create`. Raises ReturnNotRequested and as
    `return_create`."""
    order = order_services.order_lock(order_id=ret.order_id)
    # Only the return's row: a join locked FOR UPDATE would lock its store's row as well,
    # which every sale and order of that store references (FOR KEY SHARE) — a deadlock.
    ret = Return.objects.select_for_update(of=("self",)).select_related("location").get(pk=ret.pk)
    if ret.status != Return.Status.REQUESTED:
        raise ReturnNotRequested(details={"return": ret.number, "status": ret.status})
    if staff_location_ids is not None and location in (None, ""):
        if ret.location_id not in staff_location_ids:
            raise ReturnNotRequested(
                _("This request is for another store."), details={"return": ret.number}
            )
    if location not in (None, ""):
        ret.location = _receiving_location(location, staff_location_ids)
    _check_refund_to(refund_to, refund_to_reason, user)
    _check_returnable(order)
    if lines is None:
        cleaned = [LineInput(line.sku, line.quantity, line.condition) for line in ret.lines.all()]
    else:
        cleaned = _clean_lines(lines)
    ret.lines.all().delete()
    ret.processed_by = user if getattr(user, "is_authenticated", False) else None
    ret.source = Return.Source.CUSTOMER
    now = timezone.now()
    return _complete(
        ret,
        order=order,
        lines=cleaned,
        window_at=ret.created_at,
        enforce_window=True,
        override_reason="",
        refund_to=refund_to,
        refund_to_reason=refund_to_reason,
        exchange=None,
        till_refund=None,
        user=user,
        now=now,
    )


@transaction.atomic
def return_exchange_link(*, ret: Return, order) -> Return:
    """Name the new sale a till recorded for an exchange with this return (the till
    settles the exchange itself: its sale is recorded next to the return)."""
    Return.objects.filter(pk=ret.pk).update(exchange_order=order)
    ret.exchange_order = order
    return ret


@transaction.atomic
def return_request_cancel(
    *, ret: Return, user=None, customer=None, staff_location_ids: set[int] | None = None
) -> Return:
    """Withdraw an open request (by its customer, or by staff of the store it is for): its
    units are free again. Locks the return's row. Raises ReturnNotRequested."""
    ret = Return.objects.select_for_update().get(pk=ret.pk)
    if customer is not None and ret.order.customer_id != customer.pk:
        raise ReturnNotRequested(details={"return": ret.number})
    if staff_location_ids is not None and ret.location_id not in staff_location_ids:
        raise ReturnNotRequested(
            _("This request is for another store."), details={"return": ret.number}
        )
    if ret.status != Return.Status.REQUESTED:
        raise ReturnNotRequested(details={"return": ret.number, "status": ret.status})
    ret.status = Return.Status.CANCELLED
    ret.processed_by = user if getattr(user, "is_authenticated", False) else ret.processed_by
    ret.save(update_fields=["status", "processed_by"])
    return ret


# --- provider refunds, after commit ----------------------------------------------------


def return_refunds_execute(*, return_id: int) -> int:
    """Refund the pending card parts of a return through their payment provider.

    Each refund row is claimed under its lock and marked refunded in the same
    transaction as the provider call returns, so a retried task never refunds twice (a
    provider error leaves the row pending for the retry; after 5 attempts it is `failed`
    and shown to staff). Sends the "refund made" message once nothing is pending.
    Returns the number of refunds made by this call.
    """
    done = 0
    pending = RefundTender.objects.filter(ret_id=return_id, status=RefundTender.State.PENDING)
    for refund_id in pending.values_list("pk", flat=True):
        with transaction.atomic():
            refund = (
                RefundTender.objects.select_for_update(of=("self",))
                .select_related("original_tender")
                .filter(pk=refund_id, status=RefundTender.State.PENDING)
                .first()
            )
            if refund is None:
                continue
            refund.attempts += 1
            try:
                reference = payment_provider(refund.provider).refund(
                    authorization=refund.original_tender.provider_reference,
                    amount=refund.amount,
                )
            except Exception as exc:  # the provider's error: retried, then shown to staff
                refund.error = str(exc)[:255]
                if refund.attempts >= 5:
                    refund.status = RefundTender.State.FAILED
                refund.save(update_fields=["attempts", "error", "status"])
                if refund.status == RefundTender.State.FAILED:
                    continue
                raise
            refund.provider_reference = str(reference)[:100]
            refund.status = RefundTender.State.REFUNDED
            refund.refunded_at = timezone.now()
            refund.error = ""
            refund.save(
                update_fields=["attempts", "provider_reference", "status", "refunded_at", "error"]
            )
            done += 1
    ret = Return.objects.select_related("order").get(pk=return_id)
    if not ret.refunds.filter(status=RefundTender.State.PENDING).exists():
        with transaction.atomic():
            _notify_refund(ret, ret.order)
    return done


def refunds_retry_pending(*, older_than_minutes: int = 10) -> int:
    """Beat task: queue again the returns whose card refunds are still pending."""
    from returns.tasks import return_refunds_execute as task

    cutoff = timezone.now() - timedelta(minutes=older_than_minutes)
    ids = list(
        RefundTender.objects.filter(status=RefundTender.State.PENDING, created_at__lt=cutoff)
        .values_list("ret_id", flat=True)
        .distinct()
    )
    for return_id in ids:
        enqueue_on_commit(task, return_id)
    return len(ids)
