"""`seed_scale`: a large, deterministic history written straight into the tables, for the
report benchmarks (`python -m benchmarks reports`).

    python manage.py seed_scale --variants 100000 --locations 50 --months 12

This is benchmark data, and writing it is this command's whole purpose: rows go in with
bulk inserts (COPY on PostgreSQL, batched INSERTs elsewhere), not through the services,
which would take hours for a year of a 50-store chain. The ledgers hold all the same:
- stock: every level gets a receipt at the start, then its sales and its returns as one
  movement each, so on hand equals the sum of the movements; every order ends in a final
  state, so nothing is reserved;
- points: the ledger is played through in time order as the loyalty services write it —
  earns are FIFO lots with the rules' lifetime, redemptions take the oldest lots first
  after due lots expire, an expiry run every night, redemptions given back last-taken
  first on a cancellation, expiry or return, a return taking back earned points from the
  lot they came from first (what was spent meanwhile is the return's shortfall) — and the
  lots' unspent points and the accounts' balances are set from the ledger at the end,
  so `loyalty.services.verify` and `inventory.services.verify_ledger` find nothing.

What it makes: a category tree, products with four sizes each (`--variants` variants,
priced, with EAN-13 barcodes); `--locations` stores and `--warehouses` warehouses; each
store stocks `--assortment` variants, the warehouses all; customers (`--customers`, by
default 1,500 per store) with points accounts; `--months` months of orders up to `--end`
with weekly and yearly seasonality: till sales (about 60 %), web and app orders for
pickup and delivery with their transitions, tenders, carts (converted and abandoned) and
campaign fields where the models have them; cancellations, expired pickups, returns
anywhere and points earned, spent, given back, taken back and expired. `--orders-per-day`
is per store (default 60: a 50-store year is about 1.1 million orders). The same
`--seed`, sizes and `--end` give the same data.

It refuses a database that already has orders unless `--force` (then it adds a second
history next to the first, under new codes and numbers).
"""

import heapq
import json
import random
import time as clock
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.core.management.color import no_style
from django.db import connection, models, transaction
from django.db.models import Max

from catalog.models import Barcode, Category, Product, Variant
from customers.models import Customer
from inventory.models import Location, StockLevel, StockMovement
from loyalty.models import LoyaltyAccount, LoyaltyAllocation, LoyaltyEntry, LoyaltyRules
from orders.models import Cart, CartLine, Order, OrderLine, OrderTransition, Tender
from pricing.models import Price, PriceList
from reports.services import facts_rebuild
from returns.models import RefundTender, Return, ReturnLine

