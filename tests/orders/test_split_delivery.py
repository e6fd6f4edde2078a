"""Split delivery in the orders app: the one-location delivery stays one shipment, a split
one reserves each line at its own location, staff ship and deliver per shipment, a partly
shipped order is never cancelled, and the fee stays with the retailer on a return."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from inventory.errors import InsufficientStock
from inventory.models import Location, Reservation, StockLevel
from inventory.services import location_save, stock_reserve_split, verify_ledger
from loyalty.services import verify as loyalty_verify
from orders import services
from orders.errors import IllegalTransition, ShipmentRequired
from orders.models import Cart, Order, Shipment
from pricing.errors import ShippingMethodUnknown
from reports.services import facts_verify
from returns.services import return_create
from tests.factories.customers import CustomerWithLoginFactory
from tests.factories.loyalty import LoyaltyRulesFactory
from tests.factories.orders import CARD
from tests.factories.pricing import ShippingRateFactory
from tests.factories.returns import returns_staff

pytestmark = pytest.mark.django_db

ADDRESS = {"street": "Main St 1", "postal_code": "10115", "city": "Berlin"}


def _ledgers_agree():
    assert verify_ledger() == []
    assert loyalty_verify() == []
    assert facts_verify() == []


def _store_ships(shop):
    store = Location.objects.get(pk=shop.store.pk)
    store.ships_online = True
    return location_save(location=store)


def _deliver(customer, *skus, shipping_method=None):
    cart = services.cart_get_current(customer=customer, channel="web")
    for sku in skus:
        services.cart_line_add(cart=cart, sku=sku, quantity=1)
    fulfilment = {"type": "delivery", "address": ADDRESS}
    if shipping_method:
        fulfilment["shipping_method"] = shipping_method
    return services.checkout_place(
        cart=cart, customer=customer, fulfilment=fulfilment, payment=CARD
    )


def test_a_delivery_one_location_can_fill_is_one_shipment_shipped_as_before(shop):
    _store_ships(shop)
    shirt = shop.sku(store=0, warehouse=2)
    order = _deliver(CustomerWithLoginFactory(), shirt.sku)
    (parcel,) = Shipment.objects.filter(order=order)
    assert parcel.location == order.location == shop.warehouse
    assert order.shipping_total == Decimal("0") and order.total == Decimal("10.00")
    # The whole-order call ships its only shipment: no shipment id is needed.
    services.shipment_ship(order=order, carrier="DHL", tracking_number="1")
    parcel.refresh_from_db()
    assert (Order.objects.get(pk=order.pk).status, parcel.carrier) == ("shipped", "DHL")
    assert parcel.shipped_at is not None
    services.shipment_deliver(order=order)
    assert Order.objects.get(pk=order.pk).status == "delivered"
    _ledgers_agree()


def test_a_split_delivery_reserves_each_line_at_its_own_location_and_charges_one_fee(shop):
    ShippingRateFactory()
    _store_ships(shop)
    coat = shop.sku(price="30.00", store=1, warehouse=0)
    boots = shop.sku(price="20.00", store=0, warehouse=1)
    order = _deliver(CustomerWithLoginFactory(), coat.sku, boots.sku)
    parcels = {p.location_id: p for p in Shipment.objects.filter(order=order)}
    assert set(parcels) == {shop.store.pk, shop.warehouse.pk}
    assert {line.sku: line.shipment.location_id for line in order.lines.all()} == {
        coat.sku: shop.store.pk,
        boots.sku: shop.warehouse.pk,
    }
    held = Reservation.objects.filter(reference=order.reference, status="open")
    assert sorted((r.level.location_id, r.level.variant_id) for r in held) == sorted(
        [(shop.store.pk, coat.pk), (shop.warehouse.pk, boots.pk)]
    )
    # One fee for the order, however many parcels: 4.95 on 50.00 of goods.
    assert (order.shipping_method, order.shipping_total) == ("standard", Decimal("4.95"))
    assert order.total == Decimal("54.95") == order.amount_due
    with pytest.raises(ShipmentRequired):
        services.shipment_ship(order=order)
    _ledgers_agree()


def test_a_partly_shipped_delivery_is_escalated_but_never_cancelled_by_the_deadline(shop):
    _store_ships(shop)
    coat = shop.sku(store=1, warehouse=0)
    boots = shop.sku(store=0, warehouse=1)
    order = _deliver(CustomerWithLoginFactory(), coat.sku, boots.sku)
    store_parcel = Shipment.objects.get(order=order, location=shop.store)
    services.shipment_ship(order=order, shipment_id=store_parcel.pk)
    later = timezone.now() + timedelta(days=30)
    run = services.orders_enforce_prepare_deadlines(at=later)
    assert (run.escalated, run.cancelled) == (1, 0)
    order.refresh_from_db()
    assert order.status == "placed" and order.escalated_at is not None
    with pytest.raises(IllegalTransition) as refused:
        services.order_transition(order=order, target="cancelled", actor="staff")
    assert refused.value.details["reason"] == "partly_shipped"
    # The rest still ships, and the order with it.
    services.shipment_ship(order=order)
    assert Order.objects.get(pk=order.pk).status == "shipped"
    _ledgers_agree()


def test_cancelling_a_split_delivery_before_it_ships_releases_every_location(shop):
    _store_ships(shop)
    coat = shop.sku(store=1, warehouse=0)
    boots = shop.sku(store=0, warehouse=1)
    customer = CustomerWithLoginFactory()
    order = _deliver(customer, coat.sku, boots.sku)
    services.order_cancel_by_customer(order=order, user=customer.user)
    levels = StockLevel.objects.filter(variant__in=[coat, boots])
    assert all(level.reserved == 0 for level in levels)
    _ledgers_agree()


def test_a_full_return_refunds_the_goods_and_keeps_the_delivery_fee(shop):
    LoyaltyRulesFactory()
    ShippingRateFactory()
    shirt = shop.sku(price="20.00", store=0, warehouse=2)
    customer = CustomerWithLoginFactory()
    order = _deliver(customer, shirt.sku)
    services.shipment_ship(order=order)
    services.shipment_deliver(order=order)
    assert order.total == Decimal("24.95")
    done = return_create(
        order=order,
        location=shop.store,
        reason="changed_mind",
        lines=[{"sku": shirt.sku, "quantity": 1}],
        user=returns_staff(shop.store),
    )
    assert done.refund_amount == Decimal("20.00")  # what the goods cost; the fee stays
    assert Order.objects.get(pk=order.pk).status == "returned"
    _ledgers_agree()


def test_the_cart_refuses_a_delivery_method_no_active_rate_has(shop):
    ShippingRateFactory()
    cart = services.cart_get_current(customer=CustomerWithLoginFactory(), channel="web")
    with pytest.raises(ShippingMethodUnknown):
        services.cart_update(cart=cart, shipping_method="pigeon")
    services.cart_update(cart=cart, shipping_method="STANDARD", delivery_address=ADDRESS)
    cart = Cart.objects.get(pk=cart.pk)
    assert (cart.shipping_method, cart.delivery_address) == ("standard", ADDRESS)


def test_a_split_reservation_lists_every_short_line_of_every_location_and_writes_nothing(shop):
    coat = shop.sku(store=1, warehouse=0)
    boots = shop.sku(store=0, warehouse=1)
    with pytest.raises(InsufficientStock) as refused:
        stock_reserve_split(
            reference="order:SHORT",
            shipments={shop.store.pk: {coat.pk: 2}, shop.warehouse.pk: {boots.pk: 3}},
        )
    short = {(line["location"], line["sku"]) for line in refused.value.details["lines"]}
    assert short == {(shop.store.code, coat.sku), (shop.warehouse.code, boots.sku)}
    assert not Reservation.objects.filter(reference="order:SHORT").exists()


def test_erasing_a_customer_blanks_the_delivery_address_their_cart_kept(shop):
    from customers.services import customer_erase

    customer = CustomerWithLoginFactory()
    cart = services.cart_get_current(customer=customer, channel="web")
    services.cart_update(cart=cart, fulfilment_type="delivery", delivery_address=ADDRESS)
    customer_erase(customer=customer)
    assert Cart.objects.get(pk=cart.pk).delivery_address == {}
