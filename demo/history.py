"""A year of the demo shop's life, made through the real services (part of `seed_demo`).

Day by day over the last `HISTORY_DAYS` days, in time order: the stores' till sales (sent
through the sale sync in one batch per till each Sunday night, as a till that syncs weekly
would; more sales on Saturdays and in December),
online orders from the web shop and the app (evening peak, a little more on Sundays and
Mondays; delivered, or picked up in a store — collected, or expired when nobody came),
carts left without checkout, returns (online orders brought to a store, till sales
returned at the same or another store, requests from the app), points earned on every
identified purchase and spent at checkout, and weekly restocking of the stores through
the stock service. Every operation runs at its moment of the past under the demo clock
(`demo.clock`), so what the services stamp (placed, moved, earned, returned) is that
moment; the ledgers are the services' own and verify.

Deterministic per seed apart from what the services draw from a secure source (order
numbers, pickup codes) and password salts. Tills sell only what the shelf holds, so no
stock level goes below zero.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import random
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import TextIO
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.errors import DomainError
from customers import demo as customers_demo
from customers import selectors as customer_selectors
from demo.clock import DemoClock
from inventory import demo as inventory_demo
from inventory import selectors as inventory_selectors
from inventory.models import Location
from loyalty import selectors as loyalty_selectors
from orders import demo as orders_demo
from orders.domain import Status
from orders.models import Order
from pos import demo as pos_demo
from pricing import selectors as pricing_selectors
from pricing.demo import COUPON_CODE
from returns import demo as returns_demo

HISTORY_DAYS = 365
ZONE = ZoneInfo("Europe/Berlin")

ONLINE_PER_DAY = 2.2
ONLINE_WEEKDAY = (1.15, 1.0, 0.95, 0.95, 0.9, 0.85, 1.2)  # Sunday and Monday evenings
ONLINE_HOURS = (1, 1, 0, 0, 0, 1, 2, 4, 5, 6, 6, 6, 7, 7, 6, 6, 6, 7, 9, 11, 12, 11, 7, 3)
APP_SHARE = 0.45
PICKUP_SHARE = 0.4
ABANDONED_PER_ORDER = 0.35
GUEST_SHARE = 0.15
RETURN_SHARE = {"online": 0.09, "pos": 0.025}


class _Year:
    """The state the history keeps between operations: shelves, stock to sell online, who
    shops, and the queue of what happens next."""

    def __init__(self, rng: random.Random, now: datetime, days: int) -> None:
        self.rng, self.now, self.days = rng, now, days
        self.clock = DemoClock()
        self.queue: list[tuple[datetime, int, Callable[[], None]]] = []
        self.sequence = itertools.count()
        self.counts: Counter[str] = Counter()
        self.skipped: Counter[str] = Counter()

        codes = [spec["code"] for spec in inventory_demo.LOCATIONS]
        locations = [loc for loc in inventory_selectors.location_list() if loc.code in codes]
        self.stores = [loc for loc in locations if loc.kind == Location.Kind.STORE]
        self.pickup_stores = [s for s in self.stores if s.is_pickup_point]
        # Goods come back only to stores that sell them: the full-range stores.
        self.full_range = [
            s for s in self.stores if inventory_demo.ASSORTMENT.get(s.code, ()) is None
        ] or self.stores
        self.warehouses = [loc for loc in locations if loc.kind == Location.Kind.WAREHOUSE]
        self.by_id = {loc.pk: loc for loc in locations}
        units = pricing_selectors.unit_prices(
            variant_ids=list(
                inventory_selectors.stock_levels(location_ids=list(self.by_id))
                .values_list("variant_id", flat=True)
                .distinct()
            )
        )
        self.price = {vid: u.price for vid, u in units.items() if u.status == "priced"}
        self.skus = dict(
            inventory_selectors.stock_levels(location_ids=list(self.by_id)).values_list(
                "variant_id", "variant__sku"
            )
        )
        self.vid = {sku: vid for vid, sku in self.skus.items()}
        # Shelf quantities: what each location held at its opening (restocked up to that).
        self.par: dict[int, dict[int, int]] = {loc: {} for loc in self.by_id}
        for loc_id, vid, on_hand in inventory_selectors.stock_levels(
            location_ids=list(self.by_id)
        ).values_list("location_id", "variant_id", "on_hand"):
            self.par[loc_id][vid] = on_hand
        self.shelves = {
            loc.pk: pos_demo.shelf_for(rng, loc, priced=set(self.price), skus=self.skus)
            for loc in locations
        }
        tills = pos_demo.demo_terminals()
        self.tills = {
            s.pk: sorted((t for t in tills if t.location_id == s.pk), key=lambda t: t.code)
            for s in self.stores
        }
        self.regulars = pos_demo.shoppers(rng)
        online = list(customer_selectors.customer_list().filter(user__isnull=False).order_by("pk"))
        self.online = online
        # Some shop often, most now and then.
        self.online_weights = [rng.paretovariate(1.3) for _c in online]
        self.coupon_used: set[int] = set()
        self.guests = itertools.count(1)

    # --- the queue ---------------------------------------------------------------------

    def at(self, when: datetime, action: Callable[[], None]) -> None:
        if when < self.now:
            heapq.heappush(self.queue, (when, next(self.sequence), action))

    def run(self) -> None:
        with self.clock.running():
            while self.queue:
                when, _n, action = heapq.heappop(self.queue)
                with self.clock.at(when):
                    try:
                        with transaction.atomic():
                            action()
                    except DomainError as error:
                        self.skipped[error.code] += 1

    # --- the calendar ------------------------------------------------------------------

    def plan(self) -> None:
        today = timezone.localtime(self.now, ZONE).date()
        first = today - timedelta(days=self.days - 1)
        for offset in range(self.days):
            day = first + timedelta(days=offset)
            if day.weekday() == 0:
                for store in self.stores:
                    self.at(_local(day, time(7, 0)), self._restock(store))
            if day.weekday() == 0 and offset % 14 < 7:
                for warehouse in self.warehouses:
                    self.at(_local(day, time(6, 0)), self._restock(warehouse))
            if day.weekday() == 6 or offset == self.days - 1:
                # The tills send their week's sales on Sunday night (and on the last day).
                days = [day - timedelta(days=n) for n in range(min(7, offset + 1) - 1, -1, -1)]
                for store in self.stores:
                    self.at(_local(day, time(23, 0)), self._store_week(store, days))
            expected = ONLINE_PER_DAY * ONLINE_WEEKDAY[day.weekday()]
            expected *= pos_demo.MONTH_FACTOR[day.month - 1]
            for _n in range(max(0, round(self.rng.gauss(expected, expected**0.5)))):
                self.at(self._online_time(day), self._online_order())
                if self.rng.random() < ABANDONED_PER_ORDER:
                    self.at(self._online_time(day), self._abandoned_cart())

    def _online_time(self, day: date) -> datetime:
        hour = self.rng.choices(range(24), weights=ONLINE_HOURS)[0]
        return _local(day, time(hour, self.rng.randrange(60), self.rng.randrange(60)))

    # --- what happens ------------------------------------------------------------------

    def _restock(self, location: Location) -> Callable[[], None]:
        def restock() -> None:
            stamp = timezone.localtime(self.clock.now(), ZONE).date().isoformat()
            received = inventory_demo.replenish(
                location=location,
                par=self.par[location.pk],
                reference=f"demo:restock-{location.code}-{stamp}",
            )
            shelf = self.shelves[location.pk]
            fresh = pos_demo.shelf_for(self.rng, location, priced=set(self.price), skus=self.skus)
            shelf.left = fresh.left
            self.counts["restocks"] += 1
            self.counts["units restocked"] += received

        return restock

    def _store_week(self, store: Location, days: list[date]) -> Callable[[], None]:
        def store_week() -> None:
            baskets = [
                basket
                for day in days
                for basket in pos_demo.day_baskets(
                    self.rng,
                    store,
                    self.tills[store.pk],
                    self.shelves[store.pk],
                    self.regulars,
                    day,
                    until=min(self.now, self.clock.now()),
                )
            ]
            recorded = pos_demo.baskets_sync(self.rng, baskets)
            self.counts["till sales"] += len(recorded)
            for number, sale in recorded:
                if self.rng.random() < RETURN_SHARE["pos"]:
                    sold = datetime.fromisoformat(sale["occurred_at"])
                    others = [s for s in self.full_range if s.pk != store.pk]
                    where = store if self.rng.random() < 0.7 or not others else None
                    where = where or self.rng.choice(others)
                    later = max(sold, self.clock.now()) + timedelta(
                        days=self.rng.randint(1, 14), hours=2
                    )
                    self.at(later, self._return(number, where, "till sale returned"))

        return store_week

    def _lines_from(self, location_ids: list[int], count: int) -> list[tuple[str, int]]:
        shelves = [self.shelves[loc] for loc in location_ids]
        lines: list[tuple[str, int]] = []
        for _attempt in range(count * 4):
            shelf = self.rng.choice(shelves)
            if not shelf.range:
                continue
            sku = self.rng.choice(shelf.range)
            if shelf.left.get(sku, 0) > 0 and sku not in {s for s, _q in lines}:
                lines.append((sku, 1 if self.rng.random() < 0.85 else 2))
            if len(lines) == count:
                break
        return lines

    def _online_order(self) -> Callable[[], None]:
        def online_order() -> None:
            rng = self.rng
            channel = "app" if rng.random() < APP_SHARE else "web"
            pickup = rng.random() < PICKUP_SHARE and self.pickup_stores
            store = rng.choice(self.pickup_stores) if pickup else None
            count = rng.choices((1, 2, 3), weights=(55, 30, 15))[0]
            sources = [store.pk] if store else [w.pk for w in self.warehouses]
            lines = self._lines_from(sources, count)
            if not lines:
                self.skipped["nothing_in_stock"] += 1
                return
            customer = contact = None
            if rng.random() < GUEST_SHARE or not self.online:
                n = next(self.guests)
                first = rng.choice(customers_demo.FIRST_NAMES)
                last = rng.choice(customers_demo.LAST_NAMES)
                contact = {
                    "name": f"{first} {last}",
                    "email": customers_demo._email(first, last, 1000 + n),
                }
            else:
                customer = rng.choices(self.online, weights=self.online_weights)[0]
            redeem, coupon = 0, ""
            if customer is not None:
                if customer.pk not in self.coupon_used and rng.random() < 0.25:
                    coupon = COUPON_CODE
                    self.coupon_used.add(customer.pk)
                elif rng.random() < 0.35:
                    redeem = self._points_to_redeem(customer, lines)
            plan = orders_demo.OnlineOrder(
                channel=channel,
                customer=customer,
                contact=contact,
                lines=lines,
                pickup_store=store.code if store else None,
                pay_in_store=bool(store) and rng.random() < 0.3,
                redeem_points=redeem,
                coupon=coupon,
            )
            try:
                with transaction.atomic():
                    order = orders_demo.place(rng, plan)
            except DomainError as error:
                if not redeem:
                    raise
                self.skipped[f"{error.code} (retried without points)"] += 1
                order = orders_demo.place(rng, dataclasses.replace(plan, redeem_points=0))
            self.counts[f"{channel} orders"] += 1
            self.counts["points redeemed online"] += order.points_redeemed
            shelf = self.shelves.get(order.location_id)
            if shelf is not None:
                for sku, quantity in plan.lines:
                    shelf.left[sku] = shelf.left.get(sku, 0) - quantity
            self._follow_up(order)

        return online_order

    def _points_to_redeem(self, customer, lines) -> int:
        balance = loyalty_selectors.balance_get(customer=customer)
        if balance < 200:
            return 0
        estimate = sum(
            (self.price.get(self.vid[sku], Decimal(0)) * q for sku, q in lines), Decimal(0)
        )
        # Well under the programme's 30% cap, at 0.05 a point; whole tens of points.
        return int(min(balance, estimate * Decimal("0.15") / Decimal("0.05")) // 10 * 10)

    def _follow_up(self, order: Order) -> None:
        rng, placed = self.rng, order.placed_at
        if rng.random() < 0.04:
            self.at(placed + timedelta(hours=rng.uniform(0.5, 10)), self._move(order, "cancel"))
            return
        if order.fulfilment_type == "pickup":
            ready = placed + timedelta(hours=rng.uniform(2, 20))
            self.at(ready, self._move(order, Status.READY_FOR_PICKUP))
            if rng.random() < 0.1:
                expires = ready + timedelta(days=settings.PICKUP_HOLD_DAYS, hours=1)
                self.at(expires, self._move(order, Status.EXPIRED))
            else:
                collected = ready + timedelta(hours=rng.uniform(1, 24 * 4))
                self.at(collected, self._move(order, Status.COLLECTED))
        else:
            shipped = placed + timedelta(hours=rng.uniform(10, 40))
            self.at(shipped, self._move(order, Status.SHIPPED))
            delivered = shipped + timedelta(hours=rng.uniform(20, 72))
            self.at(delivered, self._move(order, Status.DELIVERED))

    def _move(self, order: Order, target: str) -> Callable[[], None]:
        def move() -> None:
            cancel = target == "cancel"
            done = orders_demo.advance(
                order, Status.CANCELLED if cancel else target, by_customer=cancel
            )
            self.counts[str(done.status)] += 1
            if done.status in (Status.COLLECTED, Status.DELIVERED):
                if done.customer_id and self.rng.random() < RETURN_SHARE["online"]:
                    later = self.clock.now() + timedelta(days=self.rng.randint(2, 20))
                    where = self.rng.choice(self.full_range)
                    self.at(later, self._return(done.number, where, "online order returned"))

        return move

    def _return(self, number: str, store: Location, label: str) -> Callable[[], None]:
        def returned() -> None:
            order = Order.objects.get(number=number)
            recent = self.now - self.clock.now() < timedelta(days=10)
            if order.channel != "pos" and recent and self.rng.random() < 0.5:
                returns_demo.request(self.rng, order=order, location=store)
                self.counts["return requests"] += 1
                return
            ret = returns_demo.at_store(self.rng, order=order, location=store)
            self.counts[label] += 1
            if ret.location_id != order.location_id:
                self.counts["returned at another store"] += 1

        return returned

    def _abandoned_cart(self) -> Callable[[], None]:
        def abandoned() -> None:
            from orders import services as order_services

            channel = "app" if self.rng.random() < APP_SHARE else "web"
            cart = orders_demo.cart_start(self.rng, channel=channel)
            for sku, quantity in self._lines_from([self.warehouses[0].pk], 2):
                order_services.cart_line_add(cart=cart, sku=sku, quantity=quantity)
            if self.rng.random() < 0.3:  # got as far as choosing delivery, then left
                order_services.cart_update(cart=cart, fulfilment_type="delivery")
            self.counts["carts left"] += 1

        return abandoned


def _local(day: date, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=ZONE)


def seed(*, rng: random.Random, stdout: TextIO, days: int = HISTORY_DAYS) -> None:
    """Make the demo shop's last `days` days; does nothing when it has orders already."""
    if Order.objects.exists() or days <= 0:
        stdout.write("  history: orders already present or no days asked for; skipped")
        return
    year = _Year(rng, timezone.now(), days)
    if not year.stores or not year.price:
        stdout.write("  history: no demo stores or prices; skipped")
        return
    year.plan()
    year.run()
    made = ", ".join(f"{n} {what}" for what, n in sorted(year.counts.items()))
    stdout.write(f"  history over {days} days: {made}")
    if year.skipped:
        stdout.write(
            "  history: skipped "
            + ", ".join(f"{n} × {code}" for code, n in sorted(year.skipped.items()))
        )
