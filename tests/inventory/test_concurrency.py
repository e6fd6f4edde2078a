"""Concurrency on PostgreSQL: real threads, each with its own database connection.

Reservations never oversell, opposite line orders never deadlock, mixed traffic keeps the
ledger consistent, and the expiry task is safe to run from two workers at once.
"""

import random
import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from inventory import services
from inventory.errors import InsufficientStock, ReservationNotOpen
from inventory.models import Reservation, StockLevel, StockMovement
from tests.factories.inventory import LocationFactory, StockLevelFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_concurrently(jobs, *, timeout: float = 60.0) -> list:
    """Start every job in its own thread at the same instant; return their results in order.

    A job's result is what it returned, or the exception it raised. Each thread closes its
    own database connection at the end.
    """
    barrier = threading.Barrier(len(jobs))
    results: list = [None] * len(jobs)

    def worker(index, job):
        try:
            barrier.wait()
            results[index] = job()
        except Exception as exc:  # noqa: BLE001 - the test inspects what was raised
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(t.is_alive() for t in threads), "a worker hung (deadlock?)"
    return results


def _codes(results) -> Counter:
    return Counter(
        r.code if isinstance(r, InsufficientStock | ReservationNotOpen) else type(r).__name__
        for r in results
    )


def test_thirty_shoppers_racing_for_fifteen_units_reserve_exactly_fifteen():
    store = LocationFactory()
    levels = [StockLevelFactory(location=store, on_hand=n) for n in (5, 7, 3)]

    def shopper(n):
        level = levels[n % 3]
        return lambda: services.stock_reserve(
            lines=[(level.variant_id, 1)], location=store, reference=f"order:race-{n}"
        )

    results = run_concurrently([shopper(n) for n in range(30)])

    assert _codes(results) == Counter({"list": 15, "insufficient_stock": 15})
    for level in levels:
        level.refresh_from_db()
        assert level.reserved == level.on_hand  # every unit reserved, none twice
    assert Reservation.objects.count() == 15
    assert services.verify_ledger() == []


def test_multi_line_reservations_in_opposite_orders_do_not_deadlock_or_oversell():
    store = LocationFactory()
    levels = [StockLevelFactory(location=store, on_hand=10) for _ in range(3)]
    rng = random.Random(7)

    def shopper(n):
        lines = [(level.variant_id, 1) for level in levels]
        rng.shuffle(lines)
        return lambda: services.stock_reserve(
            lines=lines, location=store, reference=f"order:multi-{n}"
        )

    results = run_concurrently([shopper(n) for n in range(24)])

    assert _codes(results) == Counter({"list": 10, "insufficient_stock": 14})
    assert sorted(StockLevel.objects.values_list("reserved", flat=True)) == [10, 10, 10]
    assert services.verify_ledger() == []


def test_mixed_reservations_releases_consumption_pos_sales_and_receipts_stay_consistent():
    store = LocationFactory()
    levels = [StockLevelFactory(location=store, on_hand=6) for _ in range(4)]
    variant_ids = [level.variant_id for level in levels]

    def client(n):
        def run():
            rng = random.Random(n)
            mine: list[str] = []
            for step in range(12):
                roll = rng.random()
                lines = [
                    (vid, rng.randint(1, 2)) for vid in rng.sample(variant_ids, rng.randint(1, 3))
                ]
                try:
                    if roll < 0.45:
                        reference = f"order:{n}-{step}"
                        services.stock_reserve(lines=lines, location=store, reference=reference)
                        mine.append(reference)
                    elif roll < 0.6 and mine:
                        services.stock_release(reference=mine.pop(rng.randrange(len(mine))))
                    elif roll < 0.7 and mine:
                        services.stock_consume(reference=mine.pop(rng.randrange(len(mine))))
                    elif roll < 0.9:
                        services.stock_record_pos_sale(
                            lines=lines, location=store, reference=f"pos:{n}-{step}"
                        )
                    else:
                        services.stock_receive(lines=lines, location=store, reference=f"asn:{n}")
                except InsufficientStock:
                    pass
            return "done"

        return run

    results = run_concurrently([client(n) for n in range(20)])

    assert results == ["done"] * 20, [r for r in results if r != "done"]
    assert services.verify_ledger() == []
    for level in StockLevel.objects.all():
        open_units = sum(
            Reservation.objects.filter(level=level, status="open").values_list(
                "quantity", flat=True
            )
        )
        assert level.reserved == open_units
        # A level the till oversold is flagged for staff (and stays flagged until a count).
        assert level.needs_attention or level.on_hand >= level.reserved


def test_two_expiry_workers_and_a_canceller_release_each_reservation_exactly_once():
    store = LocationFactory()
    levels = [StockLevelFactory(location=store, on_hand=20) for _ in range(4)]
    soon = timezone.now() + timedelta(minutes=1)
    references = []
    for n in range(40):
        level = levels[n % 4]
        services.stock_reserve(
            lines=[(level.variant_id, 1)],
            location=store,
            reference=f"order:exp-{n}",
            expires_at=soon,
        )
        references.append(f"order:exp-{n}")
    later = soon + timedelta(seconds=1)

    def worker():
        return services.reservations_release_expired(now=later, batch_size=5)

    def canceller():
        return sum(len(services.stock_release(reference=r)) for r in references[::3])

    results = run_concurrently([worker, worker, worker, canceller])

    assert all(isinstance(r, int) for r in results), results
    # Workers and the canceller split the work; together they closed all 40, none twice.
    leftover = services.reservations_release_expired(now=later)  # what SKIP LOCKED skipped
    assert sum(results) + leftover == 40
    assert not Reservation.objects.filter(status="open").exists()
    per_reservation = Counter(
        StockMovement.objects.filter(kind="release").values_list("reservation_id", flat=True)
    )
    assert len(per_reservation) == 40 and set(per_reservation.values()) == {1}
    assert sorted(StockLevel.objects.values_list("reserved", flat=True)) == [0, 0, 0, 0]
    assert services.verify_ledger() == []


def test_the_expiry_task_skips_only_the_level_someone_holds_and_gets_it_on_the_next_run():
    from django.db import transaction

    store = LocationFactory()
    busy, free = (StockLevelFactory(location=store, on_hand=5) for _ in range(2))
    soon = timezone.now() + timedelta(minutes=1)
    for level, reference in ((busy, "order:exp-busy"), (free, "order:exp-free")):
        services.stock_reserve(
            lines=[(level.variant_id, 1)], location=store, reference=reference, expires_at=soon
        )
    services.stock_reserve(lines=[(busy.variant_id, 1)], location=store, reference="order:held")
    holding, done = threading.Event(), threading.Event()

    def holder():
        with transaction.atomic():  # a cancellation in progress holds the busy level's lock
            services.stock_release(reference="order:held")
            holding.set()
            done.wait(20)
        return "committed"

    def worker():
        holding.wait(20)
        try:
            return services.reservations_release_expired(now=soon + timedelta(seconds=1))
        finally:
            done.set()

    assert run_concurrently([holder, worker]) == ["committed", 1]
    assert Reservation.objects.get(reference="order:exp-free").status == "expired"
    assert Reservation.objects.get(reference="order:exp-busy").status == "open"
    assert services.reservations_release_expired(now=soon + timedelta(seconds=1)) == 1
    assert services.verify_ledger() == []
