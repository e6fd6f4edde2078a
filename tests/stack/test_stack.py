"""The main journeys and the proven guarantees, through the running stack (`make serve`).

Everything goes over HTTP to gunicorn; notifications and the pickup expiry run in the
Celery worker (beat schedules the expiry), never eagerly. The test process only builds
the shop with the factories and reads the database to check the outcome.
"""

import json
import os
import signal
import threading
import time
import uuid
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import psycopg
import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone
from knox.models import AuthToken

from inventory.models import StockLevel
from inventory.services import verify_ledger
from loyalty.models import LoyaltyEntry
from loyalty.services import verify as verify_points
from orders.models import Notification, Order
from pos.models import PosSale
from tests.factories.catalog import VariantFactory
from tests.factories.customers import CustomerFactory, CustomerWithLoginFactory
from tests.factories.inventory import LocationFactory, StockLevelFactory, WarehouseFactory
from tests.factories.loyalty import LoyaltyRulesFactory
from tests.factories.orders import Shop, order_staff
from tests.factories.pos import make_terminal
from tests.factories.pricing import PriceFactory
from tests.factories.returns import returns_staff
from tests.stack.conftest import wait_for

pytestmark = pytest.mark.postgres

PASSWORD = "secret-pass-123"


def _shop() -> Shop:
    return Shop(
        store=LocationFactory(), other_store=LocationFactory(), warehouse=WarehouseFactory()
    )


def _token(user) -> str:
    return AuthToken.objects.create(user)[1]


def _rid(name: str) -> str:
    return f"stack-{name}-{uuid.uuid4().hex[:12]}"


def _mail(stack) -> str:
    return "".join(p.read_text(errors="replace") for p in stack.mail_dir.glob("*.log"))


def _pickup_order(stack, shop, customer_token: str, lines, *, request_id: str) -> dict:
    cart = stack.post("/api/v1/carts/", {"channel": "web"}, token=customer_token)
    assert cart.status == 201, cart.body
    token = cart.body["token"]
    for variant, quantity in lines:
        added = stack.post(
            f"/api/v1/carts/{token}/lines/",
            {"sku": variant.sku, "quantity": quantity},
            token=customer_token,
        )
        assert added.status in (200, 201), added.body
    placed = stack.post(
        "/api/v1/checkout/",
        {
            "cart": token,
            "channel": "web",
            "fulfilment": {"type": "pickup", "location": shop.store.code},
            "payment": {"provider": "test", "token": "tok_ok"},
        },
        token=customer_token,
        headers={"Idempotency-Key": uuid.uuid4().hex, "X-Request-ID": request_id},
    )
    assert placed.status == 201, placed.body
    assert placed.headers["x-request-id"] == request_id
    return placed.body


def _task_lines(stack, *, task: str, request_id: str | None = None) -> list[dict]:
    return [
        line
        for line in stack.log_lines()
        if line["_process"].startswith("worker")
        and line.get("task") == task
        and (request_id is None or line.get("request_id") == request_id)
    ]


