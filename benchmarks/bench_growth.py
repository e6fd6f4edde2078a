"""What grows with the data: searches, a customer's orders, the admin's big lists and the
staff pickup queue, in-process, on the configured database as it is.

Meant for PostgreSQL with the `seed_scale` data (see `bench_reports`):

    DATABASE_URL=postgres://…/omnicore_scale python -m benchmarks growth

Each figure is one request through Django's test client (the whole view: routing,
permissions, the queries, serialization or the admin template): the median milliseconds
of `BENCH_GROWTH_RUNS` runs (default 20) after a warm-up, the SQL statements it ran and
the size of its answer, and the median milliseconds of those spent waiting for the
database (`SQL ms`: the part that grows with the data; the rest is Python, which a busy
machine slows down too). The requests are:

- `GET /api/v1/catalog/products/`: the first page without a search (the reference), then
  `?search=` an exact SKU, an exact barcode, a rare word of the product names (the least
  frequent one, found in the data) and a common word (the most frequent);
- `GET /api/v1/me/orders/` for the customer with the most orders and for a typical one;
- the admin lists as head office sees them (every store): variants unfiltered, searched
  by a part of a SKU and by the rare word; stock levels unfiltered and searched by a
  barcode's last digits; orders unfiltered, searched by a number and by a customer's
  phone; the stock ledger unfiltered; customers searched by a last name, a full name and
  six digits of a phone;
- `GET /api/v1/staff/pickups/` at the store with the most pickups, as its associate,
  with 200 of its collected pickups put back in the queue (half placed, half ready).

Everything the benchmark needs (the staff logins, the customer's login, the 200 open
pickups) is written inside one transaction that is rolled back at the end: the database
is left as it was. On a database without orders it says so and stops.
"""

import os
import re
import statistics
import time
from collections import Counter

QUEUED_PICKUPS = 200


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.db import DatabaseError, connection, transaction
    from django.test.utils import override_settings

    from orders.models import Order

    try:
        if not Order.objects.exists():
            print("skipped: no orders in this database (fill one with `manage.py seed_scale`)")
            return
    except DatabaseError as exc:
        print(f"skipped: the database is not ready ({exc})")
        return
    runs = int(os.environ.get("BENCH_GROWTH_RUNS", "20"))
    print(f"{connection.vendor} {connection.settings_dict['NAME']}: {_sizes()}")
    print(f"median of {runs} runs per figure, after one warm-up")
    print(f"{'request':<58} {'ms':>9} {'SQL ms':>9} {'statements':>10} {'KB':>8}")
    # As in production: no query log kept in memory (it would also slow every statement).
    with override_settings(DEBUG=False), transaction.atomic():
        try:
            _run(runs)
        finally:
            transaction.set_rollback(True)


def _sizes() -> str:
    from catalog.models import Product, Variant
    from inventory.models import StockLevel
    from orders.models import Order

    return (
        f"{Product.objects.count():,} products, {Variant.objects.count():,} variants, "
        f"{StockLevel.objects.count():,} stock levels, {Order.objects.count():,} orders"
    )


