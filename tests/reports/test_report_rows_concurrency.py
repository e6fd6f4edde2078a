"""Folding the report rows is safe while orders keep being placed and while another fold
runs: proven on PostgreSQL with real threads and connections."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from reports import services as report_services
from reports.models import OrderDay
from tests.backoffice.conftest import place_pickup
from tests.factories.orders import make_shop

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _together(*operations) -> list[str]:
    barrier = threading.Barrier(len(operations))
    outcomes: list[str] = []

    def run(operation):
        try:
            barrier.wait()
            operation()
            outcomes.append("ok")
        except Exception as error:  # noqa: BLE001 - reported as the test's failure
            outcomes.append(repr(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(op,)) for op in operations]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def test_two_folds_and_new_orders_at_once_keep_every_sum():
    shop = make_shop()
    coat = shop.sku(price="80.00", store=50)
    for _ in range(6):
        place_pickup(coat, shop.store)
    before = timezone.localdate() + timedelta(days=1)
    for _ in range(5):
        outcomes = _together(
            lambda: report_services.facts_fold(before=before),
            lambda: report_services.facts_fold(before=before),
            lambda: place_pickup(coat, shop.store),
        )
        assert outcomes == ["ok", "ok", "ok"]
        assert report_services.facts_verify() == []
    report_services.facts_fold(before=before)
    assert OrderDay.objects.count() == 1  # one day, one store, one channel, all open
    assert OrderDay.objects.get().orders == 11