BATCH = 200_000  # rows buffered over all tables before they are written
VAT = Decimal("19.00")
ZONE = "Europe/Berlin"
CITIES = ("Berlin", "Hamburg", "München", "Köln", "Frankfurt", "Stuttgart", "Leipzig", "Dresden")
BRANDS = ("Nordhaus", "Kestrel", "Alder & Co", "Fjell", "Mira", "Ostwind", "Lumen", "Brakel")
DEPARTMENTS = ("Fashion", "Shoes", "Home", "Kitchen", "Sport", "Beauty", "Toys", "Garden")
SIZES = ("S", "M", "L", "XL")
FIRST = ("Anna", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hannes", "Ida", "Jonas")
LAST = ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker")
# Orders per weekday (Monday first) and per month, relative; stores close on Sundays.
WEEKDAY = (0.9, 0.9, 1.0, 1.0, 1.2, 1.4, 0.0)
ONLINE_WEEKDAY = (1.0, 1.0, 1.0, 1.0, 1.0, 1.1, 1.3)
MONTH = (0.8, 0.8, 0.9, 1.0, 1.0, 0.95, 0.9, 0.9, 1.0, 1.05, 1.25, 1.6)
CAMPAIGNS = (
    ("google", "cpc", "brand"),
    ("google", "cpc", "generic"),
    ("newsletter", "email", "weekly"),
    ("instagram", "social", "season"),
    ("", "", ""),
    ("", "", ""),
)
REASONS = ("changed_mind", "wrong_size", "defective", "not_as_described", "other")
HOUR = 3600
NEVER = datetime.max.replace(tzinfo=UTC)


def _money(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


def _ean13(body: str) -> str:
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def _has(model, name: str) -> bool:
    return any(f.name == name for f in model._meta.concrete_fields)


class Table:
    """Rows of one model buffered as tuples of the named fields; every other column gets
    its default (auto timestamps: the run's fixed `now`). Ids are assigned here."""

    def __init__(self, model, names: list[str], *, now: datetime):
        self.model = model
        by_name = {}
        for f in model._meta.concrete_fields:
            by_name[f.name] = by_name[f.attname] = f
        self.given = [by_name[n] for n in ["id", *names]]
        rest = [f for f in model._meta.concrete_fields if f not in self.given]
        self.fixed = tuple(self._default(f, now) for f in rest)
        self.fields = self.given + rest
        self.json = [i for i, f in enumerate(self.fields) if isinstance(f, models.JSONField)]
        self.rows: list[tuple] = []
        self.next_id = (model.objects.aggregate(m=Max("pk"))["m"] or 0) + 1
        self.written = 0

    @staticmethod
    def _default(field, now):
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            return now
        if field.has_default():
            return field.get_default()
        if field.null:
            return None
        if isinstance(field, models.CharField | models.TextField):
            return ""
        raise ValueError(f"{field.model.__name__}.{field.name} needs a value")

    def add(self, *values) -> int:
        pk = self.next_id
        self.next_id += 1
        self.rows.append((pk, *values))
        return pk

    def flush(self) -> None:
        if not self.rows:
            return
        table = self.model._meta.db_table
        quote = connection.ops.quote_name
        columns = ", ".join(quote(f.column) for f in self.fields)
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                with cursor.cursor.copy(f"COPY {quote(table)} ({columns}) FROM STDIN") as copy:
                    for row in self.rows:
                        full = list(row + self.fixed)
                        for i in self.json:
                            full[i] = json.dumps(full[i])
                        copy.write_row(full)
            else:
                marks = ", ".join(["%s"] * len(self.fields))
                cursor.executemany(
                    f"INSERT INTO {quote(table)} ({columns}) VALUES ({marks})",
                    [
                        [
                            f.get_db_prep_save(v, connection)
                            for f, v in zip(self.fields, row + self.fixed, strict=True)
                        ]
                        for row in self.rows
                    ],
                )
        self.written += len(self.rows)
        self.rows = []


class Writer:
    """The tables in foreign-key order; written together (parents first), one transaction
    per batch."""

    def __init__(self, now: datetime):
        self.now = now
        self.tables: list[Table] = []

    def table(self, model, names: list[str]) -> Table:
        table = Table(model, names, now=self.now)
        self.tables.append(table)
        return table

    def maybe_flush(self) -> None:
        if sum(len(t.rows) for t in self.tables) >= BATCH:
            self.flush()

    def flush(self) -> None:
        with transaction.atomic():
            for table in self.tables:
                table.flush()

    def reset_sequences(self) -> None:
        statements = connection.ops.sequence_reset_sql(no_style(), [t.model for t in self.tables])
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)


class Points:
    """The points ledger played through in time order, as the loyalty services write it."""

    def __init__(self, builder: "Builder"):
        self.b = builder
        self.balance: dict[int, int] = defaultdict(int)
        self.lots: dict[int, list] = defaultdict(list)  # account → [[expires, lot id, left]]
        self.due: list[tuple[datetime, int]] = []
        self.taken: dict[int, list] = {}  # redeem entry → [[lot id, points still taken]]
        self.expiry: dict[int, datetime] = {}  # lot → when it expires (NEVER: never)

    def _entry(self, account, kind, points, at, *, reference="", channel="system", **extra):
        b = self.b
        return b.entries.add(
            account,
            kind,
            points,
            reference,
            channel,
            extra.get("reverses"),
            extra.get("reversed_points"),
            extra.get("amount_paid"),
            extra.get("expires_at"),
            extra.get("remaining"),
            extra.get("rules"),
            extra.get("details", {}),
            at,
            extra.get("created_at", at),
        )

    def _allocate(self, entry: int, lot: int, points: int) -> None:
        self.b.allocations.add(entry, lot, points)

    def expire_due(self, account: int, at: datetime) -> None:
        due = [lot for lot in self.lots[account] if lot[2] > 0 and lot[0] <= at]
        if not due:
            return
        due.sort()
        points = sum(lot[2] for lot in due)
        entry = self._entry(
            account,
            "expire",
            -points,
            at,
            reference=f"expiry:{at:%Y-%m-%d}",
            details={"lots": [lot[1] for lot in due]},
        )
        for lot in due:
            self._allocate(entry, lot[1], -lot[2])
            lot[2] = 0
        self.balance[account] -= points
        self.lots[account] = [lot for lot in self.lots[account] if lot[2] > 0]

    def nightly(self, at: datetime) -> None:
        accounts = set()
        while self.due and self.due[0][0] <= at:
            accounts.add(heapq.heappop(self.due)[1])
        for account in sorted(accounts):
            self.expire_due(account, at)

    def available(self, account: int, at: datetime) -> int:
        self.expire_due(account, at)
        return self.balance[account]

    def _consume(self, account, entry, points, *, first=None) -> list[list[int]]:
        lots = sorted(lot for lot in self.lots[account] if lot[2] > 0)
        if first is not None:
            lots.sort(key=lambda lot: lot[1] != first)
        taken = []
        for lot in lots:
            if points <= 0:
                break
            take = min(points, lot[2])
            lot[2] -= take
            points -= take
            self._allocate(entry, lot[1], -take)
            taken.append([lot[1], take])
        self.lots[account] = [lot for lot in self.lots[account] if lot[2] > 0]
        return taken

    def earn(self, account, points, *, reference, channel, paid, placed, at) -> int | None:
        if points <= 0:
            return None
        expires = placed + timedelta(days=self.b.lifetime) if self.b.lifetime else None
        lot = self._entry(
            account,
            "earn",
            points,
            placed,
            reference=reference,
            channel=channel,
            amount_paid=paid,
            expires_at=expires,
            remaining=points,
            rules=self.b.rules.pk,
            created_at=at,
        )
        self.balance[account] += points
        self.expiry[lot] = expires or NEVER
        record = [self.expiry[lot], lot, points]
        self.lots[account].append(record)
        if expires:
            heapq.heappush(self.due, (expires, account))
        return lot

    def redeem(self, account, points, *, reference, channel, at) -> int:
        entry = self._entry(account, "redeem", -points, at, reference=reference, channel=channel)
        self.taken[entry] = self._consume(account, entry, points)
        self.balance[account] -= points
        return entry

    def give_back(self, redeem, account, points, *, reference, channel, at) -> None:
        held = self.taken[redeem]
        points = min(points, sum(h[1] for h in held))
        if points <= 0:
            return
        entry = self._entry(
            account,
            "reverse",
            points,
            at,
            reference=reference,
            channel=channel,
            reverses=redeem,
            reversed_points=points,
        )
        left = points
        for h in reversed(held):
            give = min(left, h[1])
            if give <= 0:
                continue
            h[1] -= give
            left -= give
            self._allocate(entry, h[0], give)
            lot_id = h[0]
            record = next((lot for lot in self.lots[account] if lot[1] == lot_id), None)
            if record is None:  # the lot was empty: it holds points again
                expires = self.expiry[lot_id]
                record = [expires, lot_id, 0]
                self.lots[account].append(record)
                if expires != NEVER:
                    heapq.heappush(self.due, (expires, account))
            record[2] += give
            if left == 0:
                break
        self.balance[account] += points

    def take_back(self, lot, account, points, *, paid, reference, channel, at) -> tuple[int, int]:
        """Reverse `points` of the earn `lot`; returns (taken, shortfall)."""
        self.expire_due(account, at)
        taken = min(points, self.balance[account])
        details = {"shortfall": points - taken} if taken < points else {}
        entry = self._entry(
            account,
            "reverse",
            -taken,
            at,
            reference=reference,
            channel=channel,
            reverses=lot,
            reversed_points=points,
            amount_paid=-paid,
            details=details,
        )
        self._consume(account, entry, taken, first=lot)
        self.balance[account] -= taken
        return taken, points - taken


class Builder:
    def __init__(self, options, out):
        self.o = options
        self.out = out
        self.rng = random.Random(options["seed"])
        self.started = clock.monotonic()
        self.end_day = options["end"]
        end = self.end_day
        months = options["months"]
        month_index = end.year * 12 + end.month - 1 - months
        start = date(month_index // 12, month_index % 12 + 1, 1)
        self.start_day = max(start, end - timedelta(days=31 * months))
        if self.start_day >= end:
            raise CommandError("--months must be at least 1.")
        self.start = datetime.combine(self.start_day, time.min, tzinfo=UTC)
        self.end = datetime.combine(end, time.min, tzinfo=UTC)
        self.writer = Writer(now=self.end)
        self.zone = ZoneInfo(ZONE)
        self.heap: list = []
        self.seq = 0
        self.stock_sold: dict[tuple[int, int], int] = defaultdict(int)
        self.stock_back: dict[tuple[int, int], int] = defaultdict(int)
        self.counts: dict[str, int] = defaultdict(int)

    def log(self, message: str) -> None:
        self.out.write(f"{clock.monotonic() - self.started:6.1f} s  {message}")

    # --- reference data ----------------------------------------------------------------

    def reference_data(self) -> None:
        o, rng, w = self.o, self.rng, self.writer
        tag = f"s{o['seed']}-{Category.objects.aggregate(m=Max('pk'))['m'] or 0}"
        departments = Category.objects.bulk_create(
            [
                Category(name=d, slug=f"scale-{tag}-{i}", position=i)
                for i, d in enumerate(DEPARTMENTS)
            ]
        )
        leaves = Category.objects.bulk_create(
            [
                Category(name=f"{d.name} {k + 1}", slug=f"{d.slug}-{k}", parent=d, position=k)
                for d in departments
                for k in range(4)
            ]
        )
        self.price_list = PriceList.objects.filter(is_default=True).first()
        if self.price_list is None:
            self.price_list = PriceList.objects.create(
                name=f"Retail {tag}", currency=settings.DEFAULT_CURRENCY, is_default=True
            )
        products = w.table(
            Product, ["name", "slug", "brand", "category_id", "created_at", "updated_at"]
        )
        variants = w.table(
            Variant,
            [
                "product_id",
                "sku",
                "name",
                "options",
                "vat_rate",
                "position",
                "created_at",
                "updated_at",
            ],
        )
        barcodes = w.table(Barcode, ["variant_id", "code", "kind"])
        prices = w.table(
            Price, ["price_list_id", "variant_id", "amount", "valid_from", "created_at"]
        )
        since = self.start - timedelta(days=30)
        self.variant_ids, self.variant_cents, self.variant_sku = [], [], []
        for n in range(o["variants"]):
            if n % len(SIZES) == 0:
                leaf = leaves[rng.randrange(len(leaves))]
                brand = BRANDS[rng.randrange(len(BRANDS))]
                base = rng.randint(3, 60) * 100 - 1 + rng.choice((0, 0, -400 + 1, 5000))
                base = max(base, 199)
                product = products.add(
                    f"{brand} {leaf.name} {n // len(SIZES) + 1}",
                    f"scale-{tag}-p{n // len(SIZES)}",
                    brand,
                    leaf.pk,
                    since,
                    since,
                )
            size = SIZES[n % len(SIZES)]
            cents = base + (n % len(SIZES)) * 200  # larger sizes cost more
            vid = variants.next_id
            sku = f"SC{vid:09d}"
            variants.add(product, sku, size, {"size": size}, VAT, n % len(SIZES), since, since)
            barcodes.add(vid, _ean13(f"29{vid:010d}"), "ean13")
            prices.add(self.price_list.pk, vid, _money(cents), since, since)
            self.variant_ids.append(vid)
            self.variant_cents.append(cents)
            self.variant_sku.append(sku)
            w.maybe_flush()
        w.flush()
        self.log(f"catalog: {o['variants']} variants")

        stores = [
            Location(
                code=f"SC-{tag}-{i + 1:03d}".upper(),
                name=f"{CITIES[i % len(CITIES)]} {i // len(CITIES) + 1}",
                kind=Location.Kind.STORE,
                city=CITIES[i % len(CITIES)],
                country="DE",
                time_zone=ZONE,
                is_pickup_point=True,
                ships_online=False,
            )
            for i in range(o["locations"])
        ]
        warehouses = [
            Location(
                code=f"SC-{tag}-WH{i + 1}".upper(),
                name=f"Warehouse {i + 1}",
                kind=Location.Kind.WAREHOUSE,
                country="DE",
                time_zone=ZONE,
                ships_online=True,
            )
            for i in range(o["warehouses"])
        ]
        self.stores = [loc.pk for loc in Location.objects.bulk_create(stores)]
        self.warehouses = [loc.pk for loc in Location.objects.bulk_create(warehouses)]
        size = min(o["assortment"], o["variants"])
        self.assortment = [sorted(rng.sample(range(o["variants"]), size)) for _store in self.stores]

        self.rules = LoyaltyRules.objects.filter(effective_from__lte=self.start).first()
        if self.rules is None:
            self.rules = LoyaltyRules.objects.create(
                effective_from=self.start - timedelta(days=1),
                earn_rate=Decimal("1"),
                redemption_value=Decimal("0.05"),
                max_redeem_percent=Decimal("50"),
                points_lifetime_days=270,
                note="seed_scale",
            )
        self.lifetime = self.rules.points_lifetime_days
        self.point_cents = self.rules.redemption_value * 100

        customers = w.table(
            Customer,
            [
                "first_name",
                "last_name",
                "phone",
                "email",
                "card_number",
                "signup_channel",
                "registered_at",
                "registered_via",
                "created_at",
            ],
        )
        accounts = w.table(LoyaltyAccount, ["customer_id", "balance", "created_at"])
        count = o["customers"] or 1500 * len(self.stores)
        self.customers, self.accounts, self.home = [], [], defaultdict(list)
        for n in range(count):
            cid = customers.next_id
            via = rng.choice(("pos", "pos", "web", "app"))
            joined = self.start - timedelta(days=rng.randint(1, 900))
            customers.add(
                FIRST[rng.randrange(len(FIRST))],
                LAST[rng.randrange(len(LAST))],
                f"+49151{cid:08d}",
                f"c{cid}@scale.example",
                f"SC{cid:010d}",
                via,
                joined,
                via,
                joined,
            )
            self.customers.append(cid)
            self.accounts.append(accounts.add(cid, 0, joined))
            self.home[n % len(self.stores)].append(n)
            w.maybe_flush()
        w.flush()
        self.log(f"locations: {len(self.stores)} stores, {len(self.warehouses)} warehouses")
        self.log(f"customers: {count}")

    # --- orders ------------------------------------------------------------------------

    def order_tables(self) -> None:
        w = self.writer
        attribution = [n for n in ("utm_source", "utm_medium", "utm_campaign") if _has(Order, n)]
        self.attribution = attribution
        self.with_store = _has(Order, "store")
        self.with_device = _has(Order, "device")
        extra = attribution + (["store_id"] if self.with_store else [])
        extra += ["device"] if self.with_device else []
        self.cart_attribution = [n for n in attribution if _has(Cart, n)]
        self.cart_device = _has(Cart, "device")
        cart_extra = self.cart_attribution + (["device"] if self.cart_device else [])
        self.carts = w.table(
            Cart,
            [
                "token",
                "customer_id",
                "channel",
                "state",
                "fulfilment_type",
                "pickup_location_id",
                "quoted_total",
                "checkout_at",
                "created_at",
                "updated_at",
                *cart_extra,
            ],
        )
        self.cart_lines = w.table(CartLine, ["cart_id", "variant_id", "quantity", "added_at"])
        self.orders = w.table(
            Order,
            [
                "number",
                "customer_id",
                "channel",
                "fulfilment_type",
                "status",
                "location_id",
                "currency",
                "subtotal",
                "discount_total",
                "total",
                "points_redeemed",
                "points_value",
                "amount_due",
                "quote_snapshot",
                "pickup_code",
                "payment_method",
                "pickup_expires_at",
                "cart_id",
                "till_sale",
                "placed_at",
                "updated_at",
                *extra,
            ],
        )
        self.lines = w.table(
            OrderLine,
            [
                "order_id",
                "variant_id",
                "sku",
                "name",
                "quantity",
                "unit_price",
                "discount_total",
                "line_total",
                "vat_rate",
                "vat_amount",
                "discounts",
            ],
        )
        self.transitions = w.table(
            OrderTransition, ["order_id", "from_status", "to_status", "actor_kind", "note", "at"]
        )
        self.tenders = w.table(
            Tender,
            [
                "order_id",
                "kind",
                "provider",
                "provider_reference",
                "amount",
                "currency",
                "status",
                "captured_at",
                "voided_at",
                "created_at",
            ],
        )
        self.entries = w.table(
            LoyaltyEntry,
            [
                "account_id",
                "kind",
                "points",
                "reference",
                "channel",
                "reverses_id",
                "reversed_points",
                "amount_paid",
                "expires_at",
                "remaining",
                "rules_id",
                "details",
                "occurred_at",
                "created_at",
            ],
        )
        self.allocations = w.table(LoyaltyAllocation, ["entry_id", "lot_id", "points"])
        self.returns = w.table(
            Return,
            [
                "number",
                "order_id",
                "status",
                "source",
                "location_id",
                "courier_pickup",
                "reason",
                "currency",
                "value",
                "refund_amount",
                "points_returned",
                "points_reversed",
                "points_shortfall",
                "created_at",
                "completed_at",
            ],
        )
        self.return_lines = w.table(
            ReturnLine,
            [
                "ret_id",
                "order_line_id",
                "variant_id",
                "sku",
                "name",
                "quantity",
                "condition",
                "value",
                "points_reversed",
            ],
        )
        self.refunds = w.table(
            RefundTender,
            [
                "ret_id",
                "kind",
                "amount",
                "points",
                "currency",
                "original_tender_id",
                "provider",
                "status",
                "refunded_at",
                "created_at",
            ],
        )
        self.points = Points(self)

    def schedule(self, at: datetime, kind: str, data) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (at, self.seq, kind, data))

    def run_due(self, until: datetime) -> None:
        while self.heap and self.heap[0][0] <= until:
            at, _seq, kind, data = heapq.heappop(self.heap)
            getattr(self, f"_on_{kind}")(at, data)

    def history(self) -> None:
        o, rng = self.o, self.rng
        self.order_tables()
        stores = len(self.stores)
        day = self.start_day
        while day < self.end_day:
            midnight = datetime.combine(day, time.min, tzinfo=UTC)
            offset = datetime.combine(day, time(12), tzinfo=self.zone).utcoffset()
            self.run_due(midnight + timedelta(hours=2))
            self.points.nightly(midnight + timedelta(hours=2))
            season = MONTH[day.month - 1] * o["orders_per_day"]
            planned = []
            for s in range(stores):
                n = self._count(season * 0.6 * WEEKDAY[day.weekday()])
                for _ in range(n):
                    local = rng.uniform(9, 20) * HOUR
                    planned.append((midnight + timedelta(seconds=local) - offset, "pos", s))
            online = self._count(season * 0.4 * ONLINE_WEEKDAY[day.weekday()] * stores)
            for _ in range(online):
                local = min(rng.triangular(6, 24, 20), 23.99) * HOUR
                planned.append((midnight + timedelta(seconds=local) - offset, "online", None))
            planned.sort(key=lambda p: p[0])
            for at, kind, store in planned:
                self.run_due(at)
                if kind == "pos":
                    self._till_sale(at, store)
                else:
                    self._online_order(at)
                self.writer.maybe_flush()
            self._abandoned_carts(midnight, offset, online)
            day += timedelta(days=1)
            if day.day == 1:
                self.log(f"  {day - timedelta(days=1):%Y-%m}: {self.counts['orders']} orders")
        self.run_due(self.end - timedelta(microseconds=1))
        self.points.nightly(self.end - timedelta(microseconds=1))
        self.writer.flush()

    def _count(self, mean: float) -> int:
        whole = int(mean)
        return whole + (1 if self.rng.random() < mean - whole else 0)

    def _pick(self, store: int | None) -> int:
        rng = self.rng
        if store is None:
            return int(len(self.variant_ids) * rng.random() ** 2)
        choice = self.assortment[store]
        return choice[int(len(choice) * rng.random() ** 2)]

    def _customer(self, store: int | None) -> int | None:
        """An index into the customers, mostly of the store's own neighbourhood."""
        rng = self.rng
        if store is not None and rng.random() < 0.8 and self.home[store]:
            pool = self.home[store]
            return pool[int(len(pool) * rng.random() ** 1.5)]
        return int(len(self.customers) * rng.random() ** 1.5)

    def _basket(self, store):
        rng = self.rng
        lines = []
        seen = set()
        for _ in range(1 + int(rng.random() ** 2 * 4)):
            v = self._pick(store)
            if v in seen:
                continue
            seen.add(v)
            quantity = 2 if rng.random() < 0.2 else 1
            gross = self.variant_cents[v] * quantity
            discount = gross // 10 if rng.random() < 0.15 else 0
            lines.append((v, quantity, gross, discount))
        return lines

    def _order(
        self,
        at,
        *,
        status,
        channel,
        fulfilment,
        location,
        store,
        customer,
        lines,
        redeem=0,
        payment="online",
        cart=None,
        till=None,
        campaign=("", "", ""),
    ):
        """Write the order and its lines; returns (order id, line ids, totals)."""
        o = self.orders
        oid = o.next_id
        subtotal = sum(line[2] for line in lines)
        discount = sum(line[3] for line in lines)
        total = subtotal - discount
        points_cents = int(redeem * self.point_cents)
        due = total - points_cents
        snapshot = {"currency": settings.DEFAULT_CURRENCY, "total": str(_money(total))}
        values = [
            f"S{oid:09d}",
            self.customers[customer] if customer is not None else None,
            channel,
            fulfilment,
            status,
            location,
            settings.DEFAULT_CURRENCY,
            _money(subtotal),
            _money(discount),
            _money(total),
            redeem,
            _money(points_cents),
            _money(due),
            snapshot,
            f"{self.rng.randrange(10**6):06d}" if fulfilment == "pickup" else "",
            payment,
            None,
            cart,
            till,
            at,
            at,
        ]
        values += list(campaign[: len(self.attribution)])
        if self.with_store:
            values.append(store)
        if self.with_device:
            values.append({"web": "web", "app": "ios"}.get(channel, ""))
        o.add(*values)
        line_ids = []
        for v, quantity, gross, disc in lines:
            line_total = gross - disc
            line_ids.append(
                self.lines.add(
                    oid,
                    self.variant_ids[v],
                    self.variant_sku[v],
                    self.variant_sku[v],
                    quantity,
                    _money(self.variant_cents[v]),
                    _money(disc),
                    _money(line_total),
                    VAT,
                    _money((line_total * 19 + 59) // 119),
                    [],
                )
            )
        self.counts["orders"] += 1
        return oid, line_ids, total, due

    def _transition(self, order, source, target, actor, at) -> None:
        self.transitions.add(order, source, target, actor, "", at)

    def _till_sale(self, at, store) -> None:
        rng = self.rng
        location = self.stores[store]
        lines = self._basket(store)
        customer = self._customer(store) if rng.random() < 0.55 else None
        redeem = self._redeem(customer, lines, at, share=0.08)
        till = self._uuid(self.orders.next_id)
        sale = {
            "customer": customer,
            "channel": "pos",
            "lines": lines,
            "redeem": redeem,
            "placed": at,
            "store": store,
            "location": location,
        }
        status = self._plan_return(sale, at, rate=0.03) or "collected"
        order, line_ids, total, due = self._order(
            at,
            status=status,
            channel="pos",
            fulfilment="in_store",
            location=location,
            store=location,
            customer=customer,
            lines=lines,
            redeem=redeem,
            payment="till",
            till=till,
        )
        kind = "card" if rng.random() < 0.6 else "cash"
        money = settings.DEFAULT_CURRENCY
        tender = self.tenders.add(order, kind, "", "", _money(due), money, "captured", at, None, at)
        sale.update(order=order, line_ids=line_ids, total=total, due=due)
        sale.update(tender=tender, tender_kind=kind)
        sale["redeem_entry"] = self._spend(customer, redeem, order, "pos", at)
        self._transition(order, "", "collected", "staff", at)
        for v, quantity, *_rest in lines:
            self.stock_sold[(v, location)] += quantity
        self._completed(sale, at)

    def _redeem(self, customer, lines, at, *, share) -> int:
        """Points a customer spends on this basket: some customers with 100 or more, up to
        the rules' share of the total."""
        if customer is None or self.rng.random() >= share:
            return 0
        available = self.points.available(self.accounts[customer], at)
        total = sum(line[2] - line[3] for line in lines)
        limit = int(total * self.rules.max_redeem_percent / 100 / self.point_cents)
        points = min(available, limit)
        return points if points >= 100 else 0

    def _spend(self, customer, redeem, order, channel, at) -> int | None:
        if not redeem:
            return None
        entry = self.points.redeem(
            self.accounts[customer], redeem, reference=f"order:S{order:09d}", channel=channel, at=at
        )
        value = _money(int(redeem * self.point_cents))
        money = settings.DEFAULT_CURRENCY
        self.tenders.add(order, "points", "", str(redeem), value, money, "captured", at, None, at)
        return entry

    def _plan_return(self, sale, completed: datetime, *, rate: float) -> str | None:
        """Decide now whether goods of this sale come back, and when; returns the order's
        final status when they do (before the end of the history)."""
        rng = self.rng
        sale["return"] = None
        if rng.random() >= rate:
            return None
        when = completed + timedelta(days=rng.uniform(1, 25))
        if when >= self.end:
            return None
        index = rng.randrange(len(sale["lines"]))
        quantity = sale["lines"][index][1]
        units = quantity if rng.random() < 0.7 else 1
        if sale["store"] is not None and (sale["channel"] == "pos" or rng.random() < 0.8):
            location, courier = sale["location"], False
        elif rng.random() < 0.5:
            location, courier = self.stores[rng.randrange(len(self.stores))], False
        else:
            location, courier = self.warehouses[rng.randrange(len(self.warehouses))], True
        sale["return"] = {
            "at": when,
            "index": index,
            "units": units,
            "location": location,
            "courier": courier,
            "reason": REASONS[rng.randrange(len(REASONS))],
        }
        whole = len(sale["lines"]) == 1 and units == quantity
        return "returned" if whole else "partially_returned"

    def _steps(self, at, pickup: bool) -> list[tuple[str, str, str, datetime]]:
        """The order's transitions after `placed`: (from, to, actor, when), all before the
        end of the history."""
        rng = self.rng
        roll = rng.random()
        if pickup:
            ready = at + timedelta(hours=rng.uniform(2, 30))
            collected = ready + timedelta(hours=rng.uniform(2, 96))
            expired = ready + timedelta(days=settings.PICKUP_HOLD_DAYS)
            if roll < 0.10:
                cancelled = at + timedelta(hours=rng.uniform(0.2, 20))
                steps = [("placed", "cancelled", "customer", cancelled)]
            elif roll < 0.18:
                steps = [
                    ("placed", "ready_for_pickup", "staff", ready),
                    ("ready_for_pickup", "expired", "system", expired),
                ]
            else:
                steps = [
                    ("placed", "ready_for_pickup", "staff", ready),
                    ("ready_for_pickup", "collected", "staff", collected),
                ]
        else:
            shipped = at + timedelta(hours=rng.uniform(4, 48))
            delivered = shipped + timedelta(days=rng.uniform(1, 3))
            if roll < 0.10:
                cancelled = at + timedelta(hours=rng.uniform(0.1, 6))
                steps = [("placed", "cancelled", "customer", cancelled)]
            else:
                steps = [
                    ("placed", "shipped", "staff", shipped),
                    ("shipped", "delivered", "system", delivered),
                ]
        last = steps[-1][3]
        if last >= self.end:  # squeezed into the history: every order ends
            room = (self.end - at) * 0.9 / (last - at)
            steps = [(a, b, c, at + (t - at) * room) for a, b, c, t in steps]
        return steps

    def _uuid(self, pk: int) -> uuid.UUID:
        """Random from the seed, unique by the row's id (a second run adds new rows)."""
        return uuid.UUID(int=(self.rng.getrandbits(96) << 32) | (pk & 0xFFFFFFFF), version=4)

    def _campaign(self, at) -> tuple[str, str, str]:
        source, medium, name = CAMPAIGNS[self.rng.randrange(len(CAMPAIGNS))]
        return source, medium, f"{name}-{at:%Y-%m}" if name else ""

    def _cart(
        self, at, *, channel, customer, state, pickup_location, total, campaign, reached=False
    ) -> int:
        """A cart created at `at`; it reached checkout (`checkout_at`) when it became an
        order, chose a pickup store, or (`reached`) chose delivery and was left there."""
        reached = reached or state == "converted" or pickup_location is not None
        values = [
            self._uuid(self.carts.next_id),
            self.customers[customer] if customer is not None else None,
            channel,
            state,
            "pickup" if pickup_location else "delivery",
            pickup_location,
            None if total is None else _money(total),
            at if reached else None,
            at,
            at,
        ]
        values += list(campaign[: len(self.cart_attribution)])
        if self.cart_device:
            values.append("web" if channel == "web" else "ios")
        return self.carts.add(*values)

    def _online_order(self, at) -> None:
        rng = self.rng
        channel = "web" if rng.random() < 0.6 else "app"
        pickup = rng.random() < 0.45
        if pickup:
            store = rng.randrange(len(self.stores))
            location = self.stores[store]
            lines = self._basket(store)
        else:
            store = None
            location = self.warehouses[rng.randrange(len(self.warehouses))]
            lines = self._basket(None)
        customer = self._customer(store) if rng.random() < 0.85 else None
        redeem = self._redeem(customer, lines, at, share=0.12)
        campaign = self._campaign(at)
        cart = self._cart(
            at - timedelta(minutes=rng.randint(2, 90)),
            channel=channel,
            customer=customer,
            state="converted",
            pickup_location=location if pickup else None,
            total=sum(line[2] - line[3] for line in lines),
            campaign=campaign,
        )
        pay_in_store = pickup and rng.random() < 0.2
        steps = self._steps(at, pickup)
        final, when = steps[-1][1], steps[-1][3]
        completed = final in ("collected", "delivered")
        sale = {
            "customer": customer,
            "channel": channel,
            "lines": lines,
            "redeem": redeem,
            "placed": at,
            "store": store,
            "location": location,
            "return": None,
        }
        status = (self._plan_return(sale, when, rate=0.07) if completed else None) or final
        order, line_ids, total, due = self._order(
            at,
            status=status,
            channel=channel,
            fulfilment="pickup" if pickup else "delivery",
            location=location,
            store=location if pickup else None,
            customer=customer,
            lines=lines,
            redeem=redeem,
            payment="pay_in_store" if pay_in_store else "online",
            cart=cart,
            campaign=campaign,
        )
        sale.update(order=order, line_ids=line_ids, total=total, due=due)
        money, amount = settings.DEFAULT_CURRENCY, _money(due)
        tender, kind = None, "card"
        if pay_in_store:
            if completed:
                kind = "card" if rng.random() < 0.5 else "cash"
                tender = self.tenders.add(
                    order, kind, "", "", amount, money, "captured", when, None, when
                )
        elif completed:
            captured = steps[0][3] if final == "delivered" else when
            tender = self.tenders.add(
                order, "card", "test", "", amount, money, "captured", captured, None, at
            )
        else:
            tender = self.tenders.add(
                order, "card", "test", "", amount, money, "voided", None, when, at
            )
        sale.update(tender=tender, tender_kind=kind)
        sale["redeem_entry"] = self._spend(customer, redeem, order, channel, at)
        self._transition(order, "", "placed", "customer", at)
        for source, target, actor, moved in steps:
            self._transition(order, source, target, actor, moved)
        self.schedule(when, "complete" if completed else "cancel", sale)
        self.counts[final] += 1

    def _on_cancel(self, at, sale) -> None:
        if sale["redeem"]:
            self.points.give_back(
                sale["redeem_entry"],
                self.accounts[sale["customer"]],
                sale["redeem"],
                reference=f"order:S{sale['order']:09d}",
                channel=sale["channel"],
                at=at,
            )

    def _on_complete(self, at, sale) -> None:
        for v, quantity, *_rest in sale["lines"]:
            self.stock_sold[(v, sale["location"])] += quantity
        self._completed(sale, at)

    def _completed(self, sale, at) -> None:
        """The sale is complete: its points are earned; its return, if any, follows."""
        sale["lot"], sale["earned"] = None, 0
        if sale["customer"] is not None and sale["due"] > 0:
            sale["earned"] = int(_money(sale["due"]) * self.rules.earn_rate)
            sale["lot"] = self.points.earn(
                self.accounts[sale["customer"]],
                sale["earned"],
                reference=f"order:S{sale['order']:09d}",
                channel=sale["channel"],
                paid=_money(sale["due"]),
                placed=sale["placed"],
                at=at,
            )
        if sale["return"]:
            self.schedule(sale["return"]["at"], "return", sale)

    def _on_return(self, at, sale) -> None:
        plan = sale["return"]
        index, units, location = plan["index"], plan["units"], plan["location"]
        v, quantity, gross, disc = sale["lines"][index]
        value = (gross - disc) * units // quantity
        total, due = sale["total"], sale["due"]
        money_back = value * due // total if total else 0
        points_back = sale["redeem"] * value // total if total else 0
        reversed_points = sale["earned"] * value // total if total else 0
        ret = self.returns.next_id
        reference = f"return:SR{ret:09d}"
        account = self.accounts[sale["customer"]] if sale["customer"] is not None else None
        if points_back:
            self.points.give_back(
                sale["redeem_entry"],
                account,
                points_back,
                reference=reference,
                channel=sale["channel"],
                at=at,
            )
        shortfall = 0
        if sale["lot"] and reversed_points:
            _taken, shortfall = self.points.take_back(
                sale["lot"],
                account,
                reversed_points,
                paid=_money(money_back),
                reference=reference,
                channel=sale["channel"],
                at=at,
            )
        if sale["channel"] == "pos":
            source = "pos"
        else:
            source = "customer" if plan["courier"] else "staff_api"
        money = settings.DEFAULT_CURRENCY
        self.returns.add(
            f"SR{ret:09d}",
            sale["order"],
            "completed",
            source,
            location,
            plan["courier"],
            plan["reason"],
            money,
            _money(value),
            _money(money_back),
            points_back,
            reversed_points,
            shortfall,
            at,
            at,
        )
        sku = self.variant_sku[v]
        self.return_lines.add(
            ret,
            sale["line_ids"][index],
            self.variant_ids[v],
            sku,
            sku,
            units,
            "resaleable",
            _money(value),
            reversed_points,
        )
        if money_back and sale["tender"]:
            self.refunds.add(
                ret,
                sale["tender_kind"],
                _money(money_back),
                0,
                money,
                sale["tender"],
                "",
                "refunded",
                at,
                at,
            )
        if points_back:
            points_value = _money(int(points_back * self.point_cents))
            self.refunds.add(
                ret, "points", points_value, points_back, money, None, "", "refunded", at, at
            )
        self.stock_back[(v, location)] += units
        self.counts["returns"] += 1

    def _abandoned_carts(self, midnight, offset, online: int) -> None:
        rng = self.rng
        for _ in range(self._count(online * 1.5)):
            at = midnight + timedelta(seconds=rng.uniform(6, 24) * HOUR) - offset
            channel = "web" if rng.random() < 0.55 else "app"
            cart = self._cart(
                at,
                channel=channel,
                customer=None,
                state="open",
                pickup_location=None,
                total=None,
                campaign=self._campaign(at),
                reached=rng.random() < 0.3,
            )
            for v in sorted({self._pick(None) for _ in range(1 + int(rng.random() * 3))}):
                self.cart_lines.add(cart, self.variant_ids[v], 1, at)

    # --- final states ------------------------------------------------------------------

    def finish(self) -> None:
        """Set what only the whole ledger knows, in the database: the lots' unspent points,
        the balances, the stock, the customers' first orders."""
        quote = connection.ops.quote_name
        entry = quote(LoyaltyEntry._meta.db_table)
        allocation = quote(LoyaltyAllocation._meta.db_table)
        account = quote(LoyaltyAccount._meta.db_table)
        first_entry = self.entries.next_id - self.entries.written
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {entry} SET remaining = points + COALESCE((SELECT SUM(a.points)"
                f" FROM {allocation} a WHERE a.lot_id = {entry}.id), 0)"
                f" WHERE remaining IS NOT NULL AND id >= %s",
                [first_entry],
            )
            cursor.execute(
                f"UPDATE {account} SET balance = COALESCE((SELECT SUM(e.points) FROM"
                f" {entry} e WHERE e.account_id = {account}.id), 0) WHERE id >= %s",
                [self.accounts[0] if self.accounts else 0],
            )
        self.log("points: lots and balances set from the ledger")
        order = quote(Order._meta.db_table)
        with transaction.atomic(), connection.cursor() as cursor:
            # Each entry of a sale at its sale's location, a reversal at its original's.
            cursor.execute(
                f"UPDATE {entry} SET location_id = (SELECT o.location_id FROM {order} o"
                f" WHERE o.number = SUBSTR({entry}.reference, 7))"
                f" WHERE reference LIKE 'order:%%' AND id >= %s",
                [first_entry],
            )
            cursor.execute(
                f"UPDATE {entry} SET location_id = (SELECT r.location_id FROM {entry} r"
                f" WHERE r.id = {entry}.reverses_id) WHERE reverses_id IS NOT NULL AND id >= %s",
                [first_entry],
            )
        self.log("points: entries located at their sales")
        self._stock()
        self.log(f"stock: {self.counts['stock levels']} levels")
        self._first_orders()

    def _stock(self) -> None:
        w = Writer(now=self.end)
        levels = w.table(StockLevel, ["variant_id", "location_id", "on_hand", "updated_at"])
        movements = w.table(
            StockMovement,
            [
                "level_id",
                "kind",
                "quantity",
                "on_hand_delta",
                "on_hand_after",
                "reserved_after",
                "reason",
                "reference",
                "created_at",
            ],
        )
        pairs = set(self.stock_sold) | set(self.stock_back)
        for store, choice in enumerate(self.assortment):
            pairs.update((v, self.stores[store]) for v in choice)
        for warehouse in self.warehouses:
            pairs.update((v, warehouse) for v in range(len(self.variant_ids)))
        rng = random.Random(self.o["seed"] + 1)
        receipt_at = self.start - timedelta(days=1)
        for v, location in sorted(pairs, key=lambda p: (p[1], p[0])):
            sold = self.stock_sold.get((v, location), 0)
            back = self.stock_back.get((v, location), 0)
            received = sold + rng.randint(2, 30)
            on_hand = received - sold + back
            level = levels.add(self.variant_ids[v], location, on_hand, self.end)
            after = received
            movements.add(
                level,
                "receipt",
                received,
                received,
                after,
                0,
                "opening stock",
                "seed_scale",
                receipt_at,
            )
            if sold:
                after -= sold
                movements.add(
                    level,
                    "sale",
                    sold,
                    -sold,
                    after,
                    0,
                    "sales of the period",
                    "seed_scale",
                    self.end - timedelta(seconds=2),
                )
            if back:
                after += back
                movements.add(
                    level,
                    "return",
                    back,
                    back,
                    after,
                    0,
                    "returns of the period",
                    "seed_scale",
                    self.end - timedelta(seconds=1),
                )
            w.maybe_flush()
        w.flush()
        w.reset_sequences()
        self.counts["stock levels"] = levels.written

    def _first_orders(self) -> None:
        from customers.services import customers_first_orders_derive

        customers_first_orders_derive(orders=Order.objects.all())

    def build(self) -> dict[str, int]:
        self.reference_data()
        self.history()
        self.log(f"history: {self.orders.written} orders")
        self.finish()
        self.writer.reset_sequences()
        rows = facts_rebuild()  # the reports' daily rows, derived from what was written
        self.log(f"report rows: {rows['order_days']} order days, {rows['pickups']} pickups")
        if connection.vendor == "postgresql":
            # Fresh statistics, or the planner guesses at tables it has never analysed.
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
            self.log("analysed")
        return {
            "orders": self.orders.written,
            "order lines": self.lines.written,
            "returns": self.returns.written,
            "points entries": self.entries.written,
            "carts": self.carts.written,
            "stock levels": self.counts["stock levels"],
        }


class Command(BaseCommand):
    help = (
        "Benchmark data: a large, deterministic catalog, chain of stores and months of orders "
        "of every channel written with bulk inserts (ledgers kept consistent)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--variants", type=int, default=100_000)
        parser.add_argument("--locations", type=int, default=20, help="stores")
        parser.add_argument("--warehouses", type=int, default=2)
        parser.add_argument("--months", type=int, default=12)
        parser.add_argument(
            "--orders-per-day", type=int, default=60, help="per store, all channels"
        )
        parser.add_argument("--customers", type=int, default=0, help="default 1,500 per store")
        parser.add_argument("--assortment", type=int, default=4000, help="variants per store")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--end",
            type=date.fromisoformat,
            default=None,
            help="the history ends at the start of this day (UTC), default today",
        )
        parser.add_argument(
            "--force", action="store_true", help="add to a database that already has orders"
        )

    def handle(self, *args, **options):
        for name in ("variants", "locations", "warehouses", "months", "assortment"):
            if options[name] < 1:
                raise CommandError(f"--{name.replace('_', '-')} must be at least 1.")
        if options["orders_per_day"] < 0 or options["customers"] < 0:
            raise CommandError("--orders-per-day and --customers cannot be negative.")
        if Order.objects.exists() and not options["force"]:
            raise CommandError(
                "This database already has orders: seed_scale writes benchmark data into an "
                "empty one. Use --force to add a history next to them."
            )
        options["end"] = options["end"] or datetime.now(UTC).date()
        started = clock.monotonic()
        builder = Builder(options, self.stdout)
        counts = builder.build()
        summary = ", ".join(f"{value} {name}" for name, value in counts.items())
        self.stdout.write(
            self.style.SUCCESS(f"seed_scale: {summary} in {clock.monotonic() - started:.0f} s")
        )
