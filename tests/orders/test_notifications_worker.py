"""Order notifications through a real Celery worker and a real Redis broker.

The test process commits an order, then a separate `celery worker` process (connected to
the same PostgreSQL test database) receives the notify task from Redis and sends the
email through Django's file-based backend. The task is then delivered twice more: the
customer still gets one message.
"""

import os
import socket
import subprocess
import sys
import time

import pytest
from celery import Celery
from django.conf import settings
from django.db import connection
from django.test import override_settings

from orders import services
from orders.models import Notification
from tests.factories.customers import CustomerWithLoginFactory
from tests.factories.orders import CARD, make_shop

REDIS_URL = os.environ.get("TEST_CELERY_BROKER_URL", "redis://127.0.0.1:6379/15")

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def worker(tmp_path):
    if not _redis_up():
        pytest.skip("needs Redis on 127.0.0.1:6379 as the Celery broker")
    db = connection.settings_dict
    host, port = db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    user = f"{db['USER']}:{db['PASSWORD']}" if db.get("PASSWORD") else db["USER"]
    env = os.environ | {
        "CELERY_BROKER_URL": REDIS_URL,
        "DATABASE_URL": f"postgres://{user}@{host}:{port}/{db['NAME']}",
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(tmp_path / "mail"),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=solo",
            "--concurrency=1",
            "-Q",
            "omnicore-test",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-l",
            "warning",
        ],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        yield tmp_path / "mail"
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def _wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_a_real_worker_sends_the_ready_message_once_however_often_the_task_arrives(worker):
    shop = make_shop()
    customer = CustomerWithLoginFactory()
    cart = services.cart_get_current(customer=customer, channel="web")
    services.cart_line_add(cart=cart, sku=shop.sku().sku, quantity=1)
    # In this process tasks run eagerly; with no notifiers here, only the worker sends.
    with override_settings(ORDER_NOTIFIERS=[]):
        order = services.checkout_place(
            cart=cart,
            customer=customer,
            fulfilment={"type": "pickup", "location": shop.store.code},
            payment=CARD,
        )
        services.order_transition(order=order, target="ready_for_pickup", actor="staff")
    assert not Notification.objects.exists()

    sender = Celery(broker=REDIS_URL)
    for _ in range(3):  # the broker redelivers, a client retries: the same task thrice
        sender.send_task(
            "orders.tasks.order_notify", args=[order.pk, "ready_for_pickup"], queue="omnicore-test"
        )

    def sent() -> bool:
        return Notification.objects.filter(
            order=order, event="ready_for_pickup", sent_at__isnull=False
        ).exists()

    assert _wait_for(sent), "the worker did not send the notification"
    time.sleep(2)  # give the duplicate deliveries time to be (not) sent
    messages = [p.read_text() for p in worker.glob("*.log")] if worker.exists() else []
    ready = [m for m in messages if f"Order {order.number} is ready for pickup" in m]
    assert len(ready) == 1
    assert customer.email in ready[0]
    assert order.pickup_code in ready[0]
