"""POS writes: terminals (register, revoke, acknowledge a cursor) and sale sync.

Tokens are 32 random bytes, stored as their SHA-256: a leaked database does not let
anyone act as a till, and a revoked terminal is refused on its very next request.

A synced sale with returned lines (negative quantities) is a return at the till's store,
taken by `returns.services.return_create`; with sold lines too, it is an exchange.
"""

import hashlib
import secrets
import uuid
from dataclasses import dataclass, replace
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from catalog import selectors as catalog_selectors
from core.errors import DomainError
from core.money import quantize
from customers import selectors as customer_selectors
from customers import services as customer_services
from customers.domain import normalize_card_number, normalize_phone
from inventory import services as inventory_services
from inventory.models import Location
from ops import metrics as ops_metrics
from orders import services as order_services
from orders.services import TillLine, TillSale, TillTender
from pos import loyalty as pos_loyalty
from pos.domain import RawSale, SaleRejected, sale_parse
from pos.errors import TerminalCodeTaken
from pos.models import PosSale, PriceDiscrepancy, Terminal
from pricing import selectors as pricing_selectors
from pricing import services as pricing_services
from returns import services as return_services


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token() -> str:
    return secrets.token_urlsafe(32)


@transaction.atomic
def terminal_register(*, code: str, location: Location, name: str = "") -> tuple[Terminal, str]:
    """Register a till of `location`; returns it and its token (shown this once only).

    Raises TerminalCodeTaken (409).
    """
    token = _new_token()
    try:
        with transaction.atomic():
            terminal = Terminal.objects.create(
                code=code.strip(),
                name=name.strip(),
                location=location,
                token_hash=token_hash(token),
                token_hint=token[:6],
            )
    except IntegrityError as exc:
        raise TerminalCodeTaken(details={"code": code}) from exc
    return terminal, token


@transaction.atomic
def terminal_token_reissue(*, terminal: Terminal) -> str:
    """A new token for the till (the old one stops working at once); returned once."""
    token = _new_token()
    Terminal.objects.filter(pk=terminal.pk).update(
        token_hash=token_hash(token), token_hint=token[:6], is_active=True, revoked_at=None
    )
    return token


@transaction.atomic
def terminal_rename(*, terminal: Terminal, name: str) -> Terminal:
    """Change the till's display name (its code, store and token stay)."""
    Terminal.objects.filter(pk=terminal.pk).update(name=(name or "").strip()[:100])
    terminal.refresh_from_db(fields=["name"])
    return terminal


@transaction.atomic
def terminal_revoke(*, terminal: Terminal) -> Terminal:
    """Refuse the till from its next request on (a lost or stolen device)."""
    locked = Terminal.objects.select_for_update().get(pk=terminal.pk)
    if locked.is_active:
        locked.is_active = False
        locked.revoked_at = timezone.now()
        locked.save(update_fields=["is_active", "revoked_at"])
    return locked


def terminal_synced(*, terminal: Terminal, feed: str, cursor: str) -> None:
    """Remember the cursor a till was last given for `feed` and when it was last seen.

    Called by the feed endpoints after they answer; one UPDATE, no lock: the last writer
    wins, which is the newest cursor of a single till.
    """
    cursors = dict(terminal.last_cursor or {})
    cursors[feed] = cursor
    Terminal.objects.filter(pk=terminal.pk).update(last_cursor=cursors, last_seen_at=timezone.now())


# --- sale sync -------------------------------------------------------------------------

MAX_BATCH = 500


@dataclass(frozen=True)
class SaleResult:
    id: str
    status: str  # created | duplicate | rejected
    reason: str = ""
    order: str = ""
    return_number: str = ""  # a sale with returned lines: the return it made

    def as_dict(self) -> dict[str, str]:
        body = {"id": self.id, "status": self.status, "order": self.order}
        if self.reason:
            body["reason"] = self.reason
        if self.return_number:
            body["return"] = self.return_number
        return body


