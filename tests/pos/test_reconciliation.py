"""Offline oversell: a till sale that takes units online pickups reserved flags the later
pickups (the oldest keeps its units); staff re-route one to a store that has the stock."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from inventory.errors import InsufficientStock
from inventory.models import StockLevel
from inventory.services import verify_ledger
from orders import services as order_services
from orders.models import Order
from tests.factories.catalog import VariantFactory
from tests.factories.customers import CustomerWithLoginFactory
from tests.factories.inventory import LocationFactory, StockLevelFactory
from tests.factories.orders import CARD
from tests.factories.pos import make_terminal, terminal_client
from tests.factories.pricing import PriceFactory

pytestmark = pytest.mark.django_db


def _pickup(variant, store, quantity=1):
    customer = CustomerWithLoginFactory()
    cart = order_services.cart_get_current(customer=customer, channel="web")
    order_services.cart_line_add(cart=cart, sku=variant.sku, quantity=quantity)
    return order_services.checkout_place(
        cart=cart,
        customer=customer,
        fulfilment={"type": "pickup", "location": store.code},
        payment=CARD,
    )


def _till_sale(client, variant, quantity):
    sale = {
        "id": str(uuid.uuid4()),
        "occurred_at": (timezone.now() - timedelta(minutes=30)).isoformat(),
        "lines": [
            {"sku": variant.sku, "quantity": quantity, "unit_price": "10.00", "discount": "0"}
        ],
        "tenders": [{"kind": "cash", "amount": str(Decimal("10.00") * quantity)}],
    }
    response = client.post("/api/v1/pos/sync/sales/", {"sales": [sale]}, format="json")
    assert response.json()["results"][0]["status"] == "created"


@pytest.fixture
def stores(db):
    return (
        LocationFactory(code="BER", is_pickup_point=True),
        LocationFactory(code="HAM", is_pickup_point=True),
    )


def test_the_oldest_pickup_keeps_its_units_and_the_later_ones_are_flagged(stores):
    berlin, _hamburg = stores
    variant = VariantFactory()
    PriceFactory(variant=variant, amount=Decimal("10.00"))
    StockLevelFactory(variant=variant, location=berlin, on_hand=3)
    first, second, third = (_pickup(variant, berlin) for _ in range(3))
    _terminal, token = make_terminal(berlin)
    _till_sale(terminal_client(token), variant, 2)  # offline, before the pickups were seen
    flagged = set(Order.objects.filter(needs_attention=True).values_list("number", flat=True))
    assert flagged == {second.number, third.number}
    assert not Order.objects.get(pk=first.pk).needs_attention


def test_staff_re_route_a_short_pickup_to_a_store_that_has_the_stock(stores):
    berlin, hamburg = stores
    variant = VariantFactory()
    PriceFactory(variant=variant, amount=Decimal("10.00"))
    StockLevelFactory(variant=variant, location=berlin, on_hand=1)
    StockLevelFactory(variant=variant, location=hamburg, on_hand=4)
    order = _pickup(variant, berlin, quantity=1)
    order_services.order_transition(order=order, target="ready_for_pickup", actor="staff")
    _terminal, token = make_terminal(berlin)
    _till_sale(terminal_client(token), variant, 1)
    assert Order.objects.get(pk=order.pk).needs_attention
    moved = order_services.order_reroute(order=order, location=hamburg.code)
    assert (moved.location, moved.status, moved.needs_attention) == (hamburg, "placed", False)
    berlin_level = StockLevel.objects.get(variant=variant, location=berlin)
    hamburg_level = StockLevel.objects.get(variant=variant, location=hamburg)
    assert (berlin_level.on_hand, berlin_level.reserved) == (0, 0)
    assert (hamburg_level.on_hand, hamburg_level.reserved) == (4, 1)
    assert verify_ledger() == []


def test_re_routing_to_a_store_without_the_units_changes_nothing(stores):
    berlin, hamburg = stores
    variant = VariantFactory()
    PriceFactory(variant=variant, amount=Decimal("10.00"))
    StockLevelFactory(variant=variant, location=berlin, on_hand=2)
    StockLevelFactory(variant=variant, location=hamburg, on_hand=1)
    order = _pickup(variant, berlin, quantity=2)
    with pytest.raises(InsufficientStock):
        order_services.order_reroute(order=order, location=hamburg.code)
    assert Order.objects.get(pk=order.pk).location == berlin
    assert StockLevel.objects.get(variant=variant, location=berlin).reserved == 2
