"""Factories for the inventory app: stores, warehouses, staff assignments, stocked levels.

Stock is only ever put on a level through `inventory.services` (a receipt), so every
factory-built level has the movements that explain it and the ledger check holds.
"""

from decimal import Decimal

import factory

from inventory import services
from inventory.models import Location, LocationStaff, StockLevel
from tests.factories.catalog import VariantFactory
from tests.factories.customers import UserFactory

STORE_HOURS = {day: [["09:00", "20:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat")}


class LocationFactory(factory.django.DjangoModelFactory):
    """A Berlin store that is a pickup point and does not ship online orders."""

    class Meta:
        model = Location

    code = factory.Sequence(lambda n: f"STORE-{n:03d}")
    name = factory.Sequence(lambda n: f"Store {n}")
    kind = Location.Kind.STORE
    address_line = factory.Sequence(lambda n: f"Hauptstraße {n + 1}")
    postal_code = "10115"
    city = "Berlin"
    country = "DE"
    latitude = Decimal("52.520000")
    longitude = Decimal("13.405000")
    time_zone = "Europe/Berlin"
    opening_hours = factory.LazyFunction(lambda: {k: list(v) for k, v in STORE_HOURS.items()})
    is_pickup_point = True
    ships_online = False
    is_active = True


class WarehouseFactory(LocationFactory):
    code = factory.Sequence(lambda n: f"WH-{n:03d}")
    name = factory.Sequence(lambda n: f"Warehouse {n}")
    kind = Location.Kind.WAREHOUSE
    is_pickup_point = False
    ships_online = True


class StaffUserFactory(UserFactory):
    is_staff = True


class LocationStaffFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LocationStaff

    user = factory.SubFactory(StaffUserFactory)
    location = factory.SubFactory(LocationFactory)


class StockLevelFactory(factory.Factory):
    """A level holding `on_hand` units, put there by a receipt (or a zero count)."""

    class Meta:
        model = StockLevel

    variant = factory.SubFactory(VariantFactory)
    location = factory.SubFactory(LocationFactory)
    on_hand = 10

    @classmethod
    def _create(cls, model_class, *, variant, location, on_hand, **kwargs):
        if on_hand > 0:
            services.stock_receive(
                lines=[(variant.pk, on_hand)], location=location, reference="factory"
            )
        else:
            services.stock_count(counts=[(variant.pk, 0)], location=location, reference="factory")
        level = StockLevel.objects.get(variant=variant, location=location)
        if "low_stock_threshold" in kwargs:
            services.stock_level_threshold_set(
                level=level, threshold=kwargs.pop("low_stock_threshold")
            )
        if kwargs:
            raise TypeError(f"StockLevelFactory does not set {sorted(kwargs)}")
        return level

    @classmethod
    def _build(cls, model_class, *args, **kwargs):  # pragma: no cover - stock is never fake
        raise NotImplementedError("build stock through StockLevelFactory.create()")
