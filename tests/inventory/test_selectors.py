"""Inventory reads: availability maps, delivery totals and locations, staff scoping."""

import pytest

from inventory import selectors, services
from inventory.errors import LocationNotFound
from tests.factories.catalog import VariantFactory
from tests.factories.customers import UserFactory
from tests.factories.inventory import (
    LocationFactory,
    LocationStaffFactory,
    StockLevelFactory,
    WarehouseFactory,
)

pytestmark = pytest.mark.django_db


def test_availability_maps_every_variant_to_every_active_location_with_zero_for_none():
    a, b = LocationFactory(), LocationFactory()
    LocationFactory(is_active=False)
    v1, v2 = VariantFactory(), VariantFactory()
    StockLevelFactory(variant=v1, location=a, on_hand=4)
    services.stock_reserve(lines=[(v1.pk, 1)], location=a, reference="order:1")
    assert selectors.availability(variant_ids=[v1.pk, v2.pk]) == {
        v1.pk: {a.pk: 3, b.pk: 0},
        v2.pk: {a.pk: 0, b.pk: 0},
    }
    assert selectors.availability(variant_ids=[v1.pk], location_ids=[b.pk]) == {v1.pk: {b.pk: 0}}


def test_delivery_counts_only_active_locations_that_ship_online_and_never_below_zero():
    wh1, wh2, store = WarehouseFactory(), WarehouseFactory(), LocationFactory()
    WarehouseFactory(is_active=False)
    variant = VariantFactory()
    StockLevelFactory(variant=variant, location=wh1, on_hand=5)
    StockLevelFactory(variant=variant, location=wh2, on_hand=0)
    services.stock_record_pos_sale(lines=[(variant.pk, 2)], location=wh2, reference="pos:x")
    StockLevelFactory(variant=variant, location=store, on_hand=9)
    assert selectors.delivery_available(variant_ids=[variant.pk]) == {variant.pk: 5}


def test_location_for_delivery_picks_the_preferred_location_that_has_every_line():
    near = WarehouseFactory(code="WH-A", fulfilment_priority=10)
    far = WarehouseFactory(code="WH-B", fulfilment_priority=20)
    same_priority = WarehouseFactory(code="WH-0", fulfilment_priority=20)
    shirt, socks = VariantFactory(), VariantFactory()
    StockLevelFactory(variant=shirt, location=near, on_hand=5)  # no socks at the preferred one
    for location in (far, same_priority):
        StockLevelFactory(variant=shirt, location=location, on_hand=2)
        StockLevelFactory(variant=socks, location=location, on_hand=2)

    assert selectors.location_for_delivery(lines=[(shirt.pk, 1)]) == near
    # Both others can ship both; equal priority → the code decides, every time.
    assert selectors.location_for_delivery(lines=[(shirt.pk, 1), (socks.pk, 2)]) == same_priority
    assert selectors.location_for_delivery(lines=[(shirt.pk, 6)]) is None


def test_location_for_delivery_ignores_reserved_units_and_stores_that_do_not_ship():
    warehouse, store = WarehouseFactory(), LocationFactory()
    variant = VariantFactory()
    StockLevelFactory(variant=variant, location=warehouse, on_hand=1)
    StockLevelFactory(variant=variant, location=store, on_hand=10)
    services.stock_reserve(lines=[(variant.pk, 1)], location=warehouse, reference="order:2")
    assert selectors.location_for_delivery(lines=[(variant.pk, 1)]) is None


def test_location_get_by_code_in_any_case_or_by_id():
    location = LocationFactory(code="BER-1")
    assert selectors.location_get(code_or_id="ber-1") == location
    assert selectors.location_get(code_or_id=location.pk) == location
    with pytest.raises(LocationNotFound):
        selectors.location_get(code_or_id="nowhere")


def test_pickup_locations_are_the_active_pickup_points():
    pickup = LocationFactory(is_pickup_point=True)
    LocationFactory(is_pickup_point=False)
    LocationFactory(is_pickup_point=True, is_active=False)
    WarehouseFactory()
    assert list(selectors.pickup_locations()) == [pickup]


def test_staff_see_their_own_locations_superusers_all_and_customers_none():
    a, b = LocationFactory(), LocationFactory()
    clerk = LocationStaffFactory(location=a).user
    assert list(selectors.locations_for_staff(user=clerk)) == [a]
    boss = UserFactory(is_staff=True, is_superuser=True)
    assert set(selectors.locations_for_staff(user=boss)) == {a, b}
    assert not selectors.locations_for_staff(user=UserFactory()).exists()
    assert not selectors.locations_for_staff(user=None).exists()
    assert selectors.user_can_operate_at(user=clerk, location=a)
    assert not selectors.user_can_operate_at(user=clerk, location=b)
    clerk.is_staff = False
    assert not selectors.user_can_operate_at(user=clerk, location=a)


def test_staff_assignment_is_idempotent_and_removable():
    location, user = LocationFactory(), UserFactory(is_staff=True)
    first = services.location_staff_assign(user=user, location=location)
    assert services.location_staff_assign(user=user, location=location) == first
    services.location_staff_remove(user=user, location=location)
    assert not selectors.locations_for_staff(user=user).exists()


def test_the_availability_summary_sql_gives_what_the_orm_aggregate_gives():
    from django.db.models import F, Q, Sum, Value
    from django.db.models.functions import Greatest

    from inventory.models import StockLevel

    shop, pickup, warehouse = (
        LocationFactory(is_pickup_point=False),
        LocationFactory(),
        WarehouseFactory(),
    )
    closed = LocationFactory()
    variants = [VariantFactory() for _ in range(4)]
    for n, variant in enumerate(variants[:3]):
        StockLevelFactory(variant=variant, location=pickup, on_hand=n)
        StockLevelFactory(variant=variant, location=warehouse, on_hand=4 - n)
        StockLevelFactory(variant=variant, location=shop, on_hand=7)
        StockLevelFactory(variant=variant, location=closed, on_hand=9)
    services.stock_reserve(lines=[(variants[1].pk, 1)], location=pickup, reference="order:1")
    services.stock_record_pos_sale(lines=[(variants[2].pk, 5)], location=warehouse, reference="p")
    type(closed).objects.filter(pk=closed.pk).update(is_active=False)
    ids = [v.pk for v in variants]

    available = Greatest(F("on_hand") - F("reserved"), Value(0))
    rows = (
        StockLevel.objects.filter(variant_id__in=ids, location__is_active=True)
        .filter(Q(location__ships_online=True) | Q(location__is_pickup_point=True))
        .order_by()
        .values("variant_id")
        .annotate(
            delivery=Sum(available, filter=Q(location__ships_online=True)),
            pickup_stores=Sum(
                Value(1), filter=Q(location__is_pickup_point=True, on_hand__gt=F("reserved"))
            ),
        )
    )
    expected = {vid: {"delivery": 0, "pickup_stores": 0} for vid in ids}
    for row in rows:
        expected[row["variant_id"]] = {
            "delivery": row["delivery"] or 0,
            "pickup_stores": row["pickup_stores"] or 0,
        }
    assert selectors.variant_availability_summary(variant_ids=ids) == expected
    assert expected[variants[0].pk] == {"delivery": 4, "pickup_stores": 0}
    assert expected[variants[2].pk] == {"delivery": 0, "pickup_stores": 1}
    assert selectors.variant_availability_summary(variant_ids=[]) == {}