def sales_sync(*, terminal: Terminal, sales: list) -> list[SaleResult]:
    """Record a batch of till sales exactly once each; answer per sale.

    Each sale is checked on its own (a bad one is `rejected` with a reason and never blocks
    the others), then the good ones are recorded in one transaction: their UUIDs are
    claimed with `INSERT … ON CONFLICT DO NOTHING RETURNING` (a UUID already recorded —
    by this request's retry or by one running at the same moment, which waits on the
    unique index — is a `duplicate`), and only the claimed ones become orders, stock sales,
    coupon uses and points (`orders.services.till_sales_record`). Replaying a batch any
    number of times, in any order, records nothing after the first time.

    Sales with returned lines come after the batch, one by one, each in its own
    transaction (`_return_record`): a return the returns service refuses is `rejected`
    with its error code and records nothing, and never undoes the batch or another return.
    """
    now = timezone.now()
    results: dict[str, SaleResult] = {}
    parsed: dict[uuid.UUID, RawSale] = {}
    for index, raw in enumerate(sales[:MAX_BATCH]):
        sale_id = str(raw.get("id")) if isinstance(raw, dict) else f"#{index}"
        try:
            sale = sale_parse(raw, now=now)
        except SaleRejected as rejected:
            results[sale_id[:64]] = SaleResult(sale_id[:64], "rejected", rejected.reason)
            continue
        if sale.id in parsed or str(sale.id) in results:
            continue  # the same sale twice in one batch: one answer, recorded once
        parsed[sale.id] = sale
    # A replay is answered from the sale rows alone (one read), without resolving anything;
    # the claim below still decides for sales that arrive twice at the same moment.
    results.update(_known(terminal=terminal, ids=list(parsed)))
    fresh = [sale for sale in parsed.values() if str(sale.id) not in results]
    resolved = _resolve(terminal=terminal, sales=fresh, results=results)
    plain = [r for r in resolved if not r.raw.returned]
    if plain:
        results.update(_record(terminal=terminal, sales=plain, now=now))
    for r in resolved:
        if r.raw.returned:
            results[str(r.raw.id)] = _return_record(terminal=terminal, resolved=r, now=now)
    order = [
        (str(raw.get("id")) if isinstance(raw, dict) else f"#{i}")[:64]
        for i, raw in enumerate(sales[:MAX_BATCH])
    ]
    answered = [results[key] for key in dict.fromkeys(order) if key in results]
    ops_metrics.pos_sales_synced(answered)
    return answered


def _known(*, terminal: Terminal, ids: list[uuid.UUID]) -> dict[str, SaleResult]:
    """Sales already recorded: `duplicate` (with their order) for this terminal's,
    `rejected` (terminal_mismatch) for another terminal's."""
    known = {}
    rows = PosSale.objects.filter(id__in=ids).values_list(
        "id", "terminal_id", "order_number", "flags"
    )
    for sale_id, terminal_id, number, flags in rows:
        key = str(sale_id)
        if terminal_id == terminal.pk:
            known[key] = SaleResult(
                key, "duplicate", order=number, return_number=(flags or {}).get("return", "")
            )
        else:
            known[key] = SaleResult(key, "rejected", "terminal_mismatch")
    return known


@dataclass(frozen=True)
class _Resolved:
    raw: RawSale
    sale: TillSale


