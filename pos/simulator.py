"""A till simulator: pulls the feeds, sells offline, then syncs badly on purpose.

What `manage.py pos_simulator` runs and the scenario test drives. The till talks to the
core only through the POS API — over HTTP (`urllib.request`) when given a base URL,
otherwise through Django's test client in this process — and in three steps:

1. pull the four feeds (catalog, prices, promotions, stock) page by page into memory,
   keeping each feed's cursor, and acknowledge the cursors;
2. sell offline from what it pulled and nothing else: items it has a price and stock for,
   priced at the moment of the sale with the promotion rules of the feed through the
   engine's own pure rules (`pricing.domain.price_basket`, as a till built on the same
   library would), some shoppers identified by phone or card, coupons when the feed
   lists codes, now and then an item scanned by barcode;
3. sync the way a flaky network does: batches sent out of order, sales sent twice in a
   batch and again in later batches, one batch whose answer is lost (the till cannot
   know whether the core recorded it, so it sends it again), and at the end everything
   replayed once more; then pull the stock changes its sales made.

The summary says whether every sale was recorded exactly once (one order number per
sale, the same in every answer), and whether the store's stock as the feed now shows it
is what the till expects after its own sales.
"""

import json
import random
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.utils import timezone

from pricing import domain as pricing_domain

API = "/api/v1/pos/"
FEEDS = ("catalog", "prices", "promotions", "stock")
PAGE = 500
BATCH = 20
STOCK_SETTLE_SECONDS = 10.0  # a feed serves changes once they are below its safe horizon


class ConnectionDropped(Exception):
    """The request may or may not have reached the core; its answer never reached the till."""


