"""Catalog benchmark: the product list page of 50 (with prices and availability), a
product page and the availability endpoint — in-process and through a real gunicorn.

Builds its own data in a throwaway test database (the DATABASE_URL's engine: SQLite in
memory by default, `test_<name>` on PostgreSQL): a 3-level category tree, 300 products ×
3 variants with barcodes and prices, 20 live promotions (category, product, variant and
basket scopes, one behind a coupon), stock in 3 pickup stores and a warehouse.

In-process (Django's test client, the whole middleware stack, DEBUG off): median and p90
ms per request, SQL statements per request (must not grow with the page: 5 and 50 are
compared), and the garbage collector's share — collections per request and ms in them —
with the default thresholds, after `gc.freeze()` (what the gunicorn master does after
loading the app, so the objects of the loaded app are never scanned again), and with the
workers' thresholds of `config/gunicorn.py` on top (the figure the summary shows).

Over HTTP (PostgreSQL only): `gunicorn config.wsgi` with 4 workers on a free port (or the
server at BENCH_SERVER_URL, e.g. http://127.0.0.1:8000, against its own data), 8 client
threads for a few seconds per endpoint: requests/s and latency. Beside it the raw
PostgreSQL floor: the very SQL statements of one request replayed with plain psycopg from
as many connections, and the HTTP rate as a fraction of that (BENCH_NO_HTTP=1 skips this
part). Aim: the list page of 50 in at most 10 ms per request in-process.
"""

import gc
import http.client
import os
import statistics
import tempfile
import threading
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

PRODUCTS = 300
VARIANTS_PER_PRODUCT = 3
PAGE = 50
RUNS = 200
MAX_SECONDS = 8.0  # per in-process figure, bounded on a slow, shared machine
HTTP_CLIENTS = 8
HTTP_SECONDS = 5.0
RAW_SECONDS = 3.0
AIM_LIST_MS = 10.0


def main() -> list[dict]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.test.runner import DiscoverRunner
    from django.test.utils import override_settings

    runner = DiscoverRunner(verbosity=0, interactive=False)
    runner.setup_test_environment()
    old_config = runner.setup_databases()
    try:
        # As in production: no debug pages, no SQL kept per request (the counts below are
        # taken with CaptureQueriesContext, which forces it on for its block only).
        with override_settings(DEBUG=False, ALLOWED_HOSTS=["*"]):
            return _run()
    finally:
        runner.teardown_databases(old_config)
        runner.teardown_test_environment()


# --- data ---------------------------------------------------------------------------------


