"""Checkout benchmark on PostgreSQL: a real gunicorn server, concurrent HTTP clients, and
the raw database floor beside it.

What it does, all in a throwaway database `omni_bench_checkout_<pid>` created on the
DATABASE_URL server and dropped at the end (whatever happens):

1. migrate it and seed it through the services (`seed` step, a Django subprocess): a pickup
   store with stock on 10 hot variants (three of them scarce, so late checkouts fail with
   `insufficient_stock`), prices, and 400 customers — each with a token and an open cart of
   the 10 hot variants (1–2 units a line), written in bulk; the same step measures SQL
   queries per checkout in-process (`checkout_place` for 10 and 20 lines, and one
   `POST /api/v1/checkout/` through DRF's test client with token auth);
2. time two-line pickup checkouts in-process (`inprocess` step, a Django subprocess with
   DEBUG off and an in-memory broker: the notification is queued to the outbox, as in
   production, not sent): median ms per `POST /api/v1/checkout/` through the whole stack
   with token auth, and the request's statements for 2 and 6 lines (they must be equal;
   aim: <= 8 ms);
3. start `gunicorn config.wsgi` with `make serve`'s `config/gunicorn.py` (4 sync workers,
   DEBUG off) and drive
   `POST /api/v1/checkout/` from 24 client threads, one Idempotency-Key per checkout, then
   replay a few keys (each must return the same order);
4. check the stock (`verify` step): no level reserves more than it holds, the reserved
   units equal the units of the placed orders, `inventory.services.verify_ledger()` is clean,
   no customer got two orders;
5. with plain psycopg and the same concurrency, time the least a checkout must write — an
   order insert, a conditional `UPDATE … SET reserved = reserved + 1 WHERE id = … AND
   on_hand - reserved >= 1` on each of 10 rows of a scratch stock table (every transaction
   the same 10 rows, as every checkout locks the same 10 levels), a ledger insert — and
   print checkout throughput as a fraction of it (aim: at least 10%).

With a Redis (database 15 of 127.0.0.1:6379, emptied at the end) as its broker, the
server writes order notifications to the outbox with each checkout, as the production
stack does (no worker or beat runs here to relay them); without a Redis they run
eagerly in the worker after each response is sent (mails to Django's dummy backend).

Run: `DATABASE_URL=postgres://postgres@127.0.0.1:5432/omnicore python -m benchmarks checkout`.
On anything but PostgreSQL it says it is skipped. Bounded: 400 checkouts or 60 s of load,
5 s of raw loop; 40–60 s in all on a shared 2-core machine.
"""

import http.client
import json
import os
import queue
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = 24
GUNICORN_WORKERS = 4
CHECKOUTS = 400
LINES = 10  # every cart holds every hot variant
SCARCE = (0.80, 0.85, 0.90)  # stock of the first hot variants, as a share of the carts' demand
WARMUP_CHECKOUTS = 8
REPLAYS = 20
INPROCESS_CHECKOUTS = 80  # timed two-line checkouts in-process (plus warm-up)
INPROCESS_WARMUP = 10
REDIS = ("127.0.0.1", 6379)
BENCH_REDIS_DB = 15  # the server's notifications are queued here, then deleted
LOAD_DEADLINE_SECONDS = 60.0
RAW_SECONDS = 5.0
RAW_MAX_TRANSACTIONS = 20_000
STORE = "BENCH-STORE"
CUSTOMER_EMAIL = "bench{n}@bench.example"
CHECKOUT_PATH = "/api/v1/checkout/"


# --- orchestration (the parent process: no Django here) ------------------------------


def _is_postgres(url: str) -> bool:
    return urlsplit(url).scheme in {"postgres", "postgresql", "pgsql"}


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def _psycopg_conninfo(url: str) -> str:
    # psycopg understands postgresql:// URLs; dj-database-url's other spellings are not.
    parts = urlsplit(url)
    return urlunsplit(("postgresql", parts.netloc, parts.path, parts.query, ""))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _child_env(url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=url,
        DJANGO_SETTINGS_MODULE="config.settings",
        # Order notifications run eagerly after commit (no broker); do not print the mails.
        EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend",
        LOG_LEVEL="ERROR",  # every refused checkout would log a 409 warning
    )
    env.pop("CELERY_BROKER_URL", None)
    return env