def _measure(label: str, request, runs: int) -> None:
    """Warm up once (counting its statements), then time `runs` requests: the median of
    the whole request and of the time spent waiting for the database within it."""
    from django.db import connection

    statements = []
    waited = [0.0]

    def count(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    def clock(execute, sql, params, many, context):
        began = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            waited[0] += time.perf_counter() - began

    with connection.execute_wrapper(count):
        response = request()
    if response.status_code != 200:
        print(f"{label:<58} answered {response.status_code}: {response.content[:200]!r}")
        return
    size = len(response.content) / 1024
    timings, sql = [], []
    with connection.execute_wrapper(clock):
        for _ in range(runs):
            waited[0] = 0.0
            began = time.perf_counter()
            request()
            timings.append((time.perf_counter() - began) * 1000)
            sql.append(waited[0] * 1000)
    print(
        f"{label:<58} {statistics.median(timings):>9.2f} {statistics.median(sql):>9.2f} "
        f"{len(statements):>10} {size:>8.1f}"
    )


def _statement(label: str, build, runs: int) -> None:
    """The page's statements alone: `build()` returns the page's queryset (running any
    lookup it needs first). Prints the median wall-clock milliseconds of building and
    reading it, and PostgreSQL's own execution time of the page's statement (EXPLAIN
    ANALYZE), which the machine's other work disturbs least."""
    import json

    from django.db import connection

    wall = []
    for _ in range(runs):
        began = time.perf_counter()
        list(build())
        wall.append((time.perf_counter() - began) * 1000)
    server = "-"
    if connection.vendor == "postgresql":
        sql, params = build().query.sql_with_params()
        executions = []
        with connection.cursor() as cursor:
            for _ in range(5):
                cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params)
                plan = cursor.fetchone()[0]
                plan = json.loads(plan) if isinstance(plan, str) else plan
                executions.append(plan[0]["Execution Time"])
        server = f"{statistics.median(executions):.3f}"
    print(f"{label:<58} {statistics.median(wall):>9.2f} {server:>9}")


def _words() -> tuple[str, str]:
    """The least and the most frequent word (5 or more letters or digits) of the product
    names: a rare word and a common one, whatever the data."""
    from catalog.models import Product

    counts = Counter(
        word.lower()
        for name in Product.objects.values_list("name", flat=True).iterator()
        for word in re.findall(r"\w{5,}", name)
    )
    ranked = sorted(counts.items(), key=lambda item: (item[1], item[0]))
    return ranked[0][0], ranked[-1][0]


def _staff(role: str, *locations):
    from django.test import Client

    from staff.services import staff_member_create

    user = staff_member_create(
        email=f"bench-{role}@staff.example.com",
        password="Bench-Growth-2026!",
        role=role,
        locations=locations,
        full_name="Benchmark",
    )
    browser = Client()
    browser.force_login(user)
    return browser


def _customer_client(customer):
    from rest_framework.test import APIClient

    from customers.models import Customer, User

    user = customer.user
    if user is None:
        user = User.objects.create_user(
            email=f"bench-customer-{customer.pk}@example.com", password="Bench-Growth-2026!"
        )
        Customer.objects.filter(pk=customer.pk).update(user=user)
        user = User.objects.get(pk=user.pk)
    client = APIClient()
    client.force_authenticate(user)
    return client


def _queue_pickups(store_id: int) -> int:
    """Put the store's newest collected pickups back in the queue (rolled back later)."""
    from orders.models import Order

    ids = list(
        Order.objects.filter(location_id=store_id, fulfilment_type="pickup", status="collected")
        .order_by("-id")
        .values_list("pk", flat=True)[:QUEUED_PICKUPS]
    )
    half = len(ids) // 2
    Order.objects.filter(pk__in=ids[:half]).update(status="placed")
    Order.objects.filter(pk__in=ids[half:]).update(status="ready_for_pickup")
    return len(ids)