class SimulatorError(Exception):
    """The core answered a request with an error the till cannot work around."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any


class HttpTransport:
    """The POS API over HTTP, with the terminal's token."""

    def __init__(self, base_url: str, token: str, *, timeout: float = 120):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def send(self, method: str, path: str, *, query=None, body=None, drop_answer=False) -> Answer:
        url = self.base_url + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        request = urllib.request.Request(
            url,
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={
                "Authorization": f"Terminal {self.token}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                if drop_answer:
                    # The core has answered; the till hangs up before reading a byte of it.
                    raise ConnectionDropped(f"{method} {path}: answer dropped")
                return Answer(response.status, _json(response.read()))
        except urllib.error.HTTPError as error:
            return Answer(error.code, _json(error.read()))
        except (urllib.error.URLError, OSError) as error:
            raise ConnectionDropped(f"{method} {path}: {error}") from error


class LocalTransport:
    """The POS API through Django's test client, in this process (no server needed)."""

    def __init__(self, token: str):
        from django.test import Client

        self.client = Client(HTTP_AUTHORIZATION=f"Terminal {token}")

    def send(self, method: str, path: str, *, query=None, body=None, drop_answer=False) -> Answer:
        if method == "GET":
            response = self.client.get(path, query or {})
        else:
            response = self.client.generic(
                method, path, json.dumps(body), content_type="application/json"
            )
        if drop_answer:
            raise ConnectionDropped(f"{method} {path}: answer dropped")
        return Answer(response.status_code, _json(response.content))


def _json(raw: bytes):
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return {"raw": raw[:200].decode(errors="replace")}


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


# --- the till -------------------------------------------------------------------------


@dataclass
class Summary:
    """What the till did and what it found; `ok` is the verdict."""

    pulled: dict[str, int] = field(default_factory=dict)
    sales: int = 0
    lines: int = 0
    identified: int = 0
    by_barcode: int = 0
    coupons: int = 0
    requests: int = 0
    sent: int = 0  # sales sent, counting every resend
    answers: Counter = field(default_factory=Counter)  # created / duplicate / rejected
    answers_lost: int = 0
    recorded: int = 0  # sales with an order number
    created_twice: int = 0
    number_changed: int = 0  # a sale answered with two different order numbers
    rejected: dict[str, str] = field(default_factory=dict)  # sale id → reason
    stock_changes_pulled: int = 0
    stock_differences: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def exactly_once(self) -> bool:
        return (
            self.recorded == self.sales
            and not self.created_twice
            and not self.number_changed
            and not self.rejected
        )

    @property
    def ok(self) -> bool:
        return self.exactly_once and not self.stock_differences

    def as_lines(self) -> list[str]:
        pulled = ", ".join(f"{feed} {count}" for feed, count in self.pulled.items())
        lines = [
            f"pulled: {pulled}",
            f"sold offline: {self.sales} sales, {self.lines} lines ({self.identified} with a "
            f"known customer, {self.coupons} with a coupon, {self.by_barcode} lines by barcode)",
            f"synced: {self.requests} requests carrying {self.sent} sales "
            f"({self.sent - self.sales} resent); answers: "
            + ", ".join(f"{k} {v}" for k, v in sorted(self.answers.items()))
            + f"; answers lost: {self.answers_lost}",
            f"exactly once: {'yes' if self.exactly_once else 'NO'} — {self.recorded} of "
            f"{self.sales} sales have one order number; created twice: {self.created_twice}; "
            f"order number changed: {self.number_changed}; rejected: {len(self.rejected)}",
            f"stock after sync: {self.stock_changes_pulled} changes pulled; "
            + (
                "every level as the till expects"
                if not self.stock_differences
                else f"{len(self.stock_differences)} differ (expected, feed): "
                + ", ".join(f"{k} {v}" for k, v in list(self.stock_differences.items())[:5])
            ),
        ]
        lines += [f"rejected {sale}: {reason}" for sale, reason in list(self.rejected.items())[:5]]
        return lines


class Till:
    """A till's memory: the feeds as pulled, the sales it made, what the core answered."""

    def __init__(self, transport, *, rng: random.Random, clock: Callable[[], datetime] = None):
        self.transport = transport
        self.rng = rng
        self.clock = clock or timezone.now
        self.entities: dict[str, dict[int, dict]] = {feed: {} for feed in FEEDS}
        self.cursors: dict[str, str] = {}
        self.sold: Counter = Counter()  # variant id → units sold by this till
        self.orders: dict[str, set[str]] = {}  # sale id → order numbers answered
        self.summary = Summary()

    # -- online: the feeds --

    def _call(self, method: str, path: str, **kwargs) -> Answer:
        answer = self.transport.send(method, API + path, **kwargs)
        if answer.status >= 400:
            error = (answer.body or {}).get("error", {}) if isinstance(answer.body, dict) else {}
            raise SimulatorError(
                f"{method} {path}: {answer.status} {error.get('code', '')} "
                f"{error.get('message', answer.body)}"
            )
        return answer

    def pull(self, feed: str) -> int:
        """Everything of `feed` since its cursor (all of it the first time); entries applied."""
        applied = 0
        known = self.entities[feed]
        while True:
            query = {"limit": PAGE}
            if feed in self.cursors:
                query["cursor"] = self.cursors[feed]
            page = self._call("GET", f"sync/{feed}/", query=query).body
            for entity in page["results"]:
                if entity.get("deleted"):
                    known.pop(entity["id"], None)
                else:
                    known[entity["id"]] = entity
                applied += 1
            self.cursors[feed] = page["cursor"]
            if not page["has_more"]:
                break
        self._call("POST", "sync/ack/", body={"feed": feed, "cursor": self.cursors[feed]})
        return applied

    def pull_all(self) -> None:
        for feed in FEEDS:
            self.summary.pulled[feed] = self.pull(feed)

    # -- offline: selling from memory --

    def _on_shelf(self, variant_id: int) -> int:
        level = self.entities["stock"].get(variant_id)
        return (level["available"] if level else 0) - self.sold[variant_id]

    def sellable(self) -> list[int]:
        """Variants the till can sell: in its catalog, priced, and on its shelves."""
        catalog, prices = self.entities["catalog"], self.entities["prices"]
        return sorted(v for v in catalog if v in prices and self._on_shelf(v) > 0)

    def _unit_price(self, variant_id: int, at: datetime) -> Decimal:
        entry = self.entities["prices"][variant_id]
        for scheduled in entry["schedule"]:
            until = _when(scheduled["valid_until"])
            if _when(scheduled["valid_from"]) <= at and (until is None or at < until):
                return Decimal(scheduled["amount"])
        return Decimal(entry["price"])

    def _rules(self, at: datetime) -> list[pricing_domain.PromotionRule]:
        rules = []
        for p in self.entities["promotions"].values():
            ends = _when(p["ends_at"])
            if _when(p["starts_at"]) > at or (ends is not None and at >= ends):
                continue
            rules.append(
                pricing_domain.PromotionRule(
                    id=p["id"],
                    name=p["name"],
                    kind=p["kind"],
                    scope=p["scope"],
                    value=Decimal(p["value"] or 0),
                    buy_quantity=p["buy_quantity"] or 0,
                    get_quantity=p["get_quantity"] or 0,
                    threshold=Decimal(p["threshold"] or 0),
                    priority=p["priority"],
                    stackable=p["stackable"],
                    requires_coupon=bool(p.get("requires_coupon", p["coupon_codes"])),
                    variant_ids=frozenset(p["variant_ids"]),
                    product_ids=frozenset(p["product_ids"]),
                    category_ids=frozenset(p["category_ids"]),
                )
            )
        return rules

    def coupon_codes(self) -> dict[str, int]:
        """code → promotion id, for the promotions the till knows."""
        return {
            code: p["id"]
            for p in self.entities["promotions"].values()
            for code in p["coupon_codes"]
        }

    def price(self, basket: Sequence[tuple[int, int]], *, at: datetime, coupon: str = ""):
        """The basket priced offline, as the engine prices it, from the pulled feeds."""
        catalog = self.entities["catalog"]
        items = [
            pricing_domain.BasketItem(
                sku=catalog[vid]["sku"],
                variant_id=vid,
                product_id=catalog[vid]["product"]["id"],
                category_path=tuple(catalog[vid]["category_path"]),
                quantity=quantity,
                unit_price=self._unit_price(vid, at),
                vat_rate=Decimal(catalog[vid]["vat_rate"]),
            )
            for vid, quantity in basket
        ]
        currency = self.entities["prices"][basket[0][0]]["currency"]
        check = None
        if coupon:
            check = pricing_domain.CouponCheck(
                code=coupon, promotion_id=self.coupon_codes()[coupon]
            )
        return pricing_domain.price_basket(
            items, self._rules(at), currency=currency, coupon=check, priced_at=at
        )

    def sell(
        self, count: int, *, shoppers: Sequence[dict], identified_share: float = 0.4
    ) -> list[dict]:
        """Make `count` sales from what the till has in memory (no network)."""
        rng, summary = self.rng, self.summary
        codes = sorted(self.coupon_codes())
        coupon_used: set[str] = set()
        sales = []
        for _n in range(count):
            shelf = self.sellable()
            if not shelf:
                break
            picked = rng.sample(shelf, k=min(len(shelf), rng.choices((1, 2, 3), (5, 3, 2))[0]))
            basket = [(vid, min(self._on_shelf(vid), rng.choice((1, 1, 1, 2)))) for vid in picked]
            customer, coupon = None, ""
            if shoppers and rng.random() < identified_share:
                customer = rng.choice(list(shoppers))
                key = json.dumps(customer, sort_keys=True)
                if codes and key not in coupon_used and rng.random() < 0.3:
                    coupon = rng.choice(codes)  # the till cannot check limits offline
                    coupon_used.add(key)
            at = self.clock()
            quote = self.price(basket, at=at, coupon=coupon)
            lines = []
            for line in quote.lines:
                barcodes = self.entities["catalog"][line.variant_id]["barcodes"]
                scanned = {"sku": line.sku}
                if barcodes and rng.random() < 0.15:
                    scanned = {"barcode": barcodes[0]}
                    summary.by_barcode += 1
                lines.append(
                    scanned
                    | {
                        "quantity": line.quantity,
                        "unit_price": str(line.unit_price),
                        "discount": str(line.discount_total),
                    }
                )
                self.sold[line.variant_id] += line.quantity
            sales.append(
                {
                    "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "occurred_at": at.isoformat(),
                    "cashier": rng.choice(("C1", "C2")),
                    "customer": customer,
                    "hold": None,
                    "coupons": [coupon] if coupon else [],
                    "lines": lines,
                    "tenders": self._tenders(quote.total),
                }
            )
            summary.lines += len(lines)
            summary.identified += customer is not None
            summary.coupons += bool(coupon)
        summary.sales += len(sales)
        return sales

    def _tenders(self, total: Decimal) -> list[dict]:
        roll = self.rng.random()
        if roll < 0.4:
            return [{"kind": "cash", "amount": str(total)}]
        if roll < 0.9 or total < 10:
            return [{"kind": "card", "amount": str(total)}]
        cash = Decimal(5)
        return [
            {"kind": "cash", "amount": str(cash)},
            {"kind": "card", "amount": str(total - cash)},
        ]

    # -- back online: sync --

    def push(self, batch: list[dict], *, drop_answer: bool = False) -> None:
        """Send one batch; note what the core answered for each sale."""
        self.summary.requests += 1
        self.summary.sent += len(batch)
        answer = self.transport.send(
            "POST", API + "sync/sales/", body={"sales": batch}, drop_answer=drop_answer
        )
        if answer.status != 200:
            raise SimulatorError(f"sale sync answered {answer.status}: {answer.body}")
        for result in answer.body["results"]:
            status, sale = result["status"], result["id"]
            self.summary.answers[status] += 1
            if status == "rejected":
                self.summary.rejected[sale] = result.get("reason", "")
                continue
            numbers = self.orders.setdefault(sale, set())
            if status == "created" and numbers:
                self.summary.created_twice += 1
            numbers.add(result["order"])

    def sync(self, sales: list[dict], *, batch_size: int = BATCH) -> None:
        """Push the sales the way a flaky network does; see the module docstring."""
        rng = self.rng
        shuffled = list(sales)
        rng.shuffle(shuffled)  # not in the order they happened
        batches = [shuffled[i : i + batch_size] for i in range(0, len(shuffled), batch_size)]
        lose_answer_of = len(batches) // 2
        sent: list[dict] = []
        for index, batch in enumerate(batches):
            outgoing = list(batch)
            if sent:
                outgoing += rng.sample(sent, k=min(2, len(sent)))  # resent from before
            outgoing.append(rng.choice(batch))  # the same sale twice in one batch
            rng.shuffle(outgoing)
            if index == lose_answer_of:
                try:
                    self.push(outgoing, drop_answer=True)
                except ConnectionDropped:
                    self.summary.answers_lost += 1
                # No answer: the till cannot know what the core recorded, so it sends again.
            self.push(outgoing)
            sent += batch
        # The till restarts and its journal of acknowledged sales is gone: all of it again.
        replay = list(reversed(sales))
        for start in range(0, len(replay), 500):
            self.push(replay[start : start + 500])
        numbers = [next(iter(n)) for n in self.orders.values() if len(n) == 1]
        self.summary.number_changed = sum(1 for n in self.orders.values() if len(n) > 1)
        self.summary.recorded = len(set(numbers))

    def check_stock(self, *, settle_seconds: float = STOCK_SETTLE_SECONDS) -> None:
        """Pull the stock changes and compare with what the till expects after its sales."""
        expected = {
            vid: self.entities["stock"][vid]["on_hand"] - units
            for vid, units in self.sold.items()
            if vid in self.entities["stock"]
        }
        deadline = time.monotonic() + settle_seconds
        while True:
            self.summary.stock_changes_pulled += self.pull("stock")
            stock = self.entities["stock"]
            differences = {
                self.entities["catalog"][vid]["sku"]: (units, stock.get(vid, {}).get("on_hand"))
                for vid, units in expected.items()
                if stock.get(vid, {}).get("on_hand") != units
            }
            if not differences or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.summary.stock_differences = differences


def simulate(
    transport,
    *,
    sales: int = 50,
    seed: int = 1,
    shoppers: Sequence[dict] = (),
    batch_size: int = BATCH,
    settle_seconds: float = STOCK_SETTLE_SECONDS,
) -> tuple[Summary, list[dict]]:
    """Pull, sell `sales` offline, sync with trouble, check; the summary and the sales."""
    till = Till(transport, rng=random.Random(seed))
    till.pull_all()
    made = till.sell(sales, shoppers=shoppers)
    till.sync(made, batch_size=batch_size)
    till.check_stock(settle_seconds=settle_seconds)
    return till.summary, made