def _run_step(step: str, env: dict[str, str], workdir: Path) -> dict:
    out = workdir / f"{step}.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_checkout", step, str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"step {step} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return json.loads(out.read_text())


def _admin_connect(url: str):
    import psycopg

    return psycopg.connect(_psycopg_conninfo(_with_database(url, "postgres")), autocommit=True)


def main() -> list[dict] | None:
    url = os.environ.get("DATABASE_URL", "")
    if not _is_postgres(url):
        print(
            "bench_checkout: skipped — it needs PostgreSQL (a real server process, concurrent "
            "connections, row locks): set DATABASE_URL=postgres://user@host:5432/name"
        )
        return

    name = f"omni_bench_checkout_{os.getpid()}"
    bench_url = _with_database(url, name)
    env = _child_env(bench_url)
    began = time.perf_counter()
    print(f"creating a throwaway database {name} …", flush=True)
    with _admin_connect(url) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    server = None
    try:
        with tempfile.TemporaryDirectory(prefix="bench_checkout_") as tmp:
            workdir = Path(tmp)
            subprocess.run(
                [sys.executable, "manage.py", "migrate", "--verbosity", "0"],
                cwd=ROOT,
                env=env,
                check=True,
                timeout=180,
            )
            print("seeding (services, bulk) and counting queries …", flush=True)
            seed = _run_step("seed", env, workdir)
            print(
                f"in-process: {INPROCESS_CHECKOUTS} two-line pickup checkouts through the "
                "whole Django stack (token auth), the notification queued, not run …",
                flush=True,
            )
            # As a production worker runs: DEBUG off (with it on, Django logs every statement
            # with its parameters bound into its text, which costs the checkout milliseconds).
            production = {
                "DEBUG": "false",
                "SECRET_KEY": "bench-checkout-" + uuid.uuid4().hex,
                "ALLOWED_HOSTS": "testserver",
            }
            inprocess = _run_step(
                "inprocess", env | production | {"CELERY_BROKER_URL": "memory://"}, workdir
            )

            port = _free_port()
            log_path = workdir / "gunicorn.log"
            broker = _broker_for_server()
            server = _server_start(env | broker, port, log_path)
            print(
                f"gunicorn on 127.0.0.1:{port}, {GUNICORN_WORKERS} workers; "
                f"{len(seed['load'])} checkouts from {CLIENTS} clients …",
                flush=True,
            )
            _run_load(port, seed["warmup"], clients=WARMUP_CHECKOUTS)
            load = _run_load(port, seed["load"], clients=CLIENTS, deadline=LOAD_DEADLINE_SECONDS)
            replays = _replay(port, seed["load"], load["placed"])
            _server_stop(server)
            server_log = log_path.read_text(errors="replace") if log_path.exists() else ""
            server = None

            check = _run_step("verify", env, workdir)
            print("raw PostgreSQL loop …", flush=True)
            raw = _raw_floor(bench_url, lines=LINES)
            _report(seed, load, replays, check, raw, time.perf_counter() - began, broker)
            _report_inprocess(inprocess)
            if any(c.startswith(("http_5", "transport")) for c in load["codes"]):
                print("server log tail:\n" + server_log[-3000:])
            raw_rate = raw["committed"] / (raw["elapsed"] or 1e-9)
            rate = load["done"] / (load["elapsed"] or 1e-9)
            return [
                {
                    "figure": "checkout, 2-line pickup, in-process",
                    "value": inprocess["median_ms"],
                    "unit": "ms/request",
                    "statements": inprocess["statements"]["2"],
                },
                {
                    "figure": f"checkout, {LINES}-line, HTTP, {CLIENTS} clients",
                    "value": rate,
                    "unit": "checkouts/s",
                    "statements": seed["queries"]["http_10"],
                    "floor_ratio": rate / raw_rate if raw_rate else None,
                },
            ]
    finally:
        if server is not None:
            _server_stop(server)
        with _admin_connect(url) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        _broker_purge()


# --- the server -------------------------------------------------------------------------


