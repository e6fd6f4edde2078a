"""Factories for orders: carts with lines, and a `shop` helper stocking and pricing SKUs.

Orders themselves have no factory: they are only ever made by `checkout_place`, so every
test order has the reservation, price snapshot and transition a real one has.
"""

from dataclasses import dataclass
from decimal import Decimal

import factory

from orders.models import Cart, CartLine
from orders.services import PaymentInput
from tests.factories.catalog import VariantFactory
from tests.factories.inventory import LocationFactory, StockLevelFactory, WarehouseFactory
from tests.factories.pricing import PriceFactory


class CartFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Cart

    channel = "web"


class CartLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CartLine

    cart = factory.SubFactory(CartFactory)
    variant = factory.SubFactory(VariantFactory)
    quantity = 1


@dataclass
class Shop:
    store: object
    other_store: object
    warehouse: object

    def sku(self, *, price: str = "10.00", store: int = 5, warehouse: int = 5, other: int = 0):
        """A priced variant with stock in the store, the warehouse and the other store."""
        variant = VariantFactory()
        PriceFactory(variant=variant, amount=Decimal(price))
        for location, units in ((self.store, store), (self.warehouse, warehouse)):
            if units:
                StockLevelFactory(variant=variant, location=location, on_hand=units)
        if other:
            StockLevelFactory(variant=variant, location=self.other_store, on_hand=other)
        return variant


def make_shop() -> Shop:
    return Shop(
        store=LocationFactory(code="BER-MITTE", name="Berlin Mitte"),
        other_store=LocationFactory(code="HAM-01", name="Hamburg"),
        warehouse=WarehouseFactory(code="WH-BER", name="Berlin warehouse"),
    )


# A card the test payment provider authorizes (tok_decline would be declined).
CARD = PaymentInput(provider="test", token="tok_ok")

ORDER_STAFF_PERMISSIONS = ("work_pickup_queue", "ship_order", "cancel_order")


def order_staff(location, *codenames: str):
    """A staff user of `location` holding these orders permissions (default: all three)."""
    from django.contrib.auth.models import Permission

    from tests.factories.inventory import LocationStaffFactory

    user = LocationStaffFactory(location=location).user
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="orders", codename__in=codenames or ORDER_STAFF_PERMISSIONS
        )
    )
    return type(user).objects.get(pk=user.pk)  # fresh: no stale permission cache


def role_staff(role: str, *locations):
    """A staff login holding one of the ready-made roles (staff.roles), working at these
    stores; made as the staff service makes them, so the role's group is the real one."""
    from django.contrib.auth.models import Group

    from staff.roles import ROLES
    from tests.factories.customers import UserFactory
    from tests.factories.inventory import LocationStaffFactory

    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get(name=ROLES[role].group))
    for location in locations:
        LocationStaffFactory(user=user, location=location)
    return type(user).objects.get(pk=user.pk)  # fresh: no stale permission cache
