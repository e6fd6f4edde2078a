"""`core.db.insert_many` writes exactly what the ORM's bulk_create writes (SQL equals ORM)."""

import uuid
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import DataError, connection, transaction
from django.forms.models import model_to_dict

from core.db import insert_many
from inventory.models import StockLevel, StockMovement
from orders.models import Order, OrderLine, Tender
from orders.services import PaymentInput, cart_get_current, cart_line_add, checkout_place
from reports.models import OrderDay
from tests.factories.customers import CustomerWithLoginFactory
from tests.factories.orders import make_shop

pytestmark = pytest.mark.django_db

# Text that quoting gets wrong first: quotes, backslashes, escapes, line breaks, non-ASCII
# (two-byte, three-byte, four-byte, and the line separators JSON and JavaScript disagree on).
AWKWARD = "Wool socks «Nord», 43–46 \"quoted\" 'single' \\ \\n \\u0041 \n\t€ 🧦 \u2028\u2029"


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


def _line(order, sku, **values):
    return OrderLine(
        **{
            "order": order,
            "variant_id": OrderLine.objects.filter(order=order).first().variant_id,
            "sku": sku,
            "name": AWKWARD,
            "quantity": 3,
            "unit_price": Decimal("4.99"),
            "discount_total": Decimal("0.50"),
            "line_total": Decimal("14.47"),
            "vat_rate": Decimal("19.00"),
            "vat_amount": Decimal("2.31"),
            "discounts": [{"kind": "till", "amount": "0.50", "note": AWKWARD}],
            **values,
        }
    )


def _rows(model, *, differing: str, values: list[str]) -> list[dict]:
    """The stored rows whose `differing` field is one of `values`, in that order, without
    their ids and that field."""
    stored = model.objects.filter(**{f"{differing}__in": values})
    rows = {getattr(obj, differing): model_to_dict(obj) for obj in stored}
    for row in rows.values():
        row.pop("id"), row.pop(differing)
    return [rows[value] for value in values]


def test_rows_inserted_in_bulk_read_back_as_the_orms_rows(order):
    OrderLine.objects.bulk_create([_line(order, "ORM")])
    insert_many(OrderLine, [_line(order, "BULK")])
    orm, bulk = _rows(OrderLine, differing="sku", values=["ORM", "BULK"])
    assert orm == bulk


@pytest.mark.parametrize(
    "discounts",
    [
        [],
        {},
        AWKWARD,
        "",
        0,
        0.1,
        True,
        [1, 2.5, None, False, "x", [AWKWARD], {"k": AWKWARD}],
        {"nested": {"deep": [None, {"ü": "\\"}]}, AWKWARD: 1},
        [2**70, -(2**64)],  # beyond orjson's integers: the json module writes them
    ],
)
def test_a_json_field_of_any_shape_is_stored_as_the_orm_stores_it(order, discounts):
    skus = ["ORM-1", "ORM-2", "BULK-1", "BULK-2"]  # two rows: the ORM's UNNEST path too
    OrderLine.objects.bulk_create([_line(order, sku, discounts=discounts) for sku in skus[:2]])
    insert_many(OrderLine, [_line(order, sku, discounts=discounts) for sku in skus[2:]])
    orm_1, orm_2, bulk_1, bulk_2 = _rows(OrderLine, differing="sku", values=skus)
    assert [bulk_1, bulk_2] == [orm_1, orm_2]
    assert bulk_1["discounts"] == discounts


def test_an_order_inserted_by_its_number_reads_back_as_the_orms(order):
    """Every kind of column an order has: a UUID, booleans, empty foreign keys, a time in a
    zone other than UTC (to the microsecond), amounts to be rounded, JSON with awkward text."""
    berlin = datetime(2024, 3, 31, 3, 30, 15, 123456, tzinfo=ZoneInfo("Europe/Berlin"))
    copies = []
    for number in ("ORMCOPY1", "BULKCOPY"):
        copy = Order.objects.get(pk=order.pk)
        copy.pk, copy.number = None, number
        copy.till_sale = uuid.uuid4()
        copy.customer_id, copy.store_id, copy.cart_id = None, None, None
        copy.needs_attention, copy.attention_note = True, AWKWARD[:255]
        copy.placed_at = copy.pickup_expires_at = berlin
        copy.ready_from = None
        copy.points_value = Decimal("0.005")  # rounded to the column's scale: 0.01
        copy.delivery_address = {"street": AWKWARD, "lines": [AWKWARD, None, 1.5]}
        copies.append(copy)
    Order.objects.bulk_create(copies[:1])
    insert_many(Order, copies[1:], key="number")
    orm, bulk = _rows(Order, differing="number", values=["ORMCOPY1", "BULKCOPY"])
    assert (orm.pop("till_sale"), bulk.pop("till_sale")) == tuple(c.till_sale for c in copies)
    assert orm == bulk
    assert Order.objects.get(number="BULKCOPY").pk == copies[1].pk


