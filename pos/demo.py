"""Demo tills for `seed_demo`: two terminals per store, and their sales for the demo history.

`seed` registers the tills. The year of demo history (`demo.history`) rings up each
store's days with `day_baskets` (more on Saturdays and in December, busiest in the late
afternoon, only what the shelf holds) and sends them through `pos.services.sales_sync` as
a till's end-of-day batch would: every sale priced by the engine as it was at the moment
of the sale (`pricing.selectors.quote_many`), about a third naming a demo customer by phone
or loyalty card, and the core records the orders, the stock sales and the points.

A few sales are deliberately off, as in real stores: a till that had not pulled a new
promotion yet charges the base price (a price discrepancy for staff).

`credentials()` re-issues each demo till's token for `make run` to print.
"""

import random
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import TextIO
from zoneinfo import ZoneInfo

from customers import selectors as customer_selectors
from inventory import selectors as inventory_selectors
from inventory.models import Location
from pos import services
from pos.models import Terminal
from pricing import selectors as pricing_selectors

TILLS_PER_STORE = 2
IDENTIFIED_SHARE = 0.35
MISSED_PROMOTION_SHARE = 0.01  # a till that had not pulled a promotion yet
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def terminal_code(store_code: str, number: int) -> str:
    return f"{store_code}-{number}"


def _demo_store_codes() -> list[str]:
    from inventory.demo import LOCATIONS

    return [spec["code"] for spec in LOCATIONS if spec["kind"] == Location.Kind.STORE]


def demo_terminals() -> list[Terminal]:
    """The demo stores' tills, by code."""
    codes = [
        terminal_code(store, n)
        for store in _demo_store_codes()
        for n in range(1, TILLS_PER_STORE + 1)
    ]
    return list(Terminal.objects.filter(code__in=codes).select_related("location"))


def credentials() -> list[str]:
    """Lines printed after `make run`: a fresh token for each demo till (the old ones stop
    working), e.g. `Terminal BER-MITTE-1 (Omnicore Berlin Mitte) token …`."""
    lines = []
    for terminal in demo_terminals():
        token = services.terminal_token_reissue(terminal=terminal)
        lines.append(f"Terminal {terminal.code} ({terminal.location.name}) token {token}")
    return lines


# --- the history ----------------------------------------------------------------------

# Baskets a store rings up on an ordinary day, before the weekday, month and store factors.
SALES_PER_DAY = 4.5
WEEKDAY_FACTOR = (0.8, 0.85, 0.9, 1.0, 1.25, 1.7, 0.9)  # Saturday peak; Sunday when open
MONTH_FACTOR = (0.8, 0.75, 0.9, 0.95, 1.0, 1.0, 1.05, 0.95, 0.95, 1.0, 1.2, 1.8)  # December
STORE_FACTOR = {"BER-MITTE": 1.3, "HAM-JUNGFERNSTIEG": 1.1, "MUC-MARIENPLATZ": 1.2}


@dataclass
class _Basket:
    terminal: Terminal
    at: datetime
    cashier: str
    lines: list[tuple[str, int]]
    identifier: dict = field(default_factory=dict)
    customer_id: int | None = None


@dataclass
class Shelf:
    """What a store's shelves hold while its history is made up: units free per SKU (on hand
    less reserved, as last read, less what was sold or reserved since). Tills sell only
    from it, so no level goes below zero."""

    left: dict[str, int]
    bestsellers: list[str]
    range: list[str]


