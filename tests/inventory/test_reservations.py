"""Reservations: reserve (all shortages reported at once), release, consume, expiry."""

from datetime import timedelta

import pytest
from django.utils import timezone

from core.errors import ValidationFailed
from inventory import services
from inventory.errors import (
    InsufficientStock,
    LocationInactive,
    ReservationNotOpen,
    VariantNotSellable,
)
from inventory.models import Reservation, StockLevel, StockMovement
from inventory.tasks import release_expired_reservations
from tests.factories.catalog import VariantFactory
from tests.factories.inventory import LocationFactory, StockLevelFactory

pytestmark = pytest.mark.django_db


def _fresh(level: StockLevel) -> tuple[int, int]:
    level.refresh_from_db()
    return level.on_hand, level.reserved


def test_reserving_holds_units_without_touching_on_hand():
    level = StockLevelFactory(on_hand=5)
    expires = timezone.now() + timedelta(minutes=30)
    (reservation,) = services.stock_reserve(
        lines=[(level.variant_id, 2)],
        location=level.location,
        reference="order:A1",
        expires_at=expires,
    )
    assert (reservation.quantity, reservation.status, reservation.expires_at) == (
        2,
        "open",
        expires,
    )
    assert _fresh(level) == (5, 2)
    assert level.available == 3
    movement = reservation.movements.get()
    assert (movement.kind, movement.reserved_delta, movement.reference) == (
        "reservation",
        2,
        "order:A1",
    )


def test_a_short_reservation_reports_every_short_line_and_reserves_nothing():
    a = StockLevelFactory(on_hand=2)
    b = StockLevelFactory(location=a.location, on_hand=9)
    missing = VariantFactory()
    with pytest.raises(InsufficientStock) as info:
        services.stock_reserve(
            lines=[(a.variant_id, 3), (b.variant_id, 1), (missing.pk, 1)],
            location=a.location,
            reference="order:A2",
        )
    error = info.value
    assert (error.code, error.http_status) == ("insufficient_stock", 409)
    assert error.details["location"] == a.location.code
    assert error.details["lines"] == [
        {"variant_id": a.variant_id, "sku": a.variant.sku, "requested": 3, "available": 2},
        {"variant_id": missing.pk, "sku": missing.sku, "requested": 1, "available": 0},
    ]
    assert not Reservation.objects.exists()
    assert _fresh(b) == (9, 0)


def test_reserving_exactly_what_is_available_succeeds_and_one_more_fails():
    level = StockLevelFactory(on_hand=3)
    services.stock_reserve(
        lines=[(level.variant_id, 3)], location=level.location, reference="order:1"
    )
    with pytest.raises(InsufficientStock):
        services.stock_reserve(
            lines=[(level.variant_id, 1)], location=level.location, reference="order:2"
        )


def test_stock_at_another_location_does_not_count():
    level = StockLevelFactory(on_hand=3)
    with pytest.raises(InsufficientStock):
        services.stock_reserve(
            lines=[(level.variant_id, 1)], location=LocationFactory(), reference="o:3"
        )


def test_inactive_variants_closed_locations_past_expiries_and_blank_references_are_refused():
    level = StockLevelFactory(on_hand=3)
    level.variant.is_active = False
    level.variant.save()
    with pytest.raises(VariantNotSellable):
        services.stock_reserve(
            lines=[(level.variant_id, 1)], location=level.location, reference="o:4"
        )
    active = StockLevelFactory(on_hand=3)
    with pytest.raises(ValidationFailed):
        services.stock_reserve(
            lines=[(active.variant_id, 1)], location=active.location, reference=" "
        )
    with pytest.raises(ValidationFailed):
        services.stock_reserve(
            lines=[(active.variant_id, 1)],
            location=active.location,
            reference="o:5",
            expires_at=timezone.now() - timedelta(seconds=1),
        )
    active.location.is_active = False
    active.location.save()
    with pytest.raises(LocationInactive):
        services.stock_reserve(
            lines=[(active.variant_id, 1)], location=active.location, reference="o:6"
        )


