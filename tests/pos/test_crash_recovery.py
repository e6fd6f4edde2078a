"""A server killed in the middle of a sale batch (PostgreSQL, a real gunicorn process).

The till posts a big batch; while the server's transaction is recording it (its sale rows
claimed, orders, stock and points being written), the whole server is killed with
SIGKILL — no exception handler, no rollback by Django, the connection just vanishes.
PostgreSQL rolls the open transaction back. The server is started again and the till
sends the same batch, as it must when it never got an answer: every sale ends up
recorded exactly once, and the stock and points ledgers verify.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from inventory.models import StockLevel
from inventory.services import verify_ledger
from loyalty.models import LoyaltyEntry
from loyalty.services import verify
from orders.models import Order
from pos.models import PosSale
from pos.simulator import HttpTransport, simulate
from tests.factories.catalog import VariantFactory
from tests.factories.customers import CustomerFactory
from tests.factories.inventory import LocationFactory, StockLevelFactory
from tests.factories.loyalty import LoyaltyRulesFactory
from tests.factories.pos import make_terminal
from tests.factories.pricing import PriceFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SALES, LINES, STOCK = 500, 3, 100_000
# Statements the server runs only inside the batch's transaction, after it claimed the
# sale rows, one stage after another (the orders, the stock sale, the points): the kill
# lands at the first statement of a stage, so there is work left after it.
STAGES = {
    "orders": ("insert into orders_order ",),
    "stock": ("update inventory_stocklevel", "insert into inventory_stockmovement"),
    "points": ("insert into loyalty_", "update loyalty_"),
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`gunicorn config.wsgi` on the test database, in its own process group."""

    def __init__(self, log: Path):
        db = connection.settings_dict
        user = f"{db['USER']}:{db['PASSWORD']}" if db.get("PASSWORD") else db["USER"]
        host, port = db["HOST"] or "127.0.0.1", db["PORT"] or 5432
        self.env = os.environ | {
            "DATABASE_URL": f"postgres://{user}@{host}:{port}/{db['NAME']}",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DEBUG": "false",
            "SECRET_KEY": "crash-test-" + uuid.uuid4().hex,
            "ALLOWED_HOSTS": "127.0.0.1",
            "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
            "LOG_LEVEL": "ERROR",
        }
        self.env.pop("CELERY_BROKER_URL", None)
        self.log = log
        self.process: subprocess.Popen | None = None
        self.port = 0

    def start(self) -> None:
        self.port = _free_port()
        gunicorn = Path(sys.executable).with_name("gunicorn")
        with open(self.log, "a") as log:
            self.process = subprocess.Popen(
                [str(gunicorn), "config.wsgi", "--workers", "1", "--timeout", "120"]
                + ["--bind", f"127.0.0.1:{self.port}", "--log-level", "warning"],
                cwd=settings.BASE_DIR,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: SIGKILL takes master and worker
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()[-2000:]
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/v1/", timeout=2)
                return
            except urllib.error.HTTPError:
                return  # it answers
            except OSError:
                time.sleep(0.1)
        raise AssertionError("gunicorn did not answer within 30 s")

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)


@pytest.fixture
def server(tmp_path):
    server = Server(tmp_path / "gunicorn.log")
    try:
        yield server
    finally:
        server.stop()


def _normal(query: str) -> str:
    return query.replace('"', "").lstrip().lower()


def _post(port: int, token: str, batch: list[dict]) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/pos/sync/sales/",
        data=json.dumps({"sales": batch}).encode(),
        method="POST",
        headers={"Authorization": f"Terminal {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


def _monitor() -> psycopg.Connection:
    db = connection.settings_dict
    return psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db.get("PASSWORD") or None,
        dbname=db["NAME"],
        autocommit=True,
    )


def _server_backends(monitor, own: set[int]) -> list[tuple[int, str, bool]]:
    """(pid, query, in a transaction) of the other connections to the test database."""
    rows = monitor.execute(
        "SELECT pid, coalesce(query, ''), xact_start IS NOT NULL FROM pg_stat_activity "
        "WHERE datname = current_database() AND backend_type = 'client backend'"
    ).fetchall()
    return [row for row in rows if row[0] not in own]


