"""Returns at the till: a synced sale with negative lines gives goods of any order back at
the till's store — online orders and other stores' till sales alike — exactly once, and a
return the returns service refuses records nothing and never blocks the other sales."""

import threading
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from inventory.models import StockLevel, StockMovement
from inventory.services import verify_ledger
from loyalty.models import LoyaltyEntry
from loyalty.selectors import balance_get
from loyalty.services import verify
from orders.models import Order, Tender
from pos.models import PosSale
from returns.models import RefundTender, Return, ReturnLine
from tests.factories.customers import CustomerWithLoginFactory
from tests.factories.inventory import LocationFactory
from tests.factories.loyalty import LoyaltyRulesFactory
from tests.factories.orders import make_shop
from tests.factories.pos import make_terminal, terminal_client
from tests.factories.returns import collected_order

SYNC = "/api/v1/pos/sync/sales/"


@pytest.fixture
def rules(db):
    return LoyaltyRulesFactory()  # 1 point per EUR


@pytest.fixture
def customer(db):
    return CustomerWithLoginFactory()


def _till(location, code):
    terminal, token = make_terminal(location, code=code)
    return terminal, terminal_client(token)


def _at(minutes_ago: int = 1) -> str:
    return (timezone.now() - timedelta(minutes=minutes_ago)).isoformat()


def _return(original, lines, payouts, **extra):
    """A till sale giving back `lines` [(variant, quantity, unit price)] of `original`."""
    return {
        "id": str(uuid.uuid4()),
        "occurred_at": _at(),
        "cashier": "C7",
        "lines": [
            {
                "sku": variant.sku,
                "quantity": -quantity,
                "unit_price": price,
                "discount": "0.00",
                "original": original,
            }
            for variant, quantity, price in lines
        ],
        "tenders": [{"kind": kind, "amount": f"-{amount}"} for kind, amount in payouts],
    } | extra


def _sale(lines, tenders, **extra):
    """A plain till sale of `lines` [(variant, quantity, unit price)]."""
    return {
        "id": str(uuid.uuid4()),
        "occurred_at": _at(5),
        "cashier": "C1",
        "lines": [
            {"sku": v.sku, "quantity": q, "unit_price": p, "discount": "0.00"} for v, q, p in lines
        ],
        "tenders": [{"kind": kind, "amount": amount} for kind, amount in tenders],
    } | extra


def _push(client, sales):
    response = client.post(SYNC, {"sales": sales}, format="json")
    assert response.status_code == 200, response.content
    return {r["id"]: r for r in response.json()["results"]}


def _on_hand(variant, location) -> int:
    level = StockLevel.objects.filter(variant=variant, location=location).first()
    return level.on_hand if level else 0


def _consistent():
    assert verify_ledger() == []
    assert verify() == []


def _counts():
    return (
        Return.objects.count(),
        ReturnLine.objects.count(),
        RefundTender.objects.count(),
        StockMovement.objects.count(),
        LoyaltyEntry.objects.count(),
        PosSale.objects.count(),
        Order.objects.count(),
    )


@pytest.mark.django_db
def test_an_online_pickup_order_is_returned_at_a_till_of_another_store(shop, rules, customer):
    coat = shop.sku(price="100.00", store=5)
    socks = shop.sku(price="5.00", store=5)
    order = collected_order(shop, customer, [(coat, 1), (socks, 3)])
    assert balance_get(customer=customer) == 115
    terminal, till = _till(shop.other_store, "HAM-01-T1")
    sale = _return(order.number, [(socks, 2, "5.00")], [("cash", "10.00")])

    answer = _push(till, [sale])[sale["id"]]

    ret = Return.objects.get()
    assert answer == {
        "id": sale["id"],
        "status": "created",
        "order": order.number,
        "return": ret.number,
    }
    assert (ret.order_id, ret.location_id, ret.source, ret.terminal, ret.pos_sale) == (
        order.pk,
        shop.other_store.pk,
        "pos",
        "HAM-01-T1",
        uuid.UUID(sale["id"]),
    )
    assert (ret.reason, ret.status, ret.processed_by) == ("other", "completed", None)
    assert (ret.value, ret.refund_amount) == (Decimal("10.00"), Decimal("10.00"))
    assert list(ret.lines.values_list("sku", "quantity", "condition")) == [
        (socks.sku, 2, "resaleable")
    ]
    # Paid out in cash by the till, done on the spot (not through the card provider).
    assert list(ret.refunds.values_list("kind", "amount", "provider", "status")) == [
        ("cash", Decimal("10.00"), "till", "refunded")
    ]
    # Back on hand at the till's store, not at the store that sold them.
    assert _on_hand(socks, shop.other_store) == 1 + 1
    assert _on_hand(socks, shop.store) == 5 - 3
    movement = StockMovement.objects.get(kind="return", level__location=shop.other_store)
    assert (movement.quantity, movement.reference) == (2, ret.reference)
    assert ret.points_reversed == 10
    assert balance_get(customer=customer) == 105
    order.refresh_from_db()
    assert order.status == "partially_returned"
    assert PosSale.objects.get(id=sale["id"]).order_number == order.number
    _consistent()