def _run(runs: int) -> None:
    from django.db.models import Count
    from rest_framework.test import APIClient

    from catalog.models import Barcode, Variant
    from customers.models import Customer
    from inventory.models import Location
    from orders.models import Order

    api = APIClient()
    products = "/api/v1/catalog/products/"
    variant = Variant.objects.order_by("pk")[Variant.objects.count() // 2]
    barcode = Barcode.objects.filter(variant=variant).values_list("code", flat=True).first()
    rare, common = _words()

    def get(client, url, params=None):
        return lambda: client.get(url, params or {})

    _measure("products, first page (no search)", get(api, products), runs)
    _measure(
        f"products ?search= SKU {variant.sku}", get(api, products, {"search": variant.sku}), runs
    )
    if barcode:
        _measure(
            f"products ?search= barcode {barcode}", get(api, products, {"search": barcode}), runs
        )
    _measure(f"products ?search= rare word {rare!r}", get(api, products, {"search": rare}), runs)
    _measure(
        f"products ?search= common word {common!r}", get(api, products, {"search": common}), runs
    )

    statements = [
        (f"search: SKU {variant.sku}", _search_page(variant.sku)),
        (f"search: barcode {barcode}", _search_page(barcode or variant.sku)),
        (f"search: rare word {rare!r}", _search_page(rare)),
        (f"search: common word {common!r}", _search_page(common)),
    ]

    per_customer = (
        Order.objects.filter(customer__isnull=False)
        .values("customer_id")
        .annotate(n=Count("pk"))
        .order_by("-n", "customer_id")
    )
    busiest = per_customer.first()
    counts = sorted(row["n"] for row in per_customer)
    typical_n = counts[len(counts) // 2]
    typical = per_customer.filter(n=typical_n).first()
    for label, row in (("most orders", busiest), ("typical", typical)):
        customer = Customer.objects.get(pk=row["customer_id"])
        client = _customer_client(customer)
        label = f"me/orders/, {label} customer ({row['n']} orders)"
        _measure(label, get(client, "/api/v1/me/orders/"), runs)
        statements.append((label, _my_orders_page(customer)))

    head_office = _staff("head_office")
    admin_runs = max(3, runs // 4)
    sku_part = variant.sku[-6:]
    number = Order.objects.order_by("pk").values_list("number", flat=True)[
        Order.objects.count() // 2
    ]
    phone = (
        Customer.objects.filter(phone__isnull=False)
        .order_by("pk")
        .values_list("phone", flat=True)
        .first()
    )
    digits = (barcode or "")[-7:]
    variants, levels, orders = (
        "/admin/catalog/variant/",
        "/admin/inventory/stocklevel/",
        "/admin/orders/order/",
    )
    pages = [
        ("admin variants (no search)", variants, None),
        (f"admin variants ?q= part of a SKU {sku_part}", variants, {"q": sku_part}),
        (f"admin variants ?q= rare word {rare!r}", variants, {"q": rare}),
        ("admin stock levels (every store)", levels, None),
        (f"admin stock levels ?q= barcode digits {digits}", levels, {"q": digits}),
        ("admin orders (every store)", orders, None),
        (f"admin orders ?q= number {number}", orders, {"q": number}),
        (f"admin orders ?q= customer phone {phone}", orders, {"q": phone}),
        ("admin stock movements (every store)", "/admin/inventory/stockmovement/", None),
    ]
    someone = Customer.objects.exclude(last_name="").order_by("pk").first()
    if someone is not None:
        customers = "/admin/customers/customer/"
        name = f"{someone.first_name} {someone.last_name}"
        pages += [
            (
                f"admin customers ?q= a last name {someone.last_name!r}",
                customers,
                {"q": someone.last_name},
            ),
            (f"admin customers ?q= a full name {name!r}", customers, {"q": name}),
            (
                f"admin customers ?q= phone digits {(phone or '')[-6:]}",
                customers,
                {"q": (phone or "")[-6:]},
            ),
        ]
    for label, url, params in pages:
        _measure(label, get(head_office, url, params), admin_runs)

    store_id = (
        Order.objects.filter(fulfilment_type="pickup")
        .values("location_id")
        .annotate(n=Count("pk"))
        .order_by("-n")
        .values_list("location_id", flat=True)
        .first()
    )
    store = Location.objects.get(pk=store_id)
    queued = _queue_pickups(store_id)
    desk = _staff("store_associate", store)
    url = "/api/v1/staff/pickups/"
    _measure(f"staff/pickups/ at {store.code} ({queued} queued), first page", get(desk, url), runs)
    _measure(
        f"staff/pickups/ at {store.code}, ?page_size=100",
        get(desk, url, {"page_size": 100}),
        runs,
    )

    print()
    print(f"{'the page statement alone':<58} {'ms':>9} {'server ms':>9}")
    for label, build in statements:
        _statement(label, build, runs)


def _search_page(term: str):
    """The product API's first page of `?search=term`, as ids (20 a page, one more read)."""
    from catalog import selectors

    return lambda: selectors.product_list(search=term).order_by("-id").values_list("pk")[:21]


def _my_orders_page(customer):
    from orders import selectors

    return lambda: selectors.orders_for_customer(customer=customer).values_list("pk")[:21]