def test_release_frees_every_open_reservation_of_the_reference_and_is_idempotent():
    a = StockLevelFactory(on_hand=4)
    b = StockLevelFactory(location=a.location, on_hand=4)
    services.stock_reserve(
        lines=[(a.variant_id, 1), (b.variant_id, 2)], location=a.location, reference="order:R"
    )
    services.stock_reserve(lines=[(a.variant_id, 1)], location=a.location, reference="order:OTHER")
    released = services.stock_release(reference="order:R", reason="cancelled")
    assert len(released) == 2 and {r.status for r in released} == {"released"}
    assert services.stock_release(reference="order:R") == []
    assert services.stock_release(reference="never-reserved") == []
    assert _fresh(a) == (4, 1) and _fresh(b) == (4, 0)
    assert StockMovement.objects.filter(kind="release", reference="order:R").count() == 2


def test_consume_turns_reservations_into_sales_once():
    level = StockLevelFactory(on_hand=4)
    services.stock_reserve(
        lines=[(level.variant_id, 3)], location=level.location, reference="order:C"
    )
    consumed = services.stock_consume(reference="order:C")
    assert [r.status for r in consumed] == ["consumed"]
    assert _fresh(level) == (1, 0)
    assert services.stock_consume(reference="order:C") == []
    assert _fresh(level) == (1, 0)
    sale = StockMovement.objects.get(kind="sale", reference="order:C")
    assert (sale.on_hand_delta, sale.reserved_delta) == (-3, -3)


def test_consume_of_a_released_or_unknown_reference_is_a_conflict():
    level = StockLevelFactory(on_hand=4)
    services.stock_reserve(
        lines=[(level.variant_id, 1)], location=level.location, reference="order:X"
    )
    services.stock_release(reference="order:X")
    with pytest.raises(ReservationNotOpen) as info:
        services.stock_consume(reference="order:X")
    assert info.value.http_status == 409
    with pytest.raises(ReservationNotOpen):
        services.stock_consume(reference="order:never")


def test_releasing_after_consuming_changes_nothing():
    level = StockLevelFactory(on_hand=2)
    services.stock_reserve(
        lines=[(level.variant_id, 2)], location=level.location, reference="order:Z"
    )
    services.stock_consume(reference="order:Z")
    assert services.stock_release(reference="order:Z") == []
    assert _fresh(level) == (0, 0)


def test_the_expiry_task_releases_only_expired_reservations_and_is_safe_to_run_twice():
    level = StockLevelFactory(on_hand=10)
    soon = timezone.now() + timedelta(minutes=5)
    services.stock_reserve(
        lines=[(level.variant_id, 1)], location=level.location, reference="o:old1", expires_at=soon
    )
    services.stock_reserve(
        lines=[(level.variant_id, 2)], location=level.location, reference="o:old2", expires_at=soon
    )
    services.stock_reserve(
        lines=[(level.variant_id, 3)],
        location=level.location,
        reference="o:later",
        expires_at=timezone.now() + timedelta(hours=2),
    )
    services.stock_reserve(
        lines=[(level.variant_id, 4)], location=level.location, reference="o:no-expiry"
    )
    later = timezone.now() + timedelta(minutes=10)

    assert services.reservations_release_expired(now=later) == 2
    assert services.reservations_release_expired(now=later) == 0
    assert _fresh(level) == (10, 7)
    statuses = dict(Reservation.objects.values_list("reference", "status"))
    assert statuses == {
        "o:old1": "expired",
        "o:old2": "expired",
        "o:later": "open",
        "o:no-expiry": "open",
    }
    expired = StockMovement.objects.filter(kind="release", reference__in=["o:old1", "o:old2"])
    assert expired.count() == 2 and {m.reason for m in expired} == {"expired"}


def test_the_expiry_task_works_through_a_backlog_in_batches():
    level = StockLevelFactory(on_hand=20)
    soon = timezone.now() + timedelta(minutes=1)
    for n in range(7):
        services.stock_reserve(
            lines=[(level.variant_id, 1)],
            location=level.location,
            reference=f"o:{n}",
            expires_at=soon,
        )
    assert services.reservations_release_expired(now=soon + timedelta(seconds=1), batch_size=3) == 7
    assert _fresh(level) == (20, 0)


def test_the_celery_task_calls_the_expiry_service():
    level = StockLevelFactory(on_hand=1)
    (reservation,) = services.stock_reserve(
        lines=[(level.variant_id, 1)],
        location=level.location,
        reference="o:task",
        expires_at=timezone.now() + timedelta(minutes=1),
    )
    Reservation.objects.filter(pk=reservation.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert release_expired_reservations.delay().get() == 1
    assert release_expired_reservations.delay().get() == 0
    assert _fresh(level) == (1, 0)