def _resolve(*, terminal: Terminal, sales: list[RawSale], results: dict) -> list[_Resolved]:
    """Variants by SKU or barcode and customers by phone, card or id — each in one query."""
    skus = {line.sku for sale in sales for line in sale.lines if line.sku}
    codes = {line.barcode for sale in sales for line in sale.lines if not line.sku}
    by_sku = catalog_selectors.variants_by_sku(skus=skus) if skus else {}
    by_code = catalog_selectors.variants_by_barcode(codes=codes) if codes else {}
    identifiers = {"phone": set(), "card": set(), "id": set()}
    wanted: dict[uuid.UUID, tuple[str, Any]] = {}
    for sale in sales:
        if not sale.customer:
            continue
        ((kind, value),) = sale.customer.items()
        try:
            if kind == "phone":
                value = normalize_phone(value)
            elif kind == "card":
                value = normalize_card_number(value)
        except DomainError:
            continue  # an unreadable identifier: the sale stays anonymous, it still happened
        identifiers[kind].add(value)
        wanted[sale.id] = (kind, value)
    known = customer_selectors.customers_identify(
        phones=identifiers["phone"], cards=identifiers["card"], ids=identifiers["id"]
    )
    resolved = []
    for sale in sales:
        lines, unknown = [], None
        for line in sale.lines:
            variant = by_sku.get(line.sku) if line.sku else by_code.get(line.barcode)
            if variant is None:
                unknown = line.sku or line.barcode
                break
            lines.append(
                TillLine(
                    variant_id=variant.pk,
                    sku=variant.sku,
                    name=str(variant.name or variant.product.name),
                    category_id=variant.product.category_id,
                    quantity=line.quantity,
                    unit_price=line.unit_price,
                    discount=line.discount,
                    vat_rate=variant.vat_rate,
                )
            )
        if unknown is not None:
            results[str(sale.id)] = SaleResult(str(sale.id), "rejected", f"unknown_sku:{unknown}")
            continue
        customer = None
        if sale.id in wanted:
            kind, value = wanted[sale.id]
            customer = known.get((kind, value))
            if customer is None and kind == "phone":
                # First seen at this till: a profile to collect points on (no login).
                customer = customer_services.customer_get_or_create(phone=value, source="pos")
        resolved.append(
            _Resolved(
                raw=sale,
                sale=TillSale(
                    reference=f"pos:{sale.id}",
                    occurred_at=sale.occurred_at,
                    cashier=sale.cashier,
                    customer=customer,
                    lines=tuple(lines),
                    tenders=tuple(TillTender(t.kind, t.amount, t.points) for t in sale.tenders),
                ),
            )
        )
    return resolved