@pytest.mark.django_db
def test_a_till_sale_is_returned_at_a_till_of_another_store_by_its_uuid(shop, rules, customer):
    shirt = shop.sku(price="20.00", store=5)
    _seller, berlin = _till(shop.store, "BER-T1")
    terminal, hamburg = _till(shop.other_store, "HAM-T1")
    bought = _sale([(shirt, 3, "20.00")], [("card", "60.00")], customer={"phone": customer.phone})
    number = _push(berlin, [bought])[bought["id"]]["order"]
    assert balance_get(customer=customer) == 60
    sale = _return(bought["id"], [(shirt, 1, "20.00")], [("cash", "20.00")], reason="wrong_size")
    sale["lines"][0]["condition"] = "damaged"

    answer = _push(hamburg, [sale])[sale["id"]]

    ret = Return.objects.get()
    assert answer == {"id": sale["id"], "status": "created", "order": number, "return": ret.number}
    assert (ret.order.number, ret.reason, ret.refund_amount) == (
        number,
        "wrong_size",
        Decimal("20.00"),
    )
    # A damaged unit comes back and is written off at once: nothing more to sell.
    assert _on_hand(shirt, shop.other_store) == 0
    assert sorted(
        StockMovement.objects.filter(level__location=shop.other_store).values_list(
            "kind", "quantity"
        )
    ) == [("return", 1), ("write_off", 1)]
    assert _on_hand(shirt, shop.store) == 2
    assert balance_get(customer=customer) == 40
    assert Order.objects.get(number=number).status == "partially_returned"
    _consistent()


@pytest.mark.django_db
def test_a_replayed_return_answers_duplicate_and_records_nothing_again(shop, rules, customer):
    socks = shop.sku(price="5.00", store=5)
    order = collected_order(shop, customer, [(socks, 3)])
    terminal, till = _till(shop.other_store, "HAM-T1")
    sale = _return(order.number, [(socks, 1, "5.00")], [("cash", "5.00")])
    first = _push(till, [sale])[sale["id"]]
    before = _counts()
    balance = balance_get(customer=customer)

    for _ in range(2):
        again = _push(till, [sale])[sale["id"]]
        assert again == first | {"status": "duplicate"}

    assert first["status"] == "created" and first["return"].startswith("R-")
    assert _counts() == before
    assert balance_get(customer=customer) == balance == 3 * 5 - 5
    assert _on_hand(socks, shop.other_store) == 1
    _consistent()


@pytest.mark.django_db
def test_a_return_synced_by_another_till_is_refused_as_a_terminal_mismatch(shop, customer):
    socks = shop.sku(price="5.00", store=5)
    order = collected_order(shop, customer, [(socks, 3)])
    _terminal, till = _till(shop.other_store, "HAM-T1")
    _other, other_till = _till(shop.other_store, "HAM-T2")
    sale = _return(order.number, [(socks, 1, "5.00")], [("cash", "5.00")])
    _push(till, [sale])

    answer = _push(other_till, [sale])[sale["id"]]

    assert (answer["status"], answer["reason"]) == ("rejected", "terminal_mismatch")
    assert Return.objects.count() == 1