def test_movements_read_back_as_the_orms(order):
    level = StockLevel.objects.first()
    moved = [
        StockMovement(
            level=level,
            kind="sale",
            quantity=quantity,
            on_hand_delta=-quantity,
            on_hand_after=-2_147_483_648,
            reserved_after=2_147_483_647,
            reason=AWKWARD,
            reference=reference,
            created_at=datetime(2024, 12, 31, 23, 59, 59, 999999, tzinfo=ZoneInfo("Asia/Tokyo")),
        )
        for quantity, reference in ((1, "ORM-1"), (2, "ORM-2"), (1, "BULK-1"), (2, "BULK-2"))
    ]
    StockMovement.objects.bulk_create(moved[:2])
    insert_many(StockMovement, moved[2:])
    rows = _rows(
        StockMovement, differing="reference", values=["ORM-1", "ORM-2", "BULK-1", "BULK-2"]
    )
    assert rows[2:] == rows[:2]


def test_day_rows_read_back_as_the_orms(order):
    day = {"location": order.location, "fulfilment": "pickup", "outcome": "open", "orders": -1}
    money = {
        "revenue": Decimal("-10.00"),
        "discounts": Decimal("0"),
        "points_cost": Decimal("1E+1"),
    }
    days = [
        OrderDay(day=date(2024, 2, 29), channel=channel, units=-3, points=0, **day, **money)
        for channel in ("orm", "bulk")
    ]
    OrderDay.objects.bulk_create(days[:1])
    insert_many(OrderDay, days[1:])
    assert _rows(OrderDay, differing="channel", values=["orm"]) == _rows(
        OrderDay, differing="channel", values=["bulk"]
    )


@pytest.mark.postgres
def test_a_json_field_holding_none_is_stored_as_json_null(order):
    # As insert_many always has (the value's JSON, `null`); the ORM would store SQL NULL,
    # refused by this column (and by SQLite's, where insert_many is bulk_create).
    insert_many(OrderLine, [_line(order, "NONE", discounts=None)])
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT discounts IS NULL, jsonb_typeof(discounts) FROM orders_orderline"
            " WHERE sku = 'NONE'"
        )
        assert cursor.fetchall() == [(False, "null")]


@pytest.mark.postgres
@pytest.mark.parametrize("too_big", [2**31, 2**70])  # 2**70: past orjson's integers too
def test_an_integer_out_of_its_columns_range_is_refused_and_nothing_is_written(order, too_big):
    level = StockLevel.objects.first()
    movements = [
        StockMovement(
            level=level, kind="sale", quantity=quantity, on_hand_after=0, reserved_after=0
        )
        for quantity in (1, too_big)
    ]
    with pytest.raises(DataError), transaction.atomic():
        insert_many(StockMovement, movements)
    assert not StockMovement.objects.filter(kind="sale", level=level).exists()


@pytest.mark.postgres
def test_a_string_longer_than_its_column_is_refused_not_cut_and_nothing_is_written(order):
    lines = [_line(order, "FITS"), _line(order, "X" * 65)]  # sku: varchar(64)
    with pytest.raises(DataError), transaction.atomic():
        insert_many(OrderLine, lines)
    assert not OrderLine.objects.filter(sku__in=["FITS", "X" * 64]).exists()


def test_auto_now_add_times_are_filled(order):
    tender = Tender(order=order, kind="cash", amount=Decimal("1.00"), currency="EUR")
    insert_many(Tender, [tender])
    stored = Tender.objects.get(order=order, kind="cash")
    assert stored.created_at is not None


def test_new_ids_are_set_by_a_unique_key(order):
    copies = []
    for number in ("COPYAAAA", "COPYBBBB"):
        copy = Order.objects.get(pk=order.pk)
        copy.pk, copy.number = None, number
        copies.append(copy)
    insert_many(Order, copies, key="number")
    assert [c.pk for c in copies] == [
        Order.objects.get(number=n).pk for n in ("COPYAAAA", "COPYBBBB")
    ]


@pytest.mark.postgres
def test_a_statement_sent_before_a_keyed_insert_shares_its_round_trip(order):
    """`before`: a write sent as a CTE of the insert — one statement, both done."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    line = _line(order, "BEFORE")
    with CaptureQueriesContext(connection) as ctx:
        insert_many(
            OrderLine,
            [line],
            key="sku",
            before=('UPDATE "orders_order" SET coupon_code = %s WHERE id = %s', ["BF", order.pk]),
        )
    assert len(ctx.captured_queries) == 1
    assert line.pk is not None and OrderLine.objects.get(pk=line.pk).sku == "BEFORE"
    order.refresh_from_db()
    assert order.coupon_code == "BF"


def test_before_goes_only_with_a_keyed_insert(order):
    with pytest.raises(ValueError):
        insert_many(OrderLine, [_line(order, "X")], before=("SELECT 1", []))