def _claim(*, terminal: Terminal, claims: list[tuple[RawSale, str, int | None]]) -> set[str]:
    """Insert the sale rows that are new — (sale, the number of the order it names, the
    customer id) — and return the ids inserted (ON CONFLICT DO NOTHING RETURNING: a sale
    already there is not claimed; one being claimed at this moment is waited for)."""
    table = PosSale._meta.db_table
    rows = [
        (
            str(raw.id) if connection.vendor == "postgresql" else raw.id.hex,
            terminal.pk,
            number,
            raw.occurred_at,
            timezone.now(),
            raw.cashier,
            customer_id,
        )
        for raw, number, customer_id in claims
    ]
    placeholders = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, '{}')"] * len(rows))
    sql = (
        f"INSERT INTO {table} (id, terminal_id, order_number, occurred_at, recorded_at, "
        f"cashier, customer_id, flags) VALUES {placeholders} "
        "ON CONFLICT (id) DO NOTHING RETURNING id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [value for row in rows for value in row])
        return {str(uuid.UUID(str(row[0]))) for row in cursor.fetchall()}


def _customer_id(r: _Resolved) -> int | None:
    return r.sale.customer.pk if r.sale.customer else None


def _record(*, terminal: Terminal, sales: list[_Resolved], now) -> dict[str, SaleResult]:
    results: dict[str, SaleResult] = {}
    with transaction.atomic():
        numbers = order_services.order_numbers_new(count=len(sales))
        number_of = {r.raw.id: n for r, n in zip(sales, numbers, strict=True)}
        claimed = _claim(
            terminal=terminal,
            claims=[(r.raw, number_of[r.raw.id], _customer_id(r)) for r in sales],
        )
        fresh = [r for r in sales if str(r.raw.id) in claimed]
        others = [r for r in sales if str(r.raw.id) not in claimed]
        if others:
            results.update(_known(terminal=terminal, ids=[r.raw.id for r in others]))
        if not fresh:
            return results
        record = _record_claimed(
            terminal=terminal, sales=fresh, numbers=[number_of[r.raw.id] for r in fresh], now=now
        )
        for r in fresh:
            number = record.orders[r.sale.reference].number
            results[str(r.raw.id)] = SaleResult(str(r.raw.id), "created", order=number)
    return results


def _record_claimed(
    *,
    terminal: Terminal,
    sales: list[_Resolved],
    numbers: list[str],
    now,
    extra_flags: dict[str, dict] | None = None,
):
    """Orders, stock, points, price checks and coupon uses of claimed sales; their flags.
    Runs inside the claiming transaction."""
    record = order_services.till_sales_record(
        location=terminal.location,
        sales=[r.sale for r in sales],
        currency=pricing_selectors.currency_default(),
        numbers=numbers,
    )
    # Points tendered and holds named, after stock and earns, before coupon counters.
    points_flags = pos_loyalty.sales_points_redeem(sales=sales, record=record)
    # Priced by the engine before the coupon uses are recorded: a sale's own use must
    # not count against its coupon's limits (a valid coupon sale is no discrepancy).
    price_flags: dict[str, dict] = {r.sale.reference: {} for r in sales}
    _discrepancies(terminal=terminal, sales=sales, record=record, flags=price_flags)
    flags = _facts(terminal=terminal, sales=sales, record=record)
    for reference, flag in points_flags.items():
        flags[reference]["points"] = flag
    for reference, found in price_flags.items():
        flags[reference].update(found)
    for reference, found in (extra_flags or {}).items():
        flags[reference].update(found)
    _save_sales(sales=sales, record=record, flags=flags)
    Terminal.objects.filter(pk=terminal.pk).update(
        last_seen_at=now, last_sale_at=max(r.raw.occurred_at for r in sales)
    )
    return record


# --- returns and exchanges at the till ---------------------------------------------------


def _return_record(*, terminal: Terminal, resolved: _Resolved, now) -> SaleResult:
    """A sale with returned lines: a return at the till's store, in its own transaction.

    The returned lines go back through `returns.services.return_create` against the order
    the sale names (`original`: its number or its till sale's UUID), without the return
    window (the till already took the goods), with the money the till paid out (the
    negative tenders) recorded as refunded by the till. Stock comes back at the till's
    store; points follow from the service (spent points back, earned points reversed).

    An exchange — returned and sold lines in one sale — is kept simple: the sold lines
    are an ordinary till sale of this UUID (its order is the sale's `order`) paid by its
    positive tenders plus an `exchange` tender of what the returned goods pay for them
    (sold total − positive tenders, checked ≥ 0 by `sale_parse`); the return records
    that credit as an `exchange` refund next to the money paid out. The customer of the
    new sale is the one the till identified, else the original order's.

    Locks the original order's row first (returns of one order, from any till or desk,
    run one at a time), for an exchange then the store's levels of every returned and sold
    item at once, then claims the sale's UUID (a replay or a concurrent copy finds it
    taken: `duplicate`); stock levels, points accounts and coupon counters follow in the
    services, in the global lock order. A refusal
    of the returns service (`order_not_found`, `order_not_returnable`,
    `return_exceeds_purchase`, `return_line_unknown`, …) rolls all of it back: the sale is
    `rejected` with that code and nothing of it is recorded.
    """
    raw, key = resolved.raw, str(resolved.raw.id)
    returned = [line for line in resolved.sale.lines if line.quantity < 0]
    sold = tuple(line for line in resolved.sale.lines if line.quantity > 0)
    conditions = [line.condition for line in raw.returned]
    try:
        with transaction.atomic():
            found = return_services.order_find(reference=raw.original)
            order = order_services.order_lock(order_id=found.pk)
            if sold:
                inventory_services.stock_levels_lock(
                    location=terminal.location,
                    variant_ids={line.variant_id for line in (*returned, *sold)},
                )
            exchange = _exchange_part(resolved, sold=sold, order=order) if sold else None
            number = order_services.order_numbers_new(count=1)[0] if exchange else order.number
            customer_id = _customer_id(exchange) if exchange else order.customer_id
            if not _claim(terminal=terminal, claims=[(raw, number, customer_id)]):
                return _known(terminal=terminal, ids=[raw.id])[key]
            till_refund = list(raw.payouts)
            if raw.exchange_credit > 0:
                till_refund.append(("exchange", raw.exchange_credit))
            ret = return_services.return_create(
                order=order,
                location=terminal.location,
                reason=raw.reason or ("exchange" if exchange else "other"),
                lines=[
                    {
                        "sku": line.sku,
                        "quantity": -line.quantity,
                        "condition": condition or "resaleable",
                    }
                    for line, condition in zip(returned, conditions, strict=True)
                ],
                source="pos",
                user=None,
                note=f"till {terminal.code}, cashier {raw.cashier}"[:255],
                till_refund=till_refund,
                terminal=terminal.code,
                pos_sale=raw.id,
                enforce_window=False,
            )
            flags = {"return": ret.number}
            if exchange is None:
                PosSale.objects.filter(id=raw.id).update(flags=flags)
                Terminal.objects.filter(pk=terminal.pk).update(
                    last_seen_at=now, last_sale_at=raw.occurred_at
                )
                return SaleResult(key, "created", order=order.number, return_number=ret.number)
            record = _record_claimed(
                terminal=terminal,
                sales=[exchange],
                numbers=[number],
                now=now,
                extra_flags={exchange.sale.reference: flags},
            )
            new_order = record.orders[exchange.sale.reference]
            return_services.return_exchange_link(ret=ret, order=new_order)
            return SaleResult(key, "created", order=new_order.number, return_number=ret.number)
    except DomainError as refused:
        return SaleResult(key, "rejected", refused.code)


def _exchange_part(resolved: _Resolved, *, sold: tuple[TillLine, ...], order) -> _Resolved:
    """The sold lines of an exchange as a till sale of their own, paid by the positive
    tenders and the returned goods' credit."""
    raw = resolved.raw
    credit = raw.exchange_credit
    tenders = [t for t in raw.tenders if t.amount > 0 or (t.kind == "points" and t.points)]
    till_tenders = [TillTender(t.kind, t.amount, t.points) for t in tenders]
    if credit > 0:
        till_tenders.append(TillTender("exchange", credit))
    return _Resolved(
        raw=replace(raw, lines=raw.sold, tenders=tuple(tenders)),
        sale=replace(
            resolved.sale,
            customer=resolved.sale.customer or order.customer,
            lines=sold,
            tenders=tuple(till_tenders),
        ),
    )


def _facts(*, terminal: Terminal, sales: list[_Resolved], record) -> dict[str, dict]:
    """Coupon uses as facts (last in the lock order); what staff should look at, per sale."""
    flags: dict[str, dict] = {r.sale.reference: {} for r in sales}
    uses = [
        (code, r.sale.customer.pk if r.sale.customer else None, r.sale.reference)
        for r in sales
        for code in r.raw.coupons
    ]
    if uses:
        outcome = pricing_services.coupon_uses_record_facts(uses=uses)
        for reference, problem in outcome.items():
            if problem:
                flags[reference]["coupon"] = problem
    for short in record.short_levels:
        # The level is flagged in inventory; the sale that took it short says so too.
        for r in sales:
            if any(line.variant_id == short.variant_id for line in r.sale.lines):
                flags[r.sale.reference]["left_reservations_short"] = True
    return flags


def _discrepancies(*, terminal: Terminal, sales: list[_Resolved], record, flags) -> None:
    """Compare each line's charge with what the engine charged at the sale's time."""
    quotes = pricing_selectors.quote_many(
        [
            pricing_selectors.BasketRequest(
                lines=tuple((line.sku, line.quantity) for line in r.sale.lines),
                at=r.sale.occurred_at,
                customer_id=r.sale.customer.pk if r.sale.customer else None,
                coupon=r.raw.coupons[0] if r.raw.coupons else "",
            )
            for r in sales
        ]
    )
    found = []
    for r, quote in zip(sales, quotes, strict=True):
        if quote is None:
            flags[r.sale.reference]["unpriced"] = True
            continue
        for line, expected in zip(r.sale.lines, quote.lines, strict=True):
            charged = quantize(line.unit_price * line.quantity - line.discount, quote.currency)
            if charged != expected.line_total:
                found.append(
                    PriceDiscrepancy(
                        sale_id=r.raw.id,
                        location_id=terminal.location_id,
                        sku=line.sku,
                        quantity=line.quantity,
                        charged=charged,
                        expected=expected.line_total,
                        difference=charged - expected.line_total,
                        occurred_at=r.sale.occurred_at,
                    )
                )
                flags[r.sale.reference]["prices"] = flags[r.sale.reference].get("prices", 0) + 1
    PriceDiscrepancy.objects.bulk_create(found)


def _save_sales(*, sales: list[_Resolved], record, flags) -> None:
    """Store the flags of the few sales that have any (the rows were claimed with none)."""
    flagged = [
        PosSale(id=r.raw.id, flags=flags[r.sale.reference])
        for r in sales
        if flags[r.sale.reference]
    ]
    if flagged:
        PosSale.objects.bulk_update(flagged, ["flags"], batch_size=500)