def shelf_for(rng: random.Random, store: Location, *, priced: set[int], skus: dict[int, str]):
    levels = inventory_selectors.stock_levels(location_ids=[store.pk]).values_list(
        "variant_id", "on_hand", "reserved"
    )
    left = {skus[vid]: on_hand - reserved for vid, on_hand, reserved in levels if vid in priced}
    ranged = sorted(left)
    return Shelf(
        left=left,
        bestsellers=rng.sample(ranged, k=min(len(ranged) // 6 or 1, len(ranged))),
        range=ranged,
    )


def _pick(rng: random.Random, shelf: Shelf, taken: set[str]) -> str | None:
    for _attempt in range(8):
        pool = shelf.bestsellers if rng.random() < 0.6 else shelf.range
        sku = rng.choice(pool)
        if sku not in taken and shelf.left.get(sku, 0) > 0:
            return sku
    return None


def opening(store: Location, day: date) -> tuple[datetime, datetime] | None:
    """When the store is open on `day`, in its own time zone (the first period of the day)."""
    periods = (store.opening_hours or {}).get(DAYS[day.weekday()]) or []
    if not periods:
        return None
    zone = ZoneInfo(store.time_zone or "UTC")
    opens, closes = (time.fromisoformat(t) for t in periods[0])
    return (
        datetime.combine(day, opens, tzinfo=zone),
        datetime.combine(day, closes, tzinfo=zone),
    )


def shoppers(rng: random.Random) -> list[tuple[dict, int]]:
    """(till identifier, customer id) of the demo customers a till can recognise."""
    found = []
    for customer in customer_selectors.customer_list().order_by("pk"):
        choices = []
        if customer.phone:
            choices.append({"phone": customer.phone})
        if customer.card_number:
            choices.append({"card": customer.card_number})
        if choices:
            found.append((rng.choice(choices), customer.pk))
    return found


def day_baskets(
    rng: random.Random,
    store: Location,
    tills: list[Terminal],
    shelf: Shelf,
    regulars: list[tuple[dict, int]],
    day: date,
    until: datetime,
) -> list[_Basket]:
    """The store's baskets of `day` (none when closed), taken off `shelf`."""
    hours = opening(store, day)
    if hours is None or not shelf.range:
        return []
    opens, closes = hours
    seconds = (closes - opens).total_seconds()
    expected = (
        SALES_PER_DAY
        * WEEKDAY_FACTOR[day.weekday()]
        * MONTH_FACTOR[day.month - 1]
        * STORE_FACTOR.get(store.code, 0.8)
    )
    count = max(0, round(rng.gauss(expected, expected**0.5)))
    cashiers = [f"{store.code[:3]}-C{n}" for n in range(1, 5)]
    baskets = []
    for _sale in range(count):
        # Busiest in the late afternoon.
        at = opens + timedelta(seconds=int(rng.triangular(0, seconds, seconds * 0.7)))
        if at >= until:
            continue
        taken: set[str] = set()
        lines = []
        for _line in range(rng.choices((1, 2, 3, 4), weights=(50, 30, 15, 5))[0]):
            sku = _pick(rng, shelf, taken)
            if sku is None:
                continue
            quantity = min(rng.choices((1, 2, 3), weights=(85, 12, 3))[0], shelf.left[sku])
            shelf.left[sku] -= quantity
            taken.add(sku)
            lines.append((sku, quantity))
        if not lines:
            continue
        basket = _Basket(
            terminal=tills[0] if rng.random() < 0.6 else tills[-1],
            at=at,
            cashier=rng.choice(cashiers),
            lines=lines,
        )
        if regulars and rng.random() < IDENTIFIED_SHARE:
            basket.identifier, basket.customer_id = rng.choice(regulars)
        baskets.append(basket)
    baskets.sort(key=lambda b: b.at)
    return baskets


def _sale(rng: random.Random, basket: _Basket, quote) -> dict:
    """The sale as the till sends it, charged at the engine's price of its time."""
    missed_promotion = rng.random() < MISSED_PROMOTION_SHARE
    lines = []
    for line in quote.lines:
        discount = Decimal(0) if missed_promotion else line.discount_total
        lines.append(
            {
                "sku": line.sku,
                "quantity": line.quantity,
                "unit_price": str(line.unit_price),
                "discount": str(discount),
            }
        )
    total = sum(
        (Decimal(li["unit_price"]) * li["quantity"] - Decimal(li["discount"]) for li in lines),
        Decimal(0),
    )
    roll = rng.random()
    if roll < 0.35:
        tenders = [{"kind": "cash", "amount": str(total)}]
    elif roll < 0.95 or total < 20:
        tenders = [{"kind": "card", "amount": str(total)}]
    else:  # part cash, the rest by card
        cash = Decimal(rng.choice((10, 20)))
        tenders = [
            {"kind": "cash", "amount": str(cash)},
            {"kind": "card", "amount": str(total - cash)},
        ]
    return {
        "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "occurred_at": basket.at.isoformat(),
        "cashier": basket.cashier,
        "customer": basket.identifier or None,
        "hold": None,
        "coupons": [],
        "lines": lines,
        "tenders": tenders,
    }


def baskets_sync(rng: random.Random, baskets: list[_Basket]) -> list[tuple[str, dict]]:
    """Price the baskets as the engine did at each one's time and sync them, one batch per
    till; returns (order number, sale) of each sale recorded."""
    if not baskets:
        return []
    quotes = pricing_selectors.quote_many(
        [
            pricing_selectors.BasketRequest(
                lines=tuple(b.lines), at=b.at, customer_id=b.customer_id
            )
            for b in baskets
        ]
    )
    recorded = []
    by_till: dict[int, list[dict]] = {}
    tills: dict[int, Terminal] = {}
    for basket, quote in zip(baskets, quotes, strict=True):
        if quote is not None:
            by_till.setdefault(basket.terminal.pk, []).append(_sale(rng, basket, quote))
            tills[basket.terminal.pk] = basket.terminal
    for till_id, sales in by_till.items():
        for start in range(0, len(sales), services.MAX_BATCH):
            batch = sales[start : start + services.MAX_BATCH]
            results = services.sales_sync(terminal=tills[till_id], sales=batch)
            recorded += [
                (r.order, sale)
                for r, sale in zip(results, batch, strict=True)
                if r.status == "created"
            ]
    return recorded


def tills_register(store: Location) -> list[Terminal]:
    return [
        services.terminal_register(
            code=terminal_code(store.code, n), location=store, name=f"Till {n}"
        )[0]
        for n in range(1, TILLS_PER_STORE + 1)
    ]


def seed(*, rng: random.Random, stdout: TextIO) -> None:
    """Register the demo tills (their sales are the demo history's); does nothing when
    they exist."""
    stores = [
        store
        for store in inventory_selectors.location_list(kind=Location.Kind.STORE)
        if store.code in _demo_store_codes()
    ]
    if not stores:
        stdout.write("  pos: no demo stores; skipped")
        return
    if Terminal.objects.filter(code=terminal_code(stores[0].code, 1)).exists():
        stdout.write("  pos: demo terminals already present")
        return
    for store in stores:
        tills_register(store)
    stdout.write(f"  pos: {len(stores) * TILLS_PER_STORE} terminals")