def _make_data() -> dict:
    from django.utils import timezone

    from catalog.domain import make_gtin
    from catalog.models import Barcode, Product, Variant
    from catalog.services import category_create
    from inventory.models import Location
    from inventory.services import location_save, stock_receive
    from pricing import domain, services

    now = timezone.now()
    root = category_create(name="All")
    departments = [category_create(name=f"Dept {i}", parent=root) for i in range(4)]
    aisles = [category_create(name=f"Aisle {i}", parent=d) for d in departments for i in range(3)]
    products = Product.objects.bulk_create(
        Product(
            name=f"Product {n}",
            slug=f"product-{n}",
            brand=("Acme", "Globex", "Initech")[n % 3],
            description="A product of the catalog benchmark.",
            category=aisles[n % len(aisles)],
        )
        for n in range(PRODUCTS)
    )
    variants = Variant.objects.bulk_create(
        Variant(
            product=p,
            sku=f"CAT-{p.pk}-{k}",
            name=f"{p.name} {('S', 'M', 'L')[k]}",
            options={"size": ("S", "M", "L")[k]},
            vat_rate=Decimal("19.00"),
            position=k,
        )
        for p in products
        for k in range(VARIANTS_PER_PRODUCT)
    )
    Barcode.objects.bulk_create(
        Barcode(variant=v, code=make_gtin(f"400{100000000 + i:09d}"), kind="ean13")
        for i, v in enumerate(variants)
    )
    price_list = services.price_list_create(name="Retail", currency="EUR", is_default=True)
    services.prices_save(
        rows=[
            services.PriceRow(
                price_list_id=price_list.pk,
                variant_id=v.pk,
                amount=Decimal(5 + (i * 37) % 200) + Decimal("0.99"),
                valid_from=now - timedelta(days=30),
            )
            for i, v in enumerate(variants)
        ]
    )
    start = now - timedelta(days=1)
    made = 0
    for i, department in enumerate(departments):
        services.promotion_create(
            name=f"Dept {i} sale",
            kind=domain.PERCENT_OFF,
            scope=domain.CATEGORIES,
            value=5 + i,
            categories=[department],
            starts_at=start,
            priority=i,
        )
        made += 1
    for i in range(8):
        services.promotion_create(
            name=f"Product deal {i}",
            kind=domain.AMOUNT_OFF,
            scope=domain.PRODUCTS,
            value=Decimal("1.50"),
            products=products[i * 20 : i * 20 + 20],
            starts_at=start,
            priority=10 + i,
            is_stackable=i % 2 == 0,
        )
        made += 1
    for i in range(5):
        services.promotion_create(
            name=f"Variant deal {i}",
            kind=domain.FIXED_PRICE,
            scope=domain.VARIANTS,
            value=Decimal("3.99"),
            variants=variants[i * 30 : i * 30 + 30],
            starts_at=start,
            priority=20 + i,
        )
        made += 1
    services.promotion_create(
        name="3 for 2",
        kind=domain.BUY_X_GET_Y,
        scope=domain.CATEGORIES,
        buy_quantity=2,
        get_quantity=1,
        categories=[aisles[0]],
        starts_at=start,
    )
    services.promotion_create(
        name="10% from 500",
        kind=domain.BASKET_THRESHOLD,
        scope=domain.BASKET,
        value=10,
        threshold=500,
        starts_at=start,
    )
    gated = services.promotion_create(
        name="Coupon 10%", kind=domain.PERCENT_OFF, scope=domain.BASKET, value=10, starts_at=start
    )
    services.coupon_create(promotion=gated, code="CATALOG10")
    made += 3
    assert made == 20

    stores = [
        location_save(
            location=Location(
                code=f"STORE-{n}",
                name=f"Store {n}",
                kind="store",
                is_pickup_point=True,
                city="Berlin",
            )
        )
        for n in range(3)
    ]
    warehouse = location_save(
        location=Location(code="WH", name="Warehouse", kind="warehouse", ships_online=True)
    )
    for n, location in enumerate([*stores, warehouse]):
        stock_receive(
            lines=[(v.pk, 1 + (i + n) % 9) for i, v in enumerate(variants) if (i + n) % 4],
            location=location,
            reference=f"bench:receipt:{n}",
        )
    return {
        "product": products[PRODUCTS // 2].pk,
        "skus": [v.sku for v in variants[:10]],
        "stores": [s.code for s in stores],
    }


# --- in-process -----------------------------------------------------------------------------


class _GcWatch:
    """Collections and the time spent in them, through gc.callbacks."""

    def __init__(self) -> None:
        self.collections = 0
        self.seconds = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.collections += 1
            self.seconds += time.perf_counter() - self._started

    def __enter__(self):
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc) -> None:
        gc.callbacks.remove(self)


def _statements(client, path: str) -> tuple[int, list[str]]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        response = client.get(path)
    assert response.status_code == 200, (path, response.status_code, response.content[:500])
    return len(ctx.captured_queries), [q["sql"] for q in ctx.captured_queries]


def _time(client, path: str) -> dict:
    for _warm in range(10):
        client.get(path)
    wall: list[float] = []
    cpu: list[float] = []
    with _GcWatch() as watch:
        deadline = time.perf_counter() + MAX_SECONDS
        while len(wall) < RUNS and time.perf_counter() < deadline:
            began, began_cpu = time.perf_counter(), time.thread_time()
            response = client.get(path)
            cpu.append((time.thread_time() - began_cpu) * 1000)
            wall.append((time.perf_counter() - began) * 1000)
            assert response.status_code == 200
    return {
        "median": statistics.median(wall),
        "cpu": statistics.median(cpu),
        "p90": statistics.quantiles(wall, n=10)[-1],
        "runs": len(wall),
        "gc_per_request": watch.collections / len(wall),
        "gc_ms_per_request": watch.seconds * 1000 / len(wall),
    }


