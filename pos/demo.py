"""Demo tills for `seed_demo`: two terminals per store and three weeks of their sales.

The stores' till history goes through `pos.services.sales_sync`, exactly as a till's
batches would: every sale is priced by the engine as it was at the moment of the sale
(`pricing.selectors.quote_many`), about a third name a demo customer by phone or loyalty
card, and the core records the orders, the stock sales and the points. So the stock and
points ledgers, the customers' histories and timelines, and the staff lists (negative
stock, price discrepancies, coupons over their limit) all come from real sales.

A few sales are deliberately off, as in real stores: a till that had not pulled a new
promotion yet charges the base price (a price discrepancy for staff), and now and then an
item the ledger says is gone is sold anyway (a level below zero, flagged for a count).

`credentials()` re-issues each demo till's token for `make run` to print.
"""

import random
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import TextIO
from zoneinfo import ZoneInfo

from django.utils import timezone

from customers import selectors as customer_selectors
from inventory import selectors as inventory_selectors
from inventory.models import Location
from pos import services
from pos.models import PriceDiscrepancy, Terminal
from pricing import selectors as pricing_selectors

TILLS_PER_STORE = 2
HISTORY_DAYS = 21
SALES_PER_DAY = {"weekday": (7, 12), "sat": (12, 18), "sun": (5, 9)}
IDENTIFIED_SHARE = 0.35
MISSED_PROMOTION_SHARE = 0.01  # a till that had not pulled a promotion yet
OVERSELL_SHARE = 0.03  # the shelf had one more than the ledger says
BESTSELLERS = 60
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


@dataclass
class _Basket:
    terminal: Terminal
    at: datetime
    cashier: str
    lines: list[tuple[str, int]]
    identifier: dict = field(default_factory=dict)
    customer_id: int | None = None
    coupon: str = ""


@dataclass
class _Shelf:
    """What a store's shelves hold while its history is made up: units left per SKU."""

    left: dict[str, int]
    bestsellers: list[str]
    range: list[str]
    # SKUs that pickup orders hold units of: never oversold, so the demo's pickups are not
    # left short by sales that happened weeks before they were placed.
    reserved: set[str] = field(default_factory=set)


def _shelf(rng: random.Random, store: Location, priced: set[int]) -> _Shelf:
    levels = [
        level
        for level in inventory_selectors.stock_levels(location_ids=[store.pk])
        if level.variant.is_active and level.variant_id in priced and level.on_hand > 0
    ]
    left = {level.variant.sku: level.on_hand - level.reserved for level in levels}
    skus = sorted(left)
    return _Shelf(
        left=left,
        bestsellers=rng.sample(skus, k=min(BESTSELLERS, len(skus))),
        range=skus,
        reserved={level.variant.sku for level in levels if level.reserved},
    )


def _pick(rng: random.Random, shelf: _Shelf, taken: set[str]) -> str | None:
    for _attempt in range(8):
        pool = shelf.bestsellers if rng.random() < 0.7 else shelf.range
        sku = rng.choice(pool)
        if sku in taken:
            continue
        if shelf.left[sku] > 0 or (sku not in shelf.reserved and rng.random() < OVERSELL_SHARE):
            return sku
    return None


def _opening(store: Location, day: date) -> tuple[datetime, datetime] | None:
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


def _shoppers(rng: random.Random) -> list[tuple[dict, int]]:
    """(till identifier, customer id) of the demo customers a till can recognise."""
    shoppers = []
    for customer in customer_selectors.customer_list():
        choices = []
        if customer.phone:
            choices.append({"phone": customer.phone})
        if customer.card_number:
            choices.append({"card": customer.card_number})
        if choices:
            shoppers.append((rng.choice(choices), customer.pk))
    return shoppers