@pytest.mark.django_db
def test_an_over_return_is_rejected_with_nothing_changed_and_the_rest_of_the_batch_recorded(
    shop, rules, customer
):
    socks = shop.sku(price="5.00", store=5, other=10)
    other = shop.sku(price="7.00", store=5)
    order = collected_order(shop, customer, [(socks, 3)])
    terminal, till = _till(shop.other_store, "HAM-T1")
    too_many = _return(order.number, [(socks, 4, "5.00")], [("cash", "20.00")])
    unknown = _return("NOSUCH01", [(socks, 1, "5.00")], [("cash", "5.00")])
    not_bought = _return(order.number, [(other, 1, "7.00")], [("cash", "7.00")])
    bad_condition = _return(order.number, [(socks, 1, "5.00")], [("cash", "5.00")])
    bad_condition["lines"][0]["condition"] = "stolen"
    bad_reason = _return(order.number, [(socks, 1, "5.00")], [("cash", "5.00")], reason="meh")
    good_sale = _sale([(socks, 1, "5.00")], [("cash", "5.00")])
    good_return = _return(order.number, [(socks, 1, "5.00")], [("cash", "5.00")])
    before = _counts()
    balance = balance_get(customer=customer)

    results = _push(
        till, [too_many, good_sale, unknown, not_bought, bad_condition, bad_reason, good_return]
    )

    assert results[too_many["id"]] == {
        "id": too_many["id"],
        "status": "rejected",
        "reason": "return_exceeds_purchase",
        "order": "",
    }
    assert results[unknown["id"]]["reason"] == "order_not_found"
    assert results[not_bought["id"]]["reason"] == "return_line_unknown"
    assert results[bad_condition["id"]]["reason"] == "invalid_return_lines"
    assert results[bad_reason["id"]]["reason"] == "invalid_reason"
    assert results[good_sale["id"]]["status"] == "created"
    assert results[good_return["id"]]["status"] == "created"
    # One return, one plain sale; nothing of the refused ones (no sale row either, so the
    # till may send them again once corrected).
    assert Return.objects.get().pos_sale == uuid.UUID(good_return["id"])
    refused = [too_many, unknown, not_bought, bad_condition, bad_reason]
    assert not PosSale.objects.filter(id__in=[sale["id"] for sale in refused]).exists()
    assert PosSale.objects.count() == before[5] + 2
    assert _on_hand(socks, shop.other_store) == 10 - 1 + 1
    assert balance_get(customer=customer) == balance - 5
    _consistent()


@pytest.mark.django_db
def test_a_return_of_an_order_not_yet_collected_is_rejected(shop, customer):
    from orders import services as order_services
    from tests.factories.orders import CARD, CartFactory

    socks = shop.sku(price="5.00", store=5)
    cart = CartFactory(customer=customer, channel="web")
    order_services.cart_line_add(cart=cart, sku=socks.sku, quantity=2)
    order = order_services.checkout_place(
        cart=cart,
        fulfilment={"type": "pickup", "location": shop.store.code},
        payment=CARD,
        customer=customer,
        contact={},
        user=customer.user,
    )
    _terminal, till = _till(shop.other_store, "HAM-T1")
    sale = _return(order.number, [(socks, 1, "5.00")], [("cash", "5.00")])
    before = _counts()

    answer = _push(till, [sale])[sale["id"]]

    assert (answer["status"], answer["reason"]) == ("rejected", "order_not_returnable")
    assert _counts() == before


@pytest.mark.django_db
def test_an_exchange_at_the_till_returns_the_old_goods_and_sells_the_new_ones(
    shop, rules, customer
):
    coat = shop.sku(price="100.00", store=5)
    scarf = shop.sku(price="30.00", store=0, other=4)
    order = collected_order(shop, customer, [(coat, 1)])
    assert balance_get(customer=customer) == 100
    terminal, till = _till(shop.other_store, "HAM-T1")
    # The coat (100.00) comes back, two scarves (60.00) go out, 40.00 paid out in cash.
    sale = _return(order.number, [(coat, 1, "100.00")], [("cash", "40.00")])
    sale["lines"].append(
        {"sku": scarf.sku, "quantity": 2, "unit_price": "30.00", "discount": "0.00"}
    )

    answer = _push(till, [sale])[sale["id"]]

    ret = Return.objects.get()
    new = Order.objects.get(till_sale=sale["id"])
    assert answer == {
        "id": sale["id"],
        "status": "created",
        "order": new.number,
        "return": ret.number,
    }
    assert (ret.reason, ret.value, ret.refund_amount) == (
        "exchange",
        Decimal("100.00"),
        Decimal("100.00"),
    )
    assert sorted(ret.refunds.values_list("kind", "amount")) == [
        ("cash", Decimal("40.00")),
        ("exchange", Decimal("60.00")),
    ]
    assert (new.channel, new.status, new.total, new.customer_id, new.location_id) == (
        "pos",
        "collected",
        Decimal("60.00"),
        customer.pk,
        shop.other_store.pk,
    )
    assert ret.exchange_order_id == new.pk  # the return names the sale that settled it
    assert list(Tender.objects.filter(order=new).values_list("kind", "amount")) == [
        ("exchange", Decimal("60.00"))
    ]
    assert _on_hand(coat, shop.other_store) == 1
    assert _on_hand(scarf, shop.other_store) == 4 - 2
    # The coat's 100 points go, the scarves earn 60.
    assert balance_get(customer=customer) == 60
    order.refresh_from_db()
    assert order.status == "returned"
    sale_row = PosSale.objects.get(id=sale["id"])
    assert (sale_row.order_number, sale_row.flags) == (new.number, {"return": ret.number})
    again = _push(till, [sale])[sale["id"]]
    assert again == answer | {"status": "duplicate"}
    _consistent()