def test_catalog_cart_pickup_ready_collected_and_returned_in_another_store(stack):
    shop = _shop()
    jacket = shop.sku(price="89.90", store=3)
    socks = shop.sku(price="4.99", store=10)
    customer = CustomerWithLoginFactory()
    # The server checks passwords with the production hasher, not the tests' fast one.
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.PBKDF2PasswordHasher"]):
        customer.user.set_password(PASSWORD)
        customer.user.save(update_fields=["password"])

    # The catalog shows the jacket with its price and the store's stock.
    product = stack.get(f"/api/v1/catalog/products/{jacket.product_id}/")
    assert product.status == 200, product.body
    assert jacket.sku in json.dumps(product.body) and "89.90" in json.dumps(product.body)

    login = stack.post("/api/v1/auth/token/", {"login": customer.phone, "password": PASSWORD})
    assert login.status in (200, 201), login.body
    web = login.body["token"]

    checkout_id = _rid("checkout")
    order = _pickup_order(stack, shop, web, [(jacket, 1), (socks, 3)], request_id=checkout_id)
    assert (order["status"], order["total"]) == ("placed", "104.87")
    number = order["number"]

    # The "placed" message is sent by the worker, and its log line carries the request id
    # of the checkout that queued it.
    assert wait_for(lambda: f"Order {number}" in _mail(stack), 30), stack.tail()
    assert wait_for(
        lambda: _task_lines(stack, task="orders.tasks.order_notify", request_id=checkout_id), 10
    ), stack.tail()

    staff = _token(order_staff(shop.store))
    queue = stack.get("/api/v1/staff/pickups/", token=staff)
    assert queue.status == 200 and number in json.dumps(queue.body)
    ready = stack.post(
        f"/api/v1/staff/orders/{number}/ready/", token=staff, headers={"X-Request-ID": _rid("r")}
    )
    assert ready.status == 200 and ready.body["status"] == "ready_for_pickup", ready.body
    # At once: the hold is short here (8.6 s), and this journey is not about its expiry.
    handed = stack.post(
        f"/api/v1/staff/orders/{number}/handover/",
        {"pickup_code": order["pickup_code"]},
        token=staff,
    )
    assert handed.status == 200 and handed.body["status"] == "collected", handed.body
    assert wait_for(lambda: f"Order {number} is ready for pickup" in _mail(stack), 30)
    assert order["pickup_code"] in _mail(stack)

    # The jacket comes back in the other store.
    tablet = _token(returns_staff(shop.other_store))
    returned = stack.post(
        "/api/v1/staff/returns/",
        {
            "order": number,
            "location": shop.other_store.code,
            "reason": "wrong_size",
            "lines": [{"sku": jacket.sku, "quantity": 1, "condition": "resaleable"}],
        },
        token=tablet,
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert returned.status == 201, returned.body
    assert returned.body["refund"]["amount"] == "89.90"
    assert StockLevel.objects.get(variant=jacket, location=shop.other_store).on_hand == 1
    store = StockLevel.objects.get(variant=jacket, location=shop.store)
    assert (store.on_hand, store.reserved) == (2, 0)
    assert verify_ledger() == []


def test_a_ready_pickup_nobody_collects_is_expired_by_beat_through_the_worker(stack):
    shop = _shop()
    lamp = shop.sku(price="20.00", store=4)
    customer = CustomerWithLoginFactory()
    order = _pickup_order(stack, shop, _token(customer.user), [(lamp, 2)], request_id=_rid("x"))
    staff = _token(order_staff(shop.store))
    ready = stack.post(f"/api/v1/staff/orders/{order['number']}/ready/", token=staff)
    assert ready.status == 200, ready.body
    level = StockLevel.objects.get(variant=lamp, location=shop.store)
    assert (level.on_hand, level.reserved) == (4, 2)

    def expired() -> bool:
        return Order.objects.get(number=order["number"]).status == "expired"

    # The hold is 8.6 s here; beat queues the expiry every second; the worker runs it.
    assert wait_for(expired, 45, 0.5), stack.tail()
    level.refresh_from_db()
    assert (level.on_hand, level.reserved) == (4, 0)

    def worker_logged_the_expiry() -> bool:
        # The worker commits before Celery logs the task's result: wait for the line too.
        return any(
            line.get("data", {}).get("return_value") not in (None, "0")
            and line["logger"] == "celery.app.trace"
            for line in _task_lines(stack, task="orders.tasks.orders_expire_uncollected")
        )

    assert wait_for(worker_logged_the_expiry, 15, 0.25), (
        "no expiry run in the worker expired an order"
    )
    assert verify_ledger() == []


def _sale(variants, *, at, customer=None, lines=2) -> dict:
    chosen = [variants[k % len(variants)] for k in range(lines)]
    return {
        "id": str(uuid.uuid4()),
        "occurred_at": at.isoformat(),
        "cashier": "C1",
        "customer": {"phone": customer.phone} if customer else None,
        "lines": [
            {"sku": v.sku, "quantity": 1, "unit_price": "7.50", "discount": "0"} for v in chosen
        ],
        "tenders": [{"kind": "card", "amount": str(Decimal("7.50") * lines)}],
    }


def _till_shop(units: int):
    store = LocationFactory()
    variants = VariantFactory.create_batch(6)
    for variant in variants:
        PriceFactory(variant=variant, amount=Decimal("7.50"))
        StockLevelFactory(variant=variant, location=store, on_hand=units)
    return store, variants


def test_a_till_batch_syncs_once_and_its_replay_records_nothing(stack):
    store, variants = _till_shop(1000)
    _terminal, token = make_terminal(store)
    at = timezone.now() - timedelta(hours=1)
    batch = [_sale(variants, at=at + timedelta(seconds=n)) for n in range(60)]

    first = stack.post("/api/v1/pos/sync/sales/", {"sales": batch}, token=token, scheme="Terminal")
    again = stack.post("/api/v1/pos/sync/sales/", {"sales": batch}, token=token, scheme="Terminal")

    assert first.status == 200 and again.status == 200, (first.body, again.body)
    assert Counter(r["status"] for r in first.body["results"]) == {"created": 60}
    assert Counter(r["status"] for r in again.body["results"]) == {"duplicate": 60}
    assert PosSale.objects.filter(terminal__location=store).count() == 60
    sold = sum(level.on_hand for level in StockLevel.objects.filter(location=store))
    assert sold == 6 * 1000 - 60 * 2
    assert verify_ledger() == []


def test_many_clients_racing_for_hot_skus_never_oversell(stack):
    from orders import services as order_services

    shop = _shop()
    hot = [shop.sku(price="5.00", store=6, warehouse=0) for _ in range(3)]
    clients = []
    for n in range(36):
        customer = CustomerWithLoginFactory()
        cart = order_services.cart_get_current(customer=customer, channel="web")
        order_services.cart_line_add(cart=cart, sku=hot[n % 3].sku, quantity=1 + n % 2)
        if n % 4 == 0:  # some carts want two hot SKUs: they lock two rows
            order_services.cart_line_add(cart=cart, sku=hot[(n + 1) % 3].sku, quantity=1)
        clients.append((str(cart.token), _token(customer.user)))
    demand = 36 * 1.5 + 9
    assert demand > 3 * 6  # far more wanted than there is

    barrier = threading.Barrier(12)
    answers: list = []
    lock = threading.Lock()

    def client(mine) -> None:
        barrier.wait(timeout=30)
        for cart, token in mine:
            answer = stack.post(
                "/api/v1/checkout/",
                {
                    "cart": cart,
                    "channel": "web",
                    "fulfilment": {"type": "pickup", "location": shop.store.code},
                    "payment": {"provider": "test", "token": "tok_ok"},
                },
                token=token,
                headers={"Idempotency-Key": uuid.uuid4().hex},
            )
            with lock:
                answers.append(answer)

    threads = [threading.Thread(target=client, args=(clients[i::12],)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    statuses = Counter(a.status for a in answers)
    assert len(answers) == 36 and set(statuses) <= {201, 409}, statuses
    refused = [a.body["error"]["code"] for a in answers if a.status == 409]
    assert set(refused) <= {"insufficient_stock"}
    assert statuses[201] >= 6  # the stock did sell
    for variant in hot:
        level = StockLevel.objects.get(variant=variant, location=shop.store)
        ordered = sum(
            line.quantity
            for order in Order.objects.filter(store=shop.store).prefetch_related("lines")
            for line in order.lines.all()
            if line.variant_id == variant.pk
        )
        assert level.reserved == ordered <= level.on_hand == 6
    assert verify_ledger() == []


def _monitor(stack) -> psycopg.Connection:
    db = connection.settings_dict
    return psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db.get("PASSWORD") or None,
        dbname=stack.database,
        autocommit=True,
    )


def test_gunicorn_workers_killed_mid_batch_lose_no_sale_and_record_none_twice(stack):
    SALES = 500
    store, variants = _till_shop(100_000)
    _terminal, token = make_terminal(store)
    LoyaltyRulesFactory()
    shoppers = CustomerFactory.create_batch(20)
    at = timezone.now() - timedelta(hours=2)
    batch = [
        _sale(variants, at=at + timedelta(seconds=n), lines=3, customer=shoppers[n % 20])
        if n % 5 < 2
        else _sale(variants, at=at + timedelta(seconds=n), lines=3)
        for n in range(SALES)
    ]
    monitor = _monitor(stack)
    failure: list[BaseException] = []

    def till() -> None:
        try:
            stack.post("/api/v1/pos/sync/sales/", {"sales": batch}, token=token, scheme="Terminal")
        except BaseException as error:  # the answer never comes: the worker died
            failure.append(error)

    sending = threading.Thread(target=till)
    sending.start()
    seen = None
    deadline = time.monotonic() + 60
    while seen is None and time.monotonic() < deadline and sending.is_alive():
        for (query,) in monitor.execute(
            "SELECT query FROM pg_stat_activity WHERE datname = current_database() "
            "AND xact_start IS NOT NULL AND pid <> pg_backend_pid()"
        ).fetchall():
            if query.replace('"', "").lstrip().lower().startswith("insert into orders_order "):
                seen = query[:80]
    assert seen, "the batch finished before its orders were being written"
    workers = stack.gunicorn_workers()
    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    sending.join(timeout=60)
    assert failure, "the till got an answer from a killed worker"

    # The master replaces its workers; the till sends the same batch until it gets an answer.
    assert wait_for(lambda: set(stack.gunicorn_workers()) - set(workers), 30)
    answer = None
    for _attempt in range(20):
        try:
            answer = stack.post(
                "/api/v1/pos/sync/sales/", {"sales": batch}, token=token, scheme="Terminal"
            )
        except OSError:
            time.sleep(0.5)
            continue
        if answer.status == 200:
            break
        time.sleep(0.5)
    assert answer is not None and answer.status == 200, answer and answer.body
    assert Counter(r["status"] for r in answer.body["results"]) == {"created": SALES}
    replay = stack.post("/api/v1/pos/sync/sales/", {"sales": batch}, token=token, scheme="Terminal")
    assert Counter(r["status"] for r in replay.body["results"]) == {"duplicate": SALES}
    monitor.close()

    assert PosSale.objects.filter(terminal__location=store).count() == SALES
    assert Order.objects.filter(channel="pos", store=store).count() == SALES
    on_hand = sum(level.on_hand for level in StockLevel.objects.filter(location=store))
    assert on_hand == 6 * 100_000 - SALES * 3
    identified = sum(1 for sale in batch if sale["customer"])
    earned = LoyaltyEntry.objects.filter(kind="earn", account__customer__in=shoppers).count()
    assert earned == identified
    assert verify_ledger() == [] and verify_points() == []


def test_a_celery_worker_process_killed_mid_task_is_redelivered_and_sends_once(stack):
    shop = _shop()
    kettle = shop.sku(price="30.00", store=2)
    customer = CustomerWithLoginFactory(email=f"slow-{uuid.uuid4().hex[:8]}@example.com")
    order = _pickup_order(stack, shop, _token(customer.user), [(kettle, 1)], request_id=_rid("k"))
    number = order["number"]
    subject = f"Order {number} is ready for pickup"
    staff = _token(order_staff(shop.store))
    assert stack.post(f"/api/v1/staff/orders/{number}/ready/", token=staff).status == 200

    def sending() -> list:
        return [m for m in stack.mail_dir.glob("sending-*.marker") if subject in m.read_text()]

    first = wait_for(sending, 30, 0.05)
    assert first, "the worker never started sending the ready message"
    pid = int(first[0].name.split("-")[1])
    os.kill(pid, signal.SIGKILL)  # the pool process dies inside the send

    # acks_late + reject_on_worker_lost: the broker hands the task to another process.
    assert wait_for(lambda: _mail(stack).count(subject) >= 1, 45, 0.2), stack.tail()
    time.sleep(1)  # a duplicate delivery would have started sending by now
    attempts = {int(marker.name.split("-")[1]) for marker in sending()}
    assert len(attempts) == 2 and pid in attempts  # killed once, sent by another process
    assert _mail(stack).count(f"Subject: {subject}") == 1
    sent = Notification.objects.filter(order__number=number, event="ready_for_pickup")
    assert sent.count() == 1 and sent.get().sent_at is not None


def test_one_scrape_sees_the_web_workers_and_the_celery_workers(stack):
    scrape = stack.get("/metrics")
    assert scrape.status == 200
    samples = {}
    for line in scrape.text.splitlines():
        if line and not line.startswith("#"):
            name, _space, number = line.rpartition(" ")
            samples[name] = float(number)

    def total(prefix: str) -> float:
        return sum(v for k, v in samples.items() if k.startswith(prefix))

    assert total('omnicore_checkouts_placed_total{channel="web",fulfilment="pickup"}') >= 3
    assert total('omnicore_pos_sales_synced_total{status="created"}') >= 560
    assert total('omnicore_pos_sales_synced_total{status="duplicate"}') >= 560
    assert total("omnicore_oversell_refusals_total") >= 1
    assert total('omnicore_celery_tasks_total{outcome="success",task="orders.tasks.order_notify"}')
    assert total("django_http_requests_latency_seconds_by_view_method_count") > 0
    assert total('django_db_execute_total{alias="default",vendor="postgresql"}') > 0
    # A scrape through the load balancer is refused.
    refused = stack.get("/metrics", headers={"X-Forwarded-For": "198.51.100.7"})
    assert refused.status == 403
