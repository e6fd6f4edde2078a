"""Pure rules of the POS edge: feed cursors, and the shape of a sale as the till sends it.

A sale may give goods back: a line with a negative quantity is a returned line, and it
names the receipt it came from (`original`: the order number or the till sale's UUID; all
returned lines of one sale name the same one). Money paid out is a negative tender, allowed
only in a sale with returned lines. The tenders add up to the sale's total either way:
negative for a pure return, the difference for an exchange (returned and sold lines).

Feed cursors are opaque to the till, signed so that a forged or garbled one is refused.

A cursor says which feed it belongs to, which phase the till is in — the first full
pass over every entity (`full`, after entity id `after`) or the change log (`log`, after
position (`xid`, `id`)) — and where the change log starts once the full pass is done.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.core import signing

SALT = "pos.feed.cursor"


@dataclass(frozen=True)
class Cursor:
    feed: str
    phase: str  # "full" | "log"
    after: int = 0  # full: the last entity id served
    xid: int = 0  # log: the position; full: where the log starts afterwards
    id: int = 0


def cursor_encode(cursor: Cursor) -> str:
    return signing.dumps(
        [cursor.feed, cursor.phase, cursor.after, cursor.xid, cursor.id], salt=SALT, compress=True
    )


def cursor_decode(value: str, *, feed: str) -> Cursor:
    """The cursor, or ValueError when it was not made by this feed."""
    try:
        raw = signing.loads(value, salt=SALT)
        name, phase, after, xid, pos = raw
    except (signing.BadSignature, ValueError, TypeError) as exc:
        raise ValueError("bad cursor") from exc
    if name != feed or phase not in ("full", "log"):
        raise ValueError("bad cursor")
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in (after, xid, pos)):
        raise ValueError("bad cursor")
    return Cursor(feed=name, phase=phase, after=after, xid=xid, id=pos)


# --- sales as the till sends them ----------------------------------------------------------


MAX_LINES = 200
MAX_QUANTITY = 9_999
MAX_AMOUNT = Decimal("999999999.99")
TENDER_KINDS = ("cash", "card", "points", "gift_card")
CLOCK_SKEW = timedelta(hours=1)  # a till clock ahead of ours by more than this is wrong


class SaleRejected(Exception):
    def __init__(self, reason: str, detail: str = ""):
        self.reason, self.detail = reason, detail
        super().__init__(reason)


@dataclass(frozen=True)
class RawLine:
    sku: str
    barcode: str
    quantity: int  # negative: returned units
    unit_price: Decimal
    discount: Decimal
    original: str = ""  # a returned line: the receipt it was bought on
    condition: str = ""  # a returned line: resaleable (default) or damaged

    @property
    def total(self) -> Decimal:
        """What the line charged (negative: what the till credits for returned units)."""
        value = self.unit_price * abs(self.quantity) - self.discount
        return -value if self.quantity < 0 else value


@dataclass(frozen=True)
class RawTender:
    kind: str
    amount: Decimal  # negative: paid out at the till
    points: int


@dataclass(frozen=True)
class RawSale:
    id: uuid.UUID
    occurred_at: datetime
    cashier: str
    customer: dict  # {"phone": …} | {"card": …} | {"id": …} | {}
    hold: str
    coupons: tuple[str, ...]
    lines: tuple[RawLine, ...]
    tenders: tuple[RawTender, ...]
    reason: str = ""  # a return: the return reason code the till chose (empty: default)

    @property
    def total(self) -> Decimal:
        return sum((line.total for line in self.lines), Decimal(0))

    @property
    def returned(self) -> tuple[RawLine, ...]:
        return tuple(line for line in self.lines if line.quantity < 0)

    @property
    def sold(self) -> tuple[RawLine, ...]:
        return tuple(line for line in self.lines if line.quantity > 0)

    @property
    def original(self) -> str:
        """The receipt the returned lines name ("" for a plain sale)."""
        return self.returned[0].original if self.returned else ""

    @property
    def payouts(self) -> list[tuple[str, Decimal]]:
        """Money the till paid out for a return: (kind, amount > 0) per negative tender."""
        return [(t.kind, -t.amount) for t in self.tenders if t.amount < 0]

    @property
    def exchange_credit(self) -> Decimal:
        """Of an exchange, the part of the returned goods' value that pays the new items:
        what they cost less what the customer paid for them in positive tenders."""
        if not self.sold or not self.returned:
            return Decimal(0)
        paid = sum((t.amount for t in self.tenders if t.amount > 0), Decimal(0))
        return sum((line.total for line in self.sold), Decimal(0)) - paid


def _text(value, name: str, limit: int, *, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str) or len(value) > limit or any(ord(c) < 32 for c in value):
        raise SaleRejected("malformed", f"{name} must be text of at most {limit} characters")
    if required and not value.strip():
        raise SaleRejected("malformed", f"{name} is required")
    return value.strip()


def _money(value, name: str, *, negative: bool = False) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise SaleRejected("malformed", f"{name} must be a decimal string")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise SaleRejected("malformed", f"{name} must be a decimal string") from None
    low = -MAX_AMOUNT if negative else Decimal(0)
    if not amount.is_finite() or not low <= amount <= MAX_AMOUNT or amount != round(amount, 2):
        raise SaleRejected("malformed", f"{name} must be {low} to {MAX_AMOUNT} with 2 decimals")
    return amount


def _int(value, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SaleRejected("malformed", f"{name} must be a whole number")
    if not low <= value <= high:
        raise SaleRejected("malformed", f"{name} must be from {low} to {high}")
    return value


def sale_parse(raw, *, now: datetime) -> RawSale:
    """A sale as the till sent it, checked for shape; raises SaleRejected saying why."""
    if not isinstance(raw, dict):
        raise SaleRejected("malformed", "a sale is an object")
    try:
        sale_id = uuid.UUID(_text(raw.get("id"), "id", 36, required=True))
    except ValueError:
        raise SaleRejected("malformed", "id must be a UUID") from None
    text = _text(raw.get("occurred_at"), "occurred_at", 40, required=True)
    try:
        occurred_at = datetime.fromisoformat(text)
    except ValueError:
        raise SaleRejected("malformed", "occurred_at must be ISO 8601") from None
    if occurred_at.tzinfo is None or occurred_at.utcoffset() is None:
        raise SaleRejected("malformed", "occurred_at needs a UTC offset")
    if occurred_at > now + CLOCK_SKEW:
        raise SaleRejected("malformed", "occurred_at is in the future")
    customer = raw.get("customer") or {}
    if not isinstance(customer, dict) or len(customer) > 1:
        raise SaleRejected("malformed", "customer is one of phone, card or id")
    if customer:
        ((key, value),) = customer.items()
        if key not in ("phone", "card", "id"):
            raise SaleRejected("malformed", "customer is one of phone, card or id")
        customer = {
            key: _int(value, "customer.id", 1, 2**62)
            if key == "id"
            else _text(value, f"customer.{key}", 32, required=True)
        }
    lines_raw = raw.get("lines")
    if not isinstance(lines_raw, list) or not 1 <= len(lines_raw) <= MAX_LINES:
        raise SaleRejected("malformed", f"a sale has 1 to {MAX_LINES} lines")
    lines = [_line(line, i) for i, line in enumerate(lines_raw)]
    returned = [line for line in lines if line.quantity < 0]
    if len({line.original.upper() for line in returned}) > 1:
        raise SaleRejected("malformed", "all returned lines name the same original receipt")
    tenders_raw = raw.get("tenders")
    if not isinstance(tenders_raw, list) or not 1 <= len(tenders_raw) <= 10:
        raise SaleRejected("malformed", "a sale has 1 to 10 tenders")
    tenders = [_tender(tender, i, returns=bool(returned)) for i, tender in enumerate(tenders_raw)]
    coupons_raw = raw.get("coupons") or []
    if not isinstance(coupons_raw, list) or len(coupons_raw) > 5:
        raise SaleRejected("malformed", "coupons is a list of at most 5 codes")
    coupons = tuple(_text(c, "coupon", 64, required=True) for c in coupons_raw)
    sale = RawSale(
        id=sale_id,
        occurred_at=occurred_at,
        cashier=_text(raw.get("cashier"), "cashier", 32),
        customer=customer,
        hold=_text(raw.get("hold"), "hold", 64),
        coupons=coupons,
        lines=tuple(lines),
        tenders=tuple(tenders),
        reason=_text(raw.get("reason"), "reason", 20) if returned else "",
    )
    if sum((t.amount for t in sale.tenders), Decimal(0)) != sale.total:
        raise SaleRejected("malformed", f"the tenders do not add up to the total {sale.total}")
    if returned and not sale.sold and any(t.amount > 0 or t.points for t in sale.tenders):
        raise SaleRejected("malformed", "a return only pays out money: negative tenders")
    if sale.exchange_credit < 0:
        raise SaleRejected("malformed", "an exchange's positive tenders exceed the new items")
    return sale


def _line(line, i: int) -> RawLine:
    if not isinstance(line, dict):
        raise SaleRejected("malformed", f"lines[{i}] is an object")
    sku = _text(line.get("sku"), f"lines[{i}].sku", 64)
    barcode = _text(line.get("barcode"), f"lines[{i}].barcode", 14)
    if not sku and not barcode:
        raise SaleRejected("malformed", f"lines[{i}] needs a sku or a barcode")
    quantity = _int(line.get("quantity"), f"lines[{i}].quantity", -MAX_QUANTITY, MAX_QUANTITY)
    if quantity == 0:
        raise SaleRejected("malformed", f"lines[{i}].quantity must not be 0")
    unit_price = _money(line.get("unit_price"), f"lines[{i}].unit_price")
    discount = _money(line.get("discount", "0"), f"lines[{i}].discount")
    if discount > unit_price * abs(quantity):
        raise SaleRejected("malformed", f"lines[{i}].discount exceeds the line")
    if quantity > 0:
        return RawLine(sku, barcode, quantity, unit_price, discount)
    # A returned line: which receipt it was bought on, and the state it came back in.
    original = _text(line.get("original"), f"lines[{i}].original", 64, required=True)
    condition = _text(line.get("condition"), f"lines[{i}].condition", 12)
    return RawLine(sku, barcode, quantity, unit_price, discount, original, condition)


def _tender(tender, i: int, *, returns: bool) -> RawTender:
    if not isinstance(tender, dict) or tender.get("kind") not in TENDER_KINDS:
        raise SaleRejected("malformed", f"tenders[{i}].kind is one of {TENDER_KINDS}")
    points = _int(tender.get("points", 0), f"tenders[{i}].points", 0, 10**9)
    if tender["kind"] == "points" and not points:
        raise SaleRejected("malformed", f"tenders[{i}] pays with points: give the points")
    # Money paid out (a negative tender) only for returned goods; spent points go back to
    # the account by the returns service, never through the till.
    amount = _money(tender.get("amount"), "amount", negative=returns and tender["kind"] != "points")
    return RawTender(tender["kind"], amount, points)
