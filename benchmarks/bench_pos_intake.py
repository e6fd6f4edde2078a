"""POS intake benchmark on PostgreSQL: batches of 500 three-line till sales through the HTTP
API (a real gunicorn), first intake and full replay, and SQL statements per batch.

In a throwaway database `omni_bench_pos_<pid>` (dropped at the end, whatever happens):

1. migrate and seed through the services (`seed` step, a Django subprocess): a store with
   stock on 300 priced variants, 200 customers known by phone (a fifth of the sales name
   one, so they earn points), a registered terminal; the same step builds the batches
   (500 sales × 3 lines, tenders adding up, some charged off-engine prices) and counts SQL
   statements in-process for batches of 100 and of 500 sales (the count must not grow with
   the batch);
2. start `gunicorn config.wsgi` with `config/gunicorn.py` (2 sync workers, DEBUG off) and
   post every batch once from 2 client threads (first intake), then every batch again
   (replay: all duplicates);
3. verify (`verify` step): one order per sale, every sale exactly once, the stock and points
   ledgers clean.

Prints sales/s for the first intake and the replay, the replay speed-up, p50/p95 per batch,
and statements per batch. Aim: ≥ 2,000 sales/s first intake on a 2-core machine, replay ≥ 10×.
Run: `DATABASE_URL=postgres://postgres@127.0.0.1:5432/omnicore python -m benchmarks pos_intake`.
"""

import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from benchmarks.bench_checkout import (
    ROOT,
    _admin_connect,
    _child_env,
    _free_port,
    _is_postgres,
    _server_stop,
    _with_database,
)

BATCHES = 12
BATCH = 500
LINES = 3
CLIENTS = 2
WORKERS = 2
VARIANTS = 300
CUSTOMERS = 200
STORE = "BENCH-POS"


def main() -> list[dict] | None:
    url = os.environ.get("DATABASE_URL", "")
    if not _is_postgres(url):
        print("bench_pos_intake: skipped — it needs PostgreSQL: set DATABASE_URL=postgres://…")
        return
    name = f"omni_bench_pos_{os.getpid()}"
    env = _child_env(_with_database(url, name))
    with _admin_connect(url) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    server = None
    try:
        with tempfile.TemporaryDirectory(prefix="bench_pos_") as tmp:
            workdir = Path(tmp)
            subprocess.run(
                [sys.executable, "manage.py", "migrate", "--verbosity", "0"],
                cwd=ROOT,
                env=env,
                check=True,
                timeout=180,
            )
            print("seeding and counting statements per batch …", flush=True)
            seed = _step("seed", env, workdir)
            batches = json.loads((workdir / "batches.json").read_text())
            port = _free_port()
            server = _server(env, port, workdir / "gunicorn.log")
            print(f"gunicorn on :{port}, {WORKERS} workers; {len(batches)} × {BATCH} sales …")
            _post_all(port, seed["token"], batches[:1])  # warm the workers
            first = _post_all(port, seed["token"], batches[1:])
            replay = _post_all(port, seed["token"], batches[1:])
            _server_stop(server)
            server = None
            check = _step("verify", env, workdir)
            _report(seed, first, replay, check)
            return [
                {
                    "figure": f"POS intake, {BATCH}-sale batches, HTTP",
                    "value": first["per_second"],
                    "unit": "sales/s",
                    "statements": seed["statements"].get(str(BATCH)),
                },
                {
                    "figure": "POS intake, replay of the same batches, HTTP",
                    "value": replay["per_second"],
                    "unit": "sales/s",
                    "statements": seed["replay_statements"],
                },
            ]
    finally:
        if server is not None:
            _server_stop(server)
        with _admin_connect(url) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _step(step: str, env: dict, workdir: Path) -> dict:
    out = workdir / f"{step}.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_pos_intake", step, str(workdir)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"step {step} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return json.loads(out.read_text())