def _server_start(env: dict[str, str], port: int, log_path: Path) -> subprocess.Popen:
    server_env = env | {
        "DEBUG": "false",
        "SECRET_KEY": "bench-checkout-" + uuid.uuid4().hex,
        "ALLOWED_HOSTS": "127.0.0.1",
    }
    gunicorn = Path(sys.executable).with_name("gunicorn")
    # `make serve`'s settings (preloaded app, warmed up and frozen; the workers' GC
    # thresholds), with the benchmark's workers, port and log level.
    command = [str(gunicorn), "config.wsgi", "--config", str(ROOT / "config" / "gunicorn.py")]
    command += ["--workers", str(GUNICORN_WORKERS)]
    command += ["--bind", f"127.0.0.1:{port}", "--timeout", "60", "--log-level", "warning"]
    with open(log_path, "w") as log:  # the server keeps its own copy of the descriptor
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
        if proc.poll() is not None:
            raise RuntimeError("gunicorn exited:\n" + log_path.read_text()[-3000:])
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/api/v1/")
            conn.getresponse().read()
            conn.close()
            return proc
        except OSError:
            time.sleep(0.2)
    _server_stop(proc)
    raise RuntimeError("gunicorn did not answer within 30 s")


def _server_stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


# --- the clients ------------------------------------------------------------------------


def _checkout_body(item: dict) -> bytes:
    total = item["total"]
    return json.dumps(
        {
            "cart": item["cart"],
            "fulfilment": {"type": "pickup", "location": STORE},
            "payment": {"provider": "test", "token": "tok_ok"},
            "expected_total": total,
            "channel": "web",
        }
    ).encode()


def _post_checkout(port: int, item: dict) -> tuple[int, dict, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(
            "POST",
            CHECKOUT_PATH,
            body=_checkout_body(item),
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Token {item['token']}",
                "Idempotency-Key": item["key"],
            },
        )
        response = conn.getresponse()
        raw = response.read()
        try:
            body = json.loads(raw)
        except ValueError:
            body = {}
        return response.status, body, dict(response.getheaders())
    finally:
        conn.close()


def _outcome(status: int, body: dict) -> str:
    if status == 201:
        return "placed"
    if status >= 500:
        return f"http_{status}"
    error = body.get("error") if isinstance(body, dict) else None
    return (error or {}).get("code") or f"http_{status}"


def _run_load(port: int, items: list[dict], *, clients: int, deadline: float = 30.0) -> dict:
    """POST every item's checkout from `clients` threads; latencies and outcomes."""
    work: queue.Queue = queue.Queue()
    for index, item in enumerate(items):
        work.put((index, item))
    results: list[tuple[int, str, float, str]] = []
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def client() -> None:
        start.wait()
        mine = []
        while time.monotonic() < stop_at[0]:
            try:
                index, item = work.get_nowait()
            except queue.Empty:
                break
            began = time.perf_counter()
            try:
                status, body, _headers = _post_checkout(port, item)
                outcome, number = _outcome(status, body), body.get("number", "")
            except OSError:
                outcome, number = "transport_error", ""
            mine.append((index, outcome, time.perf_counter() - began, number))
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    stop_at[0] = time.monotonic() + deadline
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    return {
        "elapsed": elapsed,
        "codes": Counter(outcome for _i, outcome, _t, _n in results),
        "latencies": sorted(t for _i, _o, t, _n in results),
        "placed_latencies": sorted(t for _i, o, t, _n in results if o == "placed"),
        "placed": {i: n for i, o, _t, n in results if o == "placed"},
        "done": len(results),
    }


