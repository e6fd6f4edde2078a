"""`core.db.insert_many` writes exactly what the ORM's bulk_create writes (SQL equals ORM)."""

from decimal import Decimal

import pytest
from django.forms.models import model_to_dict

from core.db import insert_many
from orders.models import OrderLine, Tender
from orders.services import PaymentInput, cart_get_current, cart_line_add, checkout_place
from tests.factories.customers import CustomerWithLoginFactory
from tests.factories.orders import make_shop

pytestmark = pytest.mark.django_db


@pytest.fixture
def order(db):
    shop = make_shop()
    customer = CustomerWithLoginFactory()
    cart = cart_get_current(customer=customer, channel="web")
    cart_line_add(cart=cart, sku=shop.sku(store=5).sku, quantity=1)
    return checkout_place(
        cart=cart,
        customer=customer,
        fulfilment={"type": "pickup", "location": shop.store.code},
        payment=PaymentInput(provider="test", token="tok_ok"),
    )


def _line(order, sku):
    return OrderLine(
        order=order,
        variant_id=OrderLine.objects.filter(order=order).first().variant_id,
        sku=sku,
        name="Wool socks «Nord», 43–46",
        quantity=3,
        unit_price=Decimal("4.99"),
        discount_total=Decimal("0.50"),
        line_total=Decimal("14.47"),
        vat_rate=Decimal("19.00"),
        vat_amount=Decimal("2.31"),
        discounts=[{"kind": "till", "amount": "0.50", "note": 'quote " and \\ slash'}],
    )


def test_rows_inserted_in_bulk_read_back_as_the_orms_rows(order):
    OrderLine.objects.bulk_create([_line(order, "ORM")])
    insert_many(OrderLine, [_line(order, "BULK")])
    orm, bulk = (model_to_dict(OrderLine.objects.get(sku=sku)) for sku in ("ORM", "BULK"))
    for row in (orm, bulk):
        row.pop("id"), row.pop("sku")
    assert orm == bulk


def test_auto_now_add_times_are_filled(order):
    tender = Tender(order=order, kind="cash", amount=Decimal("1.00"), currency="EUR")
    insert_many(Tender, [tender])
    stored = Tender.objects.get(order=order, kind="cash")
    assert stored.created_at is not None


def test_new_ids_are_set_by_a_unique_key(order):
    from orders.models import Order

    copies = []
    for number in ("COPYAAAA", "COPYBBBB"):
        copy = Order.objects.get(pk=order.pk)
        copy.pk, copy.number = None, number
        copies.append(copy)
    insert_many(Order, copies, key="number")
    assert [c.pk for c in copies] == [
        Order.objects.get(number=n).pk for n in ("COPYAAAA", "COPYBBBB")
    ]