def _server(env: dict, port: int, log_path: Path) -> subprocess.Popen:
    server_env = env | {
        "DEBUG": "false",
        "SECRET_KEY": "bench-pos-" + uuid.uuid4().hex,
        "ALLOWED_HOSTS": "127.0.0.1",
    }
    gunicorn = Path(sys.executable).with_name("gunicorn")
    command = [str(gunicorn), "config.wsgi", "--config", str(ROOT / "config" / "gunicorn.py")]
    command += ["--workers", str(WORKERS), "--timeout", "120"]
    command += ["--bind", f"127.0.0.1:{port}", "--log-level", "warning"]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env=server_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            return proc
        except OSError:
            time.sleep(0.2)
    _server_stop(proc)
    raise RuntimeError("gunicorn did not answer within 30 s")


def _post_all(port: int, token: str, batches: list[list[dict]]) -> dict:
    jobs = list(enumerate(batches))
    lock = threading.Lock()
    timings: list[float] = []
    statuses: dict[str, int] = {}

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        while True:
            with lock:
                if not jobs:
                    break
                _i, batch = jobs.pop(0)
            body = json.dumps({"sales": batch})
            began = time.perf_counter()
            conn.request(
                "POST",
                "/api/v1/pos/sync/sales/",
                body=body,
                headers={"Authorization": f"Terminal {token}", "Content-Type": "application/json"},
            )
            response = conn.getresponse()
            payload = json.loads(response.read())
            elapsed = time.perf_counter() - began
            with lock:
                timings.append(elapsed)
                for result in payload.get("results", []):
                    statuses[result["status"]] = statuses.get(result["status"], 0) + 1
                if response.status != 200:
                    statuses[f"http_{response.status}"] = (
                        statuses.get(f"http_{response.status}", 0) + 1
                    )
        conn.close()

    began = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    sales = sum(len(b) for b in batches)
    return {
        "sales": sales,
        "wall": wall,
        "per_second": sales / wall,
        "p50": statistics.median(timings),
        "p95": sorted(timings)[int(len(timings) * 0.95) - 1] if timings else 0,
        "statuses": statuses,
    }


def _report(seed: dict, first: dict, replay: dict, check: dict) -> None:
    print(
        f"first intake: {first['per_second']:,.0f} sales/s ({first['sales']} sales in "
        f"{first['wall']:.1f} s; per 500-sale batch p50 {first['p50'] * 1000:.0f} ms, "
        f"p95 {first['p95'] * 1000:.0f} ms) {first['statuses']}"
    )
    print(
        f"replay:       {replay['per_second']:,.0f} sales/s ({replay['wall']:.1f} s; p50 "
        f"{replay['p50'] * 1000:.0f} ms) {replay['statuses']} — "
        f"{replay['per_second'] / first['per_second']:.1f}× the first intake"
    )
    counts = seed["statements"]
    print(
        "SQL statements per batch (in-process): "
        + ", ".join(f"{n} sales: {c}" for n, c in counts.items())
        + f"; replay of 500: {seed['replay_statements']}"
    )
    print(
        f"verify: orders {check['orders']} = sales {check['sales']}, duplicates "
        f"{check['duplicate_sales']}, stock ledger {check['ledger'] or 'OK'}, "
        f"points ledger {check['points'] or 'OK'}"
    )


# --- the Django steps (run in a child process) --------------------------------------------