def _replay(port: int, items: list[dict], placed: dict[int, str]) -> dict:
    """Retry some placed checkouts with their key and body: the same order must come back."""
    same = 0
    picked = sorted(placed)[:: max(1, len(placed) // REPLAYS)][:REPLAYS]
    for index in picked:
        status, body, headers = _post_checkout(port, items[index])
        replayed = headers.get("Idempotent-Replayed") == "true"
        if status == 201 and body.get("number") == placed[index] and replayed:
            same += 1
    return {"tried": len(picked), "same": same}


# --- the raw PostgreSQL floor -----------------------------------------------------------

RAW_SCHEMA = """
CREATE TABLE bench_raw_stock (
    id bigserial PRIMARY KEY, on_hand integer NOT NULL, reserved integer NOT NULL DEFAULT 0
);
CREATE TABLE bench_raw_order (
    id bigserial PRIMARY KEY, number varchar(16) NOT NULL UNIQUE, customer_id bigint NOT NULL,
    total numeric(12, 2) NOT NULL, placed_at timestamptz NOT NULL
);
CREATE TABLE bench_raw_ledger (
    id bigserial PRIMARY KEY, level_id bigint NOT NULL REFERENCES bench_raw_stock (id),
    reference varchar(100) NOT NULL, reserved_delta integer NOT NULL,
    created_at timestamptz NOT NULL
);
"""


def _raw_floor(url: str, *, lines: int) -> dict:
    """Transactions/s of: order insert, one conditional UPDATE per hot row, ledger insert."""
    import psycopg

    conninfo = _psycopg_conninfo(url)
    with psycopg.connect(conninfo, autocommit=True) as setup:
        setup.execute(RAW_SCHEMA)
        setup.execute(
            "INSERT INTO bench_raw_stock (on_hand) SELECT 1000000000 FROM generate_series(1, %s)",
            (lines,),
        )
        stock_ids = [row[0] for row in setup.execute("SELECT id FROM bench_raw_stock ORDER BY id")]

    done = [0]
    failed = [0]
    lock = threading.Lock()
    start = threading.Barrier(CLIENTS + 1)
    stop_at = [0.0]

    def worker(index: int) -> None:
        ok = short = 0
        with psycopg.connect(conninfo) as conn:
            start.wait()
            attempt = 0
            while time.monotonic() < stop_at[0]:
                with lock:
                    if done[0] >= RAW_MAX_TRANSACTIONS:
                        break
                    done[0] += 1
                attempt += 1
                number = f"R{index:02d}{attempt:07d}"
                try:
                    with conn.transaction():
                        conn.execute(
                            "INSERT INTO bench_raw_order (number, customer_id, total, placed_at) "
                            "VALUES (%s, %s, %s, now()) RETURNING id",
                            (number, index, Decimal("123.45")),
                        )
                        for stock_id in stock_ids:  # fixed order: no deadlocks
                            cur = conn.execute(
                                "UPDATE bench_raw_stock SET reserved = reserved + 1 "
                                "WHERE id = %s AND on_hand - reserved >= 1",
                                (stock_id,),
                            )
                            if cur.rowcount != 1:
                                raise LookupError(stock_id)
                        conn.execute(
                            "INSERT INTO bench_raw_ledger "
                            "(level_id, reference, reserved_delta, created_at) "
                            "SELECT unnest(%s::bigint[]), %s, 1, now()",
                            (stock_ids, f"order:{number}"),
                        )
                    ok += 1
                except LookupError:
                    short += 1
        with lock:
            failed[0] += short

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    stop_at[0] = time.monotonic() + RAW_SECONDS
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    with psycopg.connect(conninfo, autocommit=True) as check:
        committed = check.execute("SELECT count(*) FROM bench_raw_order").fetchone()[0]
    return {"committed": committed, "failed": failed[0], "elapsed": elapsed}


# --- the report -------------------------------------------------------------------------


def _ms(values: list[float], share: float) -> str:
    if not values:
        return "-"
    if share == 0.5:
        return f"{statistics.median(values) * 1000:.0f}"
    return f"{values[min(len(values) - 1, int(len(values) * share))] * 1000:.0f}"


def _broker_for_server() -> dict[str, str]:
    """Give the server Redis as its broker, as the production stack has, when one answers on
    127.0.0.1:6379 (a database of its own, emptied afterwards): its notifications then go
    to the outbox. Else none: the tasks run in the worker after each response (eager)."""
    try:
        with socket.create_connection(REDIS, timeout=1):
            pass
    except OSError:
        return {}
    return {"CELERY_BROKER_URL": f"redis://{REDIS[0]}:{REDIS[1]}/{BENCH_REDIS_DB}"}


def _broker_purge() -> None:
    """Delete what the server queued in the benchmark's Redis database (no worker ran)."""
    try:
        with socket.create_connection(REDIS, timeout=1) as sock:
            sock.sendall(f"SELECT {BENCH_REDIS_DB}\r\nFLUSHDB\r\n".encode())
            sock.recv(64)
    except OSError:
        pass


def _report_inprocess(result: dict) -> None:
    def row(label: str, value: str) -> None:
        print(f"  {label:<28}{value}")

    counts = result["statements"]
    print(
        "checkout in-process — POST /api/v1/checkout/ through Django's test client (the whole "
        "middleware stack, knox token auth), 2-line pickup carts, notification written to the "
        "outbox (not relayed)"
    )
    row(
        "ms per checkout",
        f"median {result['median_ms']:.2f}  p90 {result['p90_ms']:.2f}  (CPU of this thread "
        f"{result['cpu_ms']:.2f}; {result['runs']} checkouts; gc.freeze() after warm-up and "
        "the workers' GC thresholds)",
    )
    row(
        "statements per checkout",
        ", ".join(f"{n} lines: {c}" for n, c in counts.items())
        + ("" if len(set(counts.values())) == 1 else "  <-- GROWS WITH THE CART")
        + f"; of them BEGIN/COMMIT/SAVEPOINT: {result['control']}",
    )
    row("aim", "<= 8 ms: " + ("met" if result["median_ms"] <= 8 else "NOT met"))


def _report(seed, load, replays, check, raw, total_seconds, broker=None) -> None:
    def row(label: str, value: str) -> None:
        print(f"  {label:<28}{value}")

    elapsed = load["elapsed"] or 1e-9
    rate = load["done"] / elapsed
    placed_rate = len(load["placed"]) / elapsed
    raw_rate = raw["committed"] / (raw["elapsed"] or 1e-9)
    codes = ", ".join(f"{code} {n}" for code, n in load["codes"].most_common())
    q = seed["queries"]
    print(
        f"checkout over HTTP — gunicorn {GUNICORN_WORKERS} sync workers, {CLIENTS} clients, "
        f"{LINES}-line carts on {LINES} hot variants at one pickup store; notifications "
        + (
            "queued to the outbox (Redis as the broker)"
            if broker
            else "run eagerly after each response (no Redis)"
        )
    )
    row("checkouts", f"{load['done']} of {len(seed['load'])} in {elapsed:.1f} s")
    row("checkouts/s", f"{rate:.1f}  (orders placed/s {placed_rate:.1f})")
    row(
        "latency ms, all",
        f"p50 {_ms(load['latencies'], 0.5)}  p95 {_ms(load['latencies'], 0.95)}",
    )
    row(
        "latency ms, placed",
        f"p50 {_ms(load['placed_latencies'], 0.5)}  p95 {_ms(load['placed_latencies'], 0.95)}",
    )
    row("outcomes", codes)
    row("idempotent replays", f"{replays['same']}/{replays['tried']} returned the same order")
    print("SQL queries per checkout (in-process, 10-line cart unless said)")
    (s10, c10), (s20, c20) = q["service_10"], q["service_20"]
    row(
        "checkout_place",
        f"{s10 - c10} queries + {c10} BEGIN/SAVEPOINT in the transaction; "
        f"+{q['after_commit']} from COMMIT on (the notification task runs eagerly)",
    )
    row("checkout_place, 20 lines", f"{s20 - c20} queries + {c20} BEGIN/SAVEPOINT")
    row(
        "POST /api/v1/checkout/",
        f"{q['http_10']} statements, {q['http_10_control']} of them BEGIN/SAVEPOINT/COMMIT "
        "(token auth, idempotency record, response, notification)",
    )
    print("stock")
    oversold = check["oversold"]
    row("oversold units", f"{oversold}" + ("" if oversold == 0 else "  <-- BUG"))
    balanced = check["reserved"] == check["placed_units"] == check["open_reserved"]
    row(
        "reserved = placed units",
        f"{check['reserved']} reserved, {check['open_reserved']} in open reservations, "
        f"{check['placed_units']} in placed orders" + ("" if balanced else "  <-- MISMATCH"),
    )
    orders_match = check["load_orders"] == len(load["placed"])
    row(
        "orders vs clients",
        f"{check['load_orders']} orders for {len(load['placed'])} 201s, "
        f"{check['customers_with_two_orders']} customers with two"
        + ("" if orders_match and not check["customers_with_two_orders"] else "  <-- MISMATCH"),
    )
    ledger = check["ledger_problems"]
    row("verify_ledger()", "ok" if not ledger else f"{len(ledger)} problem(s)")
    for problem in ledger[:5]:
        print(f"    {problem}")
    print(
        f"raw PostgreSQL floor — psycopg, {CLIENTS} connections; per transaction an order "
        f"insert, {LINES} conditional UPDATEs of the hot rows, a ledger insert"
    )
    row("transactions/s", f"{raw_rate:.0f}  ({raw['committed']} in {raw['elapsed']:.1f} s)")
    fraction = rate / raw_rate if raw_rate else 0.0
    row(
        "checkout / raw",
        f"{fraction:.1%}  (placed orders only {placed_rate / raw_rate if raw_rate else 0:.1%}; "
        "aim >= 10%)",
    )
    print(f"  {'total run time':<28}{total_seconds:.0f} s")


# --- Django steps (subprocesses with DATABASE_URL pointing at the throwaway database) ----


def _seed(out: Path) -> None:
    import django

    django.setup()
    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from django.utils import timezone
    from knox.models import AuthToken

    from catalog.services import category_create, product_create, variant_create
    from customers.models import Customer, Source, User
    from inventory.models import Location
    from inventory.services import location_save, stock_receive
    from orders.models import Cart, CartLine
    from pricing.services import PriceRow, price_list_create, prices_save

    rng = random.Random(5)
    now = timezone.now()
    with transaction.atomic():
        category = category_create(name="Bench")
        product = product_create(name="Bench product", category=category)
        hot = [
            variant_create(product=product, sku=f"HOT-{n:02d}", vat_rate="19") for n in range(LINES)
        ]
        probes = [
            variant_create(product=product, sku=f"PROBE-{n:02d}", vat_rate="19") for n in range(20)
        ]
        warm = variant_create(product=product, sku="WARM", vat_rate="19")
        variants = hot + probes + [warm]
        prices = {v.pk: Decimal("9.99") + n for n, v in enumerate(variants)}
        price_list = price_list_create(name="Retail", currency="EUR", is_default=True)
        prices_save(
            rows=[
                PriceRow(
                    price_list_id=price_list.pk,
                    variant_id=vid,
                    amount=amount,
                    valid_from=now - timedelta(days=1),
                )
                for vid, amount in prices.items()
            ]
        )
        store = location_save(
            location=Location(
                code=STORE, name="Bench store", kind="store", is_pickup_point=True, city="Berlin"
            )
        )

        # Customers, tokens and carts in bulk: the services do one customer at a time and
        # hash a password each, which would dominate the run. One hash serves everyone.
        password = make_password("bench-pass-123")
        count = CHECKOUTS + WARMUP_CHECKOUTS + 3
        users = User.objects.bulk_create(
            [
                User(email=CUSTOMER_EMAIL.format(n=n), full_name=f"Bench {n}", password=password)
                for n in range(count)
            ]
        )
        customers = Customer.objects.bulk_create(
            [
                Customer(
                    user=user,
                    email=user.email,
                    phone=f"+49151{30000000 + n:08d}",
                    first_name="Bench",
                    last_name=str(n),
                    signup_channel=Source.WEB,
                    registered_at=now,
                    registered_via=Source.WEB,
                )
                for n, user in enumerate(users)
            ]
        )
        # One device token per customer (knox: only its digest is stored).
        token_of = {
            user.pk: AuthToken.objects.create(user=user, expiry=timedelta(days=1))[1]
            for user in users
        }
        load_customers, rest = customers[:CHECKOUTS], customers[CHECKOUTS:]
        warm_customers, probe_customers = rest[:WARMUP_CHECKOUTS], rest[WARMUP_CHECKOUTS:]
        carts = Cart.objects.bulk_create(
            [
                Cart(customer=c, channel="web", fulfilment_type="pickup", pickup_location=store)
                for c in load_customers + warm_customers
            ]
        )
        quantities = [[rng.choice((1, 1, 2)) for _ in hot] for _ in load_customers]
        lines = [
            CartLine(cart=cart, variant=v, quantity=q)
            for cart, qs in zip(carts, quantities, strict=False)
            for v, q in zip(hot, qs, strict=True)
        ]
        lines += [CartLine(cart=cart, variant=warm, quantity=1) for cart in carts[CHECKOUTS:]]
        CartLine.objects.bulk_create(lines)

        demand = [sum(qs[i] for qs in quantities) for i in range(len(hot))]
        stock = [
            int(demand[i] * SCARCE[i]) if i < len(SCARCE) else demand[i] + 50
            for i in range(len(hot))
        ]
        stock_receive(
            lines=[(v.pk, units) for v, units in zip(hot, stock, strict=True)]
            + [(v.pk, 100) for v in probes]
            + [(warm.pk, 100)],
            location=store,
            reference="bench:receipt",
        )

    def item(cart, customer, total):
        return {
            "cart": str(cart.token),
            "token": token_of[customer.user_id],
            "key": str(uuid.uuid4()),
            "total": str(total),
        }

    load = [
        item(cart, customer, sum(prices[v.pk] * q for v, q in zip(hot, qs, strict=True)))
        for cart, customer, qs in zip(carts[:CHECKOUTS], load_customers, quantities, strict=True)
    ]
    warmup = [
        item(cart, customer, prices[warm.pk])
        for cart, customer in zip(carts[CHECKOUTS:], warm_customers, strict=True)
    ]
    queries = _count_queries(store, probes, probe_customers, token_of)
    out.write_text(json.dumps({"load": load, "warmup": warmup, "queries": queries}))


TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")


def _split(captured: list[dict]) -> tuple[int, int]:
    """(statements, of which transaction control) — Django logs BEGIN and savepoints too."""
    control = sum(1 for q in captured if q["sql"].upper().startswith(TRANSACTION_CONTROL))
    return len(captured), control


def _count_queries(store, probes, customers, token_of) -> dict:
    """Queries of one checkout: the service (10 and 20 lines) and the whole HTTP request."""
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    from orders import services

    def cart_of(customer, variants):
        cart = services.cart_get_current(customer=customer, channel="web")
        for variant in variants:
            services.cart_line_add(cart=cart, sku=variant.sku, quantity=1)
        return cart

    def service_checkout(customer, variants):
        cart = cart_of(customer, variants)
        with CaptureQueriesContext(connection) as ctx:
            # The view runs checkout_place inside the idempotency record's transaction; so
            # does this, which also separates what runs after commit (the notification).
            with transaction.atomic():
                services.checkout_place(
                    cart=cart,
                    customer=customer,
                    fulfilment={"type": "pickup", "location": STORE},
                    payment=services.PaymentInput(provider="test", token="tok_ok"),
                )
                inside = len(ctx.captured_queries)
        return _split(ctx.captured_queries[:inside]), len(ctx.captured_queries) - inside

    from pricing import selectors as pricing_selectors

    # The promotion rule book is read once per process (and after a pricing write): not
    # part of what a checkout costs.
    pricing_selectors.quote([{"sku": probes[0].sku, "quantity": 1}])
    first, second, third = customers
    service_10, after_commit = service_checkout(first, probes[:10])
    service_20, _after = service_checkout(second, probes)

    cart = cart_of(third, probes[:10])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_of[third.user_id]}")
    body = {
        "cart": str(cart.token),
        "fulfilment": {"type": "pickup", "location": STORE},
        "payment": {"provider": "test", "token": "tok_ok"},
    }
    with CaptureQueriesContext(connection) as ctx:
        response = client.post(CHECKOUT_PATH, body, format="json", HTTP_IDEMPOTENCY_KEY="probe")
    if response.status_code != 201:
        raise RuntimeError(f"probe checkout failed: {response.status_code} {response.content!r}")
    return {
        "http_10_control": _split(ctx.captured_queries)[1],
        "service_10": service_10,
        "service_20": service_20,
        "after_commit": after_commit,
        "http_10": len(ctx.captured_queries),
    }


def _verify(out: Path) -> None:
    import django

    django.setup()
    from django.db.models import Count, Sum

    from customers.models import Customer
    from inventory.models import Reservation, StockLevel
    from inventory.services import verify_ledger
    from orders.models import Order, OrderLine

    levels = list(StockLevel.objects.values_list("on_hand", "reserved"))
    result = {
        "oversold": sum(max(reserved - on_hand, 0) for on_hand, reserved in levels),
        "reserved": sum(reserved for _on_hand, reserved in levels),
        "open_reserved": Reservation.objects.filter(status=Reservation.Status.OPEN).aggregate(
            n=Sum("quantity")
        )["n"]
        or 0,
        "placed_units": OrderLine.objects.filter(order__status="placed").aggregate(
            n=Sum("quantity")
        )["n"]
        or 0,
        # Only the load carts hold the hot variants (warm-up and probe carts do not).
        "load_orders": Order.objects.filter(lines__sku__startswith="HOT").distinct().count(),
        "customers_with_two_orders": Customer.objects.annotate(n=Count("orders"))
        .filter(n__gt=1)
        .count(),
        "ledger_problems": verify_ledger(),
    }
    out.write_text(json.dumps(result))


def _inprocess(out: Path) -> None:
    """Time two-line pickup checkouts in-process, through the whole Django stack, and count
    the statements of the request (up to its COMMIT) for 2 and 6 lines."""
    import gc

    import django

    django.setup()
    from django.contrib.auth.hashers import make_password
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone
    from knox.models import AuthToken
    from rest_framework.test import APIClient

    from catalog.models import Variant
    from customers.models import Customer, Source, User
    from orders import services

    probes = list(Variant.objects.filter(sku__startswith="PROBE-").order_by("sku"))
    count = INPROCESS_WARMUP + INPROCESS_CHECKOUTS + 2
    password = make_password("bench-pass-123")
    users = User.objects.bulk_create(
        User(email=f"inproc{n}@bench.example", full_name=f"In {n}", password=password)
        for n in range(count)
    )
    now = timezone.now()
    customers = Customer.objects.bulk_create(
        Customer(
            user=user,
            email=user.email,
            phone=f"+49152{40000000 + n:08d}",
            signup_channel=Source.WEB,
            registered_at=now,
            registered_via=Source.WEB,
        )
        for n, user in enumerate(users)
    )

    # One client, as one server process: Django's test client loads the middleware chain
    # on its first request, which a server does once, not per request.
    client = APIClient()

    def prepared(customer, lines: int) -> tuple[str, dict]:
        cart = services.cart_get_current(customer=customer, channel="web")
        start = customers.index(customer) % (len(probes) - lines)
        for variant in probes[start : start + lines]:
            services.cart_line_add(cart=cart, sku=variant.sku, quantity=1)
        token = AuthToken.objects.create(user=customer.user, expiry=timedelta(days=1))[1]
        body = {
            "cart": str(cart.token),
            "fulfilment": {"type": "pickup", "location": STORE},
            "payment": {"provider": "test", "token": "tok_ok"},
        }
        return f"Token {token}", body

    def post(authorization, body):
        response = client.post(
            CHECKOUT_PATH,
            body,
            format="json",
            HTTP_AUTHORIZATION=authorization,
            HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
        )
        if response.status_code != 201:
            raise RuntimeError(f"checkout failed: {response.status_code} {response.content!r}")

    jobs = [prepared(c, 2) for c in customers[: INPROCESS_WARMUP + INPROCESS_CHECKOUTS]]
    for authorization, body in jobs[:INPROCESS_WARMUP]:
        post(authorization, body)
    from config.gunicorn import worker_gc_thresholds

    gc.collect()
    gc.freeze()  # as the gunicorn master does after loading the app
    defaults = gc.get_threshold()
    gc.set_threshold(*worker_gc_thresholds())  # as config/gunicorn.py's post_fork
    wall, cpu = [], []
    for authorization, body in jobs[INPROCESS_WARMUP:]:
        began, began_cpu = time.perf_counter(), time.thread_time()
        post(authorization, body)
        cpu.append((time.thread_time() - began_cpu) * 1000)
        wall.append((time.perf_counter() - began) * 1000)
    gc.unfreeze()
    gc.set_threshold(*defaults)

    statements, control = {}, 0
    for lines, customer in zip((2, 6), customers[-2:], strict=True):
        authorization, body = prepared(customer, lines)
        with CaptureQueriesContext(connection) as ctx:
            post(authorization, body)
        sql = [q["sql"].upper() for q in ctx.captured_queries]
        request = sql[: sql.index("COMMIT") + 1] if "COMMIT" in sql else sql
        statements[str(lines)] = len(request)
        if lines == 2:
            control = sum(1 for q in request if q.startswith(TRANSACTION_CONTROL))
    out.write_text(
        json.dumps(
            {
                "median_ms": statistics.median(wall),
                "p90_ms": statistics.quantiles(wall, n=10)[-1],
                "cpu_ms": statistics.median(cpu),
                "runs": len(wall),
                "statements": statements,
                "control": control,
            }
        )
    )


def _child(argv: list[str]) -> None:
    step, out = argv[0], Path(argv[1])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    {"seed": _seed, "verify": _verify, "inprocess": _inprocess}[step](out)


if __name__ == "__main__":
    _child(sys.argv[1:])