def _run() -> list[dict]:
    from django.db import connection
    from django.test import Client

    data = _make_data()
    client = Client()
    paths = {
        "list": f"/api/v1/catalog/products/?page_size={PAGE}",
        "detail": f"/api/v1/catalog/products/{data['product']}/",
        "availability": "/api/v1/inventory/availability/?sku=" + ",".join(data["skus"]),
    }
    labels = {
        "list": f"catalog list page of {PAGE}",
        "detail": "product page (3 variants)",
        "availability": f"availability of {len(data['skus'])} SKUs",
    }
    for path in paths.values():
        client.get(path)  # the first request of a process reads the promotion rule book
    counts = {name: _statements(client, path) for name, path in paths.items()}
    small, _sql = _statements(client, "/api/v1/catalog/products/?page_size=5")

    engine = os.environ.get("DATABASE_URL", "sqlite").split(":", 1)[0]
    print(
        f"database: {connection.vendor} ({engine}); {PRODUCTS} products × "
        f"{VARIANTS_PER_PRODUCT} variants, 20 live promotions, 4 stock locations"
    )
    print(
        f"statements per list page: {small} for 5 products, {counts['list'][0]} for {PAGE}"
        + ("" if small == counts["list"][0] else "  <-- GROWS WITH THE PAGE")
    )

    rows: list[dict] = []
    results = {}
    gc.collect()
    defaults = gc.get_threshold()
    from config.gunicorn import worker_gc_thresholds

    tuned = "gc.freeze(), workers' thresholds"
    for mode in ("default GC", "gc.freeze()", tuned):
        if mode == "gc.freeze()":
            gc.collect()
            gc.freeze()  # as the gunicorn master after loading the app
        if mode == tuned:
            gc.set_threshold(*worker_gc_thresholds())  # as config/gunicorn.py's post_fork
        print(f"in-process, {mode} (thresholds {gc.get_threshold()}):")
        for name, path in paths.items():
            timed = _time(client, path)
            results[(name, mode)] = timed
            print(
                f"  {labels[name]:<28} median {timed['median']:6.2f} ms  p90 "
                f"{timed['p90']:6.2f} ms  CPU {timed['cpu']:6.2f} ms  "
                f"{counts[name][0]} statements  GC "
                f"{timed['gc_per_request']:.2f} collections, {timed['gc_ms_per_request']:.2f} "
                f"ms per request  ({timed['runs']} runs)"
            )
    gc.unfreeze()
    gc.set_threshold(*defaults)
    listed = results[("list", tuned)]["median"]
    print(
        f"aim: list page of {PAGE} <= {AIM_LIST_MS:.0f} ms in-process: "
        + ("met" if listed <= AIM_LIST_MS else "NOT met")
        + f" ({listed:.2f} ms)"
    )
    for name in paths:
        rows.append(
            {
                "figure": f"{labels[name]}, in-process",
                "value": results[(name, tuned)]["median"],
                "unit": "ms/request",
                "statements": counts[name][0],
            }
        )

    server_url = os.environ.get("BENCH_SERVER_URL", "")
    if os.environ.get("BENCH_NO_HTTP"):
        print("HTTP: skipped (BENCH_NO_HTTP is set)")
        return rows
    if connection.vendor != "postgresql" and not server_url:
        print("HTTP: skipped — it needs PostgreSQL (gunicorn workers share the database)")
        return rows
    rows.extend(_http(paths, labels, counts, server_url))
    return rows


# --- over HTTP ------------------------------------------------------------------------------


