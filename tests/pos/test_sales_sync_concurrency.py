"""Exactly once under concurrency (PostgreSQL): the same batch pushed by several
connections at the same moment records each sale once; the others answer duplicate."""

import threading
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from inventory.models import StockLevel
from inventory.services import verify_ledger
from orders.models import Order
from pos.models import PosSale
from pos.services import sales_sync
from tests.factories.catalog import VariantFactory
from tests.factories.inventory import LocationFactory, StockLevelFactory
from tests.factories.pos import make_terminal
from tests.factories.pricing import PriceFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_the_same_batch_pushed_four_times_at_once_records_each_sale_once():
    store = LocationFactory()
    terminal, _token = make_terminal(store)
    variants = [VariantFactory() for _ in range(3)]
    for v in variants:
        PriceFactory(variant=v, amount=Decimal("5.00"))
        StockLevelFactory(variant=v, location=store, on_hand=100)
    at = (timezone.now() - timedelta(minutes=10)).isoformat()
    batch = [
        {
            "id": str(uuid.uuid4()),
            "occurred_at": at,
            "lines": [
                {"sku": v.sku, "quantity": 1, "unit_price": "5.00", "discount": "0"}
                for v in variants
            ],
            "tenders": [{"kind": "card", "amount": "15.00"}],
        }
        for _ in range(40)
    ]
    barrier = threading.Barrier(4)
    answers: list[list[str]] = []
    lock = threading.Lock()

    def push():
        try:
            barrier.wait()
            results = sales_sync(terminal=terminal, sales=batch)
            with lock:
                answers.append([r.status for r in results])
        finally:
            connection.close()

    threads = [threading.Thread(target=push) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert len(answers) == 4
    created = sum(statuses.count("created") for statuses in answers)
    duplicates = sum(statuses.count("duplicate") for statuses in answers)
    assert (created, duplicates) == (40, 120)
    assert PosSale.objects.count() == Order.objects.count() == 40
    for v in variants:
        assert StockLevel.objects.get(variant=v, location=store).on_hand == 60
    assert verify_ledger() == []