def _base(variant, original="ORDER001"):
    return _return(original, [(variant, 1, "5.00")], [("cash", "5.00")])


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda s: s["lines"][0].pop("original"), id="no original"),
        pytest.param(lambda s: s["lines"][0].update(original="X" * 65), id="original too long"),
        pytest.param(
            lambda s: s["lines"].append(s["lines"][0] | {"original": "OTHER001"}),
            id="two originals",
        ),
        pytest.param(
            lambda s: s.update(tenders=[{"kind": "cash", "amount": "5.00"}]),
            id="tenders do not add up",
        ),
        pytest.param(
            lambda s: s.update(
                tenders=[{"kind": "cash", "amount": "-10.00"}, {"kind": "card", "amount": "5.00"}]
            ),
            id="a pure return takes money",
        ),
        pytest.param(
            lambda s: s.update(tenders=[{"kind": "points", "amount": "-5.00", "points": 50}]),
            id="points paid out",
        ),
        pytest.param(lambda s: s["lines"][0].update(quantity=0), id="zero quantity"),
    ],
)
def test_a_malformed_return_is_rejected_as_malformed(shop, change):
    socks = shop.sku(price="5.00", store=5)
    _terminal, till = _till(shop.other_store, "HAM-T1")
    sale = _base(socks)
    change(sale)
    assert _push(till, [sale])[sale["id"]]["reason"] == "malformed"


@pytest.mark.django_db
def test_money_paid_out_is_malformed_in_a_sale_without_returned_lines(shop):
    socks = shop.sku(price="5.00", store=5)
    _terminal, till = _till(shop.store, "BER-T1")
    sale = _sale([(socks, 1, "5.00")], [("cash", "10.00"), ("cash", "-5.00")])
    assert _push(till, [sale])[sale["id"]]["reason"] == "malformed"
    assert not PosSale.objects.exists()


@pytest.mark.django_db
def test_an_exchange_whose_payments_exceed_the_new_items_is_malformed(shop):
    socks = shop.sku(price="5.00", store=5)
    _terminal, till = _till(shop.other_store, "HAM-T1")
    # Returns 5.00 and sells 5.00, yet takes 10.00 by card for the new item (and pays 10.00
    # out): the card payment exceeds what the new item cost.
    sale = _return("ORDER001", [(socks, 1, "5.00")], [("cash", "10.00")])
    sale["lines"].append(
        {"sku": socks.sku, "quantity": 1, "unit_price": "5.00", "discount": "0.00"}
    )
    sale["tenders"].append({"kind": "card", "amount": "10.00"})
    assert _push(till, [sale])[sale["id"]]["reason"] == "malformed"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_tills_returning_more_than_was_bought_at_once_return_exactly_what_was_bought():
    LoyaltyRulesFactory()
    shop = make_shop()
    customer = CustomerWithLoginFactory()
    socks = shop.sku(price="5.00", store=5)
    coat = shop.sku(price="100.00", store=5)  # kept, so the order stays returnable
    munich = LocationFactory(code="MUC-01", name="Munich")
    order = collected_order(shop, customer, [(socks, 3), (coat, 1)])
    tills = [
        _till(shop.other_store, "HAM-T1")[1],
        _till(munich, "MUC-T1")[1],
    ]
    sales = [_return(order.number, [(socks, 3, "5.00")], [("cash", "15.00")]) for _ in tills]
    barrier = threading.Barrier(len(tills))
    answers: dict[str, dict] = {}
    lock = threading.Lock()

    def push(client, sale):
        try:
            barrier.wait()
            answer = _push(client, [sale])[sale["id"]]
            with lock:
                answers[sale["id"]] = answer
        finally:
            connection.close()

    threads = [
        threading.Thread(target=push, args=(client, sale))
        for client, sale in zip(tills, sales, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    outcomes = sorted((a["status"], a.get("reason", "")) for a in answers.values())
    assert outcomes == [("created", ""), ("rejected", "return_exceeds_purchase")]
    assert sum(ReturnLine.objects.values_list("quantity", flat=True)) == 3
    assert Return.objects.count() == PosSale.objects.count() == 1
    order.refresh_from_db()
    assert order.status == "partially_returned"
    assert balance_get(customer=customer) == 115 - 15
    assert _on_hand(socks, shop.other_store) + _on_hand(socks, munich) == 3
    _consistent()