def _seed(workdir: Path) -> None:
    import random
    from datetime import timedelta
    from decimal import Decimal

    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from catalog import services as catalog_services
    from customers import services as customer_services
    from inventory import services as inventory_services
    from inventory.models import Location
    from loyalty.models import LoyaltyRules
    from pos import services as pos_services
    from pricing import services as pricing_services

    rng = random.Random(7)
    store = Location.objects.create(code=STORE, name="Bench store", kind="store")
    root = catalog_services.category_create(name="Bench")
    product = catalog_services.product_create(name="Bench product", category=root)
    price_list = pricing_services.price_list_create(name="Retail", is_default=True)
    variants = []
    for i in range(VARIANTS):
        v = catalog_services.variant_create(product=product, sku=f"B-{i:04d}", vat_rate="19")
        variants.append((v, Decimal(rng.choice(["2.99", "4.50", "9.99", "19.90", "49.00"]))))
    pricing_services.prices_save(
        rows=[
            pricing_services.PriceRow(
                price_list_id=price_list.pk,
                variant_id=v.pk,
                amount=amount,
                valid_from=timezone.now() - timedelta(days=30),
            )
            for v, amount in variants
        ]
    )
    inventory_services.stock_receive(lines=[(v.pk, 100_000) for v, _a in variants], location=store)
    LoyaltyRules.objects.create(
        effective_from=timezone.now() - timedelta(days=365),
        earn_rate=Decimal("1"),
        redemption_value=Decimal("0.10"),
        max_redeem_percent=Decimal("50"),
    )
    phones = [f"+4915130{i:06d}" for i in range(CUSTOMERS)]
    for phone in phones:
        customer_services.customer_get_or_create(phone=phone, source="pos")
    terminal, token = pos_services.terminal_register(code="BENCH-T1", location=store)

    def sale(n: int) -> dict:
        lines, total = [], Decimal(0)
        for v, amount in rng.sample(variants, LINES):
            quantity = rng.randint(1, 3)
            unit = amount if rng.random() > 0.05 else amount - Decimal("0.50")
            lines.append(
                {"sku": v.sku, "quantity": quantity, "unit_price": str(unit), "discount": "0.00"}
            )
            total += unit * quantity
        at = timezone.now() - timedelta(minutes=rng.randint(1, 600))
        return {
            "id": str(uuid.uuid4()),
            "occurred_at": at.isoformat(),
            "cashier": f"C{n % 7}",
            "customer": {"phone": rng.choice(phones)} if rng.random() < 0.2 else None,
            "lines": lines,
            "tenders": [{"kind": rng.choice(["cash", "card"]), "amount": str(total)}],
        }

    from pricing import selectors as pricing_selectors

    # The promotion rule book is read once per process: not part of a batch's cost.
    pricing_selectors.promotion_rules_at(at=timezone.now())
    statements = {}
    for size in (100, 500):
        probe = [sale(i) for i in range(size)]
        with CaptureQueriesContext(connection) as queries:
            pos_services.sales_sync(terminal=terminal, sales=probe)
        statements[str(size)] = len(queries.captured_queries)
    with CaptureQueriesContext(connection) as queries:
        pos_services.sales_sync(terminal=terminal, sales=probe)
    replay_statements = len(queries.captured_queries)
    batches = [[sale(b * BATCH + i) for i in range(BATCH)] for b in range(BATCHES + 1)]
    (workdir / "batches.json").write_text(json.dumps(batches))
    (workdir / "seed.json").write_text(
        json.dumps(
            {"token": token, "statements": statements, "replay_statements": replay_statements}
        )
    )


def _verify(workdir: Path) -> None:
    from django.db.models import Count

    from inventory.services import verify_ledger
    from loyalty.services import verify
    from orders.models import Order
    from pos.models import PosSale

    (workdir / "verify.json").write_text(
        json.dumps(
            {
                "orders": Order.objects.filter(channel="pos").count(),
                "sales": PosSale.objects.count(),
                "duplicate_sales": Order.objects.values("quote_snapshot__sale")
                .annotate(n=Count("id"))
                .filter(n__gt=1)
                .count(),
                "ledger": verify_ledger(),
                "points": verify(),
            }
        )
    )


if __name__ == "__main__" and len(sys.argv) == 3:
    import django

    django.setup()
    {"seed": _seed, "verify": _verify}[sys.argv[1]](Path(sys.argv[2]))