@pytest.mark.parametrize("stage", STAGES)
def test_a_server_killed_in_the_middle_of_a_batch_loses_nothing_and_records_nothing_twice(
    server, stage
):
    store = LocationFactory()
    terminal, token = make_terminal(store)
    variants = VariantFactory.create_batch(12)
    for variant in variants:
        PriceFactory(variant=variant, amount=Decimal("7.50"))
        StockLevelFactory(variant=variant, location=store, on_hand=STOCK)
    LoyaltyRulesFactory()
    customers = CustomerFactory.create_batch(40)
    at = timezone.now() - timedelta(hours=2)
    batch = []
    for n in range(SALES):
        lines = [variants[(n + k) % len(variants)] for k in range(LINES)]
        batch.append(
            {
                "id": str(uuid.uuid4()),
                "occurred_at": (at + timedelta(seconds=n)).isoformat(),
                "cashier": "C1",
                # Two in five name a customer: points are earned inside the same transaction.
                "customer": {"phone": customers[n % 40].phone} if n % 5 < 2 else None,
                "lines": [
                    {"sku": v.sku, "quantity": 1 + k % 2, "unit_price": "7.50", "discount": "0"}
                    for k, v in enumerate(lines)
                ],
                "tenders": [
                    {
                        "kind": "card",
                        "amount": str(sum(Decimal("7.50") * (1 + k % 2) for k in range(LINES))),
                    }
                ],
            }
        )
    sold = Counter()
    for sale in batch:
        for line in sale["lines"]:
            sold[line["sku"]] += line["quantity"]

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        own = {cursor.fetchone()[0]}
    monitor = _monitor()
    own.add(monitor.info.backend_pid)
    # Sessions that were open before the server started are not the server's.
    own.update(pid for pid, _query, _in_transaction in _server_backends(monitor, own))

    server.start()
    failure: list[BaseException] = []

    def till() -> None:
        try:
            _post(server.port, token, batch)
        except BaseException as error:  # the answer never comes: the server died
            failure.append(error)

    sending = threading.Thread(target=till)
    sending.start()
    seen = None
    deadline = time.monotonic() + 60
    while seen is None and time.monotonic() < deadline and sending.is_alive():
        for _pid, query, in_transaction in _server_backends(monitor, own):
            if in_transaction and _normal(query).startswith(STAGES[stage]):
                seen = query[:80]
                break
    assert seen, f"the server finished the batch before its {stage} stage was seen"
    server.kill()
    sending.join(timeout=30)
    assert failure, "the till got an answer from a killed server"

    # PostgreSQL ends the dead server's session and rolls its transaction back.
    deadline = time.monotonic() + 30
    while _server_backends(monitor, own) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _server_backends(monitor, own)
    recorded = PosSale.objects.count()
    assert recorded == 0, f"killed at {seen!r}, yet {recorded} sales were committed"
    assert not Order.objects.exists()
    assert verify_ledger() == []

    # The till never got an answer: it sends the same batch again, twice.
    server.start()
    first = Counter(r["status"] for r in _post(server.port, token, batch)["results"])
    again = Counter(r["status"] for r in _post(server.port, token, batch)["results"])
    monitor.close()

    assert first == {"created": SALES}
    assert again == {"duplicate": SALES}
    assert PosSale.objects.count() == Order.objects.filter(channel="pos").count() == SALES
    for variant in variants:
        level = StockLevel.objects.get(variant=variant, location=store)
        assert level.on_hand == STOCK - sold[variant.sku]
    assert verify_ledger() == []
    identified = sum(1 for sale in batch if sale["customer"])
    assert LoyaltyEntry.objects.filter(kind="earn").count() == identified
    assert verify() == []


def test_the_till_simulator_over_http_records_each_sale_once_on_a_real_server(server):
    store = LocationFactory()
    terminal, token = make_terminal(store)
    for variant in VariantFactory.create_batch(8):
        PriceFactory(variant=variant, amount=Decimal("3.20"))
        StockLevelFactory(variant=variant, location=store, on_hand=50)
    LoyaltyRulesFactory()
    shoppers = [{"phone": c.phone} for c in CustomerFactory.create_batch(3)]
    server.start()

    summary, sales = simulate(
        HttpTransport(f"http://127.0.0.1:{server.port}", token),
        sales=30,
        seed=11,
        shoppers=shoppers,
        batch_size=6,
        settle_seconds=30,
    )

    assert summary.ok, summary.as_lines()
    assert summary.answers_lost == 1 and summary.identified
    assert PosSale.objects.filter(terminal=terminal).count() == len(sales) == 30
    assert verify_ledger() == [] and verify() == []
