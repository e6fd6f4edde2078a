"""POS writes: terminals (register, revoke, acknowledge a cursor) and sale sync.

Tokens are 32 random bytes, stored as their SHA-256: a leaked database does not let
anyone act as a till, and a revoked terminal is refused on its very next request.
"""

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from catalog import selectors as catalog_selectors
from core.errors import DomainError
from core.money import quantize
from customers import selectors as customer_selectors
from customers import services as customer_services
from customers.domain import normalize_card_number, normalize_phone
from inventory.models import Location
from orders import services as order_services
from orders.services import TillLine, TillSale, TillTender
from pos import loyalty as pos_loyalty
from pos.domain import RawSale, SaleRejected, sale_parse
from pos.errors import TerminalCodeTaken
from pos.models import PosSale, PriceDiscrepancy, Terminal
from pricing import selectors as pricing_selectors
from pricing import services as pricing_services


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

    def as_dict(self) -> dict[str, str]:
        body = {"id": self.id, "status": self.status, "order": self.order}
        if self.reason:
            body["reason"] = self.reason
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
    if resolved:
        results.update(_record(terminal=terminal, sales=resolved, now=now))
    order = [
        (str(raw.get("id")) if isinstance(raw, dict) else f"#{i}")[:64]
        for i, raw in enumerate(sales[:MAX_BATCH])
    ]
    answered = [results[key] for key in dict.fromkeys(order) if key in results]
    return answered


def _known(*, terminal: Terminal, ids: list[uuid.UUID]) -> dict[str, SaleResult]:
    """Sales already recorded: `duplicate` (with their order) for this terminal's,
    `rejected` (terminal_mismatch) for another terminal's."""
    known = {}
    rows = PosSale.objects.filter(id__in=ids).values_list("id", "terminal_id", "order_number")
    for sale_id, terminal_id, number in rows:
        key = str(sale_id)
        if terminal_id == terminal.pk:
            known[key] = SaleResult(key, "duplicate", order=number)
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


def _claim(*, terminal: Terminal, sales: list[_Resolved], numbers: list[str]) -> set[str]:
    """Insert the sale rows that are new, each with the number its order will get; the ids
    inserted (ON CONFLICT DO NOTHING RETURNING: a sale already there is not claimed)."""
    table = PosSale._meta.db_table
    rows = [
        (
            str(r.raw.id) if connection.vendor == "postgresql" else r.raw.id.hex,
            terminal.pk,
            number,
            r.raw.occurred_at,
            timezone.now(),
            r.raw.cashier,
            r.sale.customer.pk if r.sale.customer else None,
        )
        for r, number in zip(sales, numbers, strict=True)
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


def _record(*, terminal: Terminal, sales: list[_Resolved], now) -> dict[str, SaleResult]:
    results: dict[str, SaleResult] = {}
    with transaction.atomic():
        numbers = order_services.order_numbers_new(count=len(sales))
        number_of = {r.raw.id: n for r, n in zip(sales, numbers, strict=True)}
        claimed = _claim(terminal=terminal, sales=sales, numbers=numbers)
        fresh = [r for r in sales if str(r.raw.id) in claimed]
        others = [r for r in sales if str(r.raw.id) not in claimed]
        if others:
            owners = dict(
                PosSale.objects.filter(id__in=[r.raw.id for r in others]).values_list(
                    "id", "terminal_id"
                )
            )
            numbers = dict(
                PosSale.objects.filter(id__in=[r.raw.id for r in others]).values_list(
                    "id", "order_number"
                )
            )
            for r in others:
                if owners.get(r.raw.id) != terminal.pk:
                    results[str(r.raw.id)] = SaleResult(
                        str(r.raw.id), "rejected", "terminal_mismatch"
                    )
                else:
                    results[str(r.raw.id)] = SaleResult(
                        str(r.raw.id), "duplicate", order=numbers.get(r.raw.id, "")
                    )
        if not fresh:
            return results
        record = order_services.till_sales_record(
            location=terminal.location,
            sales=[r.sale for r in fresh],
            currency=pricing_selectors.currency_default(),
            numbers=[number_of[r.raw.id] for r in fresh],
        )
        # Points tendered and holds named, after stock and earns, before coupon counters.
        points_flags = pos_loyalty.sales_points_redeem(sales=fresh, record=record)
        # Priced by the engine before the coupon uses are recorded: a sale's own use must
        # not count against its coupon's limits (a valid coupon sale is no discrepancy).
        price_flags: dict[str, dict] = {r.sale.reference: {} for r in fresh}
        _discrepancies(terminal=terminal, sales=fresh, record=record, flags=price_flags)
        flags = _facts(terminal=terminal, sales=fresh, record=record)
        for reference, flag in points_flags.items():
            flags[reference]["points"] = flag
        for reference, found in price_flags.items():
            flags[reference].update(found)
        _save_sales(sales=fresh, record=record, flags=flags)
        Terminal.objects.filter(pk=terminal.pk).update(
            last_seen_at=now, last_sale_at=max(r.raw.occurred_at for r in fresh)
        )
        for r in fresh:
            number = record.orders[r.sale.reference].number
            results[str(r.raw.id)] = SaleResult(str(r.raw.id), "created", order=number)
    return results


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