def _baskets(
    rng: random.Random,
    store: Location,
    tills: list[Terminal],
    shelf: _Shelf,
    shoppers: list[tuple[dict, int]],
    coupon_used: set[int],
    now: datetime,
) -> list[_Basket]:
    from pricing.demo import COUPON_CODE

    baskets: list[_Basket] = []
    today = timezone.localtime(now, ZoneInfo(store.time_zone or "UTC")).date()
    cashiers = [f"{store.code[:3]}-C{n}" for n in range(1, 5)]
    for days_ago in range(HISTORY_DAYS, -1, -1):
        day = today - timedelta(days=days_ago)
        hours = _opening(store, day)
        if hours is None:
            continue
        kind = "sat" if day.weekday() == 5 else "sun" if day.weekday() == 6 else "weekday"
        opens, closes = hours
        seconds = int((closes - opens).total_seconds())
        for _sale in range(rng.randint(*SALES_PER_DAY[kind])):
            at = opens + timedelta(seconds=rng.randrange(seconds))
            if at >= now:
                continue
            taken: set[str] = set()
            lines = []
            for _line in range(rng.choices((1, 2, 3, 4), weights=(50, 30, 15, 5))[0]):
                sku = _pick(rng, shelf, taken)
                if sku is None:
                    continue
                quantity = rng.choices((1, 2, 3), weights=(85, 12, 3))[0]
                if shelf.left[sku] > 0:
                    quantity = min(quantity, shelf.left[sku])
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
            if shoppers and rng.random() < IDENTIFIED_SHARE:
                basket.identifier, basket.customer_id = rng.choice(shoppers)
                if basket.customer_id not in coupon_used and rng.random() < 0.1:
                    basket.coupon = COUPON_CODE
                    coupon_used.add(basket.customer_id)
            baskets.append(basket)
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
        "coupons": [basket.coupon] if basket.coupon else [],
        "lines": lines,
        "tenders": tenders,
    }


def seed(*, rng: random.Random, stdout: TextIO) -> None:
    """Register the demo tills and sync their history; does nothing when they exist."""
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
    now = timezone.now()
    priced = set(
        pricing_selectors.unit_prices(
            variant_ids=list(
                inventory_selectors.stock_levels(location_ids=[s.pk for s in stores])
                .values_list("variant_id", flat=True)
                .distinct()
            )
        )
    )
    shoppers = _shoppers(rng)
    coupon_used: set[int] = set()  # the demo coupon is once per customer
    counts = {"created": 0, "duplicate": 0, "rejected": 0}
    identified = coupons = 0
    for store in stores:
        tills = [
            services.terminal_register(
                code=terminal_code(store.code, n), location=store, name=f"Till {n}"
            )[0]
            for n in range(1, TILLS_PER_STORE + 1)
        ]
        shelf = _shelf(rng, store, priced)
        if not shelf.range:
            continue
        baskets = _baskets(rng, store, tills, shelf, shoppers, coupon_used, now)
        quotes = pricing_selectors.quote_many(
            [
                pricing_selectors.BasketRequest(
                    lines=tuple(b.lines), at=b.at, customer_id=b.customer_id, coupon=b.coupon
                )
                for b in baskets
            ]
        )
        for till in tills:
            sales = [
                _sale(rng, basket, quote)
                for basket, quote in zip(baskets, quotes, strict=True)
                if quote is not None and basket.terminal is till
            ]
            for start in range(0, len(sales), services.MAX_BATCH):
                for result in services.sales_sync(
                    terminal=till, sales=sales[start : start + services.MAX_BATCH]
                ):
                    counts[result.status] += 1
            identified += sum(1 for s in sales if s["customer"])
            coupons += sum(1 for s in sales if s["coupons"])
    below_zero = (
        inventory_selectors.stock_levels(location_ids=[s.pk for s in stores])
        .filter(on_hand__lt=0)
        .count()
    )
    stdout.write(
        f"  pos: {len(stores) * TILLS_PER_STORE} terminals, {counts['created']} till sales "
        f"synced over {HISTORY_DAYS} days ({identified} with a known customer, {coupons} "
        f"with a coupon; {counts['rejected']} rejected), "
        f"{PriceDiscrepancy.objects.count()} price discrepancies, "
        f"{below_zero} stock levels below zero"
    )