def _http(paths: dict, labels: dict, counts: dict, server_url: str) -> list[dict]:
    from django.db import connection

    from benchmarks.bench_checkout import (
        GUNICORN_WORKERS,
        _child_env,
        _free_port,
        _server_start,
        _server_stop,
    )

    server = None
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_catalog_") as tmp:
        if server_url:
            parts = urlsplit(server_url)
            host, port = parts.hostname or "127.0.0.1", parts.port or 80
            where = server_url
        else:
            settings = connection.settings_dict
            url = (
                f"postgres://{settings['USER']}@{settings['HOST'] or '127.0.0.1'}:"
                f"{settings['PORT'] or 5432}/{settings['NAME']}"
            )
            connection.close()  # the workers get the database to themselves
            host, port = "127.0.0.1", _free_port()
            server = _server_start(_child_env(url), port, Path(tmp) / "gunicorn.log")
            where = f"gunicorn, {GUNICORN_WORKERS} workers"
        try:
            print(f"over HTTP ({where}), {HTTP_CLIENTS} clients, {HTTP_SECONDS:.0f} s each:")
            for name, path in paths.items():
                if server_url and name != "list":
                    continue  # the other paths name this benchmark's own data
                load = _load(host, port, path)
                floor = None if server_url else _raw_floor(counts[name][1])
                ratio = load["rate"] / floor if floor else None
                print(
                    f"  {labels[name]:<28} {load['rate']:7.1f} requests/s  p50 "
                    f"{load['p50']:.1f} ms  p95 {load['p95']:.1f} ms  errors {load['errors']}"
                    + (
                        f"  | raw PostgreSQL floor {floor:.0f}/s, HTTP = {ratio:.1%} of it"
                        if floor
                        else ""
                    )
                )
                rows.append(
                    {
                        "figure": f"{labels[name]}, HTTP",
                        "value": load["rate"],
                        "unit": "requests/s",
                        "statements": counts[name][0],
                        "floor_ratio": ratio,
                    }
                )
        finally:
            if server is not None:
                _server_stop(server)
    return rows


def _load(host: str, port: int, path: str) -> dict:
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop_at = [0.0]
    start = threading.Barrier(HTTP_CLIENTS + 1)

    def client() -> None:
        mine, failed = [], 0
        start.wait()
        while time.monotonic() < stop_at[0]:
            began = time.perf_counter()
            try:
                conn = http.client.HTTPConnection(host, port, timeout=30)
                conn.request("GET", path)
                response = conn.getresponse()
                response.read()
                conn.close()
                if response.status != 200:
                    failed += 1
            except OSError:
                failed += 1
            mine.append(time.perf_counter() - began)
        with lock:
            latencies.extend(mine)
            errors[0] += failed

    threads = [threading.Thread(target=client, daemon=True) for _ in range(HTTP_CLIENTS)]
    for thread in threads:
        thread.start()
    stop_at[0] = time.monotonic() + HTTP_SECONDS
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "rate": len(latencies) / elapsed,
        "p50": statistics.median(latencies) * 1000 if latencies else 0.0,
        "p95": latencies[int(len(latencies) * 0.95)] * 1000 if latencies else 0.0,
        "errors": errors[0],
    }


def _raw_floor(statements: list[str]) -> float:
    """Requests/s of plain psycopg replaying one request's SQL (as logged, literal values),
    from HTTP_CLIENTS connections: the least the database lets such a request cost."""
    import psycopg
    from django.db import connection

    settings = connection.settings_dict
    conninfo = (
        f"host={settings['HOST'] or '127.0.0.1'} port={settings['PORT'] or 5432} "
        f"user={settings['USER']} dbname={settings['NAME']}"
    )
    done = [0]
    lock = threading.Lock()
    stop_at = [0.0]
    start = threading.Barrier(HTTP_CLIENTS + 1)

    def worker() -> None:
        count = 0
        with psycopg.connect(conninfo, autocommit=True) as conn:
            start.wait()
            while time.monotonic() < stop_at[0]:
                for sql in statements:
                    conn.execute(sql).fetchall()
                count += 1
        with lock:
            done[0] += count

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(HTTP_CLIENTS)]
    for thread in threads:
        thread.start()
    stop_at[0] = time.monotonic() + RAW_SECONDS
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return done[0] / (time.perf_counter() - began)


if __name__ == "__main__":
    main()
