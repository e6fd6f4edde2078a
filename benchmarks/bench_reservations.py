"""Reservation benchmark on PostgreSQL: 32 concurrent clients reserving hot variants until
stock runs out.

Each client is a thread with its own database connection that reserves one unit at a
time of a random one of 10 hot variants (200 units each, 2,000 in all — the bound of the
run) until it has seen every variant sold out. Prints reservations per second, latency,
failed attempts, oversold units (must be 0) and the ledger check. Runs in a throwaway
database (created and dropped here), so it never touches real data. Needs
DATABASE_URL=postgres://…; on anything else it says it is skipped.
"""

import os
import random
import statistics
import threading
import time

CLIENTS = 32
HOT_VARIANTS = 10
UNITS_PER_VARIANT = 200
DEADLINE_SECONDS = 120  # a safety bound; the run normally ends in a few seconds


def _is_postgres(url: str) -> bool:
    return url.split("://", 1)[0] in {"postgres", "postgresql", "pgsql"}


def _setup_stock():
    from catalog.services import category_create, product_create, variant_create
    from inventory import services
    from inventory.models import Location

    category = category_create(name="Bench")
    product = product_create(name="Hot item", category=category)
    variants = [
        variant_create(product=product, sku=f"HOT-{n:02d}", vat_rate="20")
        for n in range(HOT_VARIANTS)
    ]
    store = services.location_save(
        location=Location(
            code="BENCH-WH", name="Bench warehouse", kind="warehouse", ships_online=True
        )
    )
    services.stock_receive(
        lines=[(v.pk, UNITS_PER_VARIANT) for v in variants], location=store, reference="bench:stock"
    )
    return store, [v.pk for v in variants]


def _client(index, store, variant_ids, start, stats, lock, deadline):
    from django.db import connection

    from inventory import services
    from inventory.errors import InsufficientStock

    rng = random.Random(index)
    sold_out: set[int] = set()
    ok = failed = errors = 0
    latencies: list[float] = []
    try:
        start.wait()
        attempt = 0
        while len(sold_out) < len(variant_ids) and time.monotonic() < deadline:
            variant_id = rng.choice([v for v in variant_ids if v not in sold_out])
            attempt += 1
            began = time.perf_counter()
            try:
                services.stock_reserve(
                    lines=[(variant_id, 1)], location=store, reference=f"bench:{index}:{attempt}"
                )
                ok += 1
            except InsufficientStock:
                failed += 1
                sold_out.add(variant_id)
            except Exception:  # noqa: BLE001 - a deadlock or lost connection is a finding
                errors += 1
            latencies.append(time.perf_counter() - began)
    finally:
        connection.close()
        with lock:
            stats["ok"] += ok
            stats["failed"] += failed
            stats["errors"] += errors
            stats["latencies"].extend(latencies)


def main() -> list[dict] | None:
    url = os.environ.get("DATABASE_URL", "")
    if not _is_postgres(url):
        print(
            "bench_reservations: skipped — it needs PostgreSQL (row locks, real concurrent "
            "connections): set DATABASE_URL=postgres://user@host:5432/name"
        )
        return

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.db import connection

    from inventory.models import Reservation, StockLevel
    from inventory.services import verify_ledger

    old_name = connection.settings_dict["NAME"]
    connection.settings_dict.setdefault("TEST", {})["NAME"] = f"omnicore_bench_res_{os.getpid()}"
    print(f"creating a throwaway database {connection.settings_dict['TEST']['NAME']} …", flush=True)
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        store, variant_ids = _setup_stock()
        total_units = HOT_VARIANTS * UNITS_PER_VARIANT
        stats = {"ok": 0, "failed": 0, "errors": 0, "latencies": []}
        lock = threading.Lock()
        start = threading.Barrier(CLIENTS + 1)
        deadline = time.monotonic() + DEADLINE_SECONDS
        threads = [
            threading.Thread(
                target=_client, args=(i, store, variant_ids, start, stats, lock, deadline)
            )
            for i in range(CLIENTS)
        ]
        for thread in threads:
            thread.start()
        start.wait()
        began = time.perf_counter()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - began

        reserved = sum(StockLevel.objects.values_list("reserved", flat=True))
        open_reservations = Reservation.objects.filter(status="open").count()
        oversold = sum(
            max(r - h, 0) for h, r in StockLevel.objects.values_list("on_hand", "reserved")
        )
        problems = verify_ledger()
        latencies = sorted(stats["latencies"]) or [0.0]
        p95 = latencies[int(len(latencies) * 0.95) - 1 if len(latencies) > 1 else 0]
        print(f"clients                 {CLIENTS} threads, own connections")
        print(f"hot variants            {HOT_VARIANTS} × {UNITS_PER_VARIANT} units = {total_units}")
        print(f"reservations            {stats['ok']} in {elapsed:.2f}s")
        print(f"reservations/s          {stats['ok'] / elapsed:.0f}")
        print(
            f"latency                 p50 {statistics.median(latencies) * 1000:.1f} ms, "
            f"p95 {p95 * 1000:.1f} ms"
        )
        failed, errors = stats["failed"], stats["errors"]
        print(f"failed attempts         {failed} insufficient_stock, {errors} errors")
        print(f"units reserved          {reserved} (open reservations {open_reservations})")
        print(f"oversold units          {oversold}" + ("" if oversold == 0 else "  <-- BUG"))
        print(f"ledger check            {'ok' if not problems else f'{len(problems)} problem(s)'}")
        for problem in problems[:10]:
            print(f"  {problem}")
        return [
            {
                "figure": f"stock_reserve, {CLIENTS} concurrent clients, in-process",
                "value": stats["ok"] / elapsed,
                "unit": "reservations/s",
            }
        ]
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
