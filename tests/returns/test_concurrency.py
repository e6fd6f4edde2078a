"""Returns racing each other and the sales of the same goods, on PostgreSQL.

Real threads, each with its own connection, released together by a barrier. Returns of
one order take the order's row lock first, so units are never returned twice: of eight
desks returning one unit each of a line of three, exactly three succeed and the refunds
add up to the line to the cent. A return, a till sale and a checkout touching the same
stock level and the same points account all lock in one order (the order row, then stock
levels, then the points account), so PostgreSQL never reports a deadlock and both ledgers
verify afterwards.
"""

import threading
import uuid
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.db import OperationalError, connection
from django.utils import timezone

from core.errors import DomainError
from inventory.models import StockLevel
from inventory.services import verify_ledger
from loyalty import selectors as loyalty_selectors
from loyalty import services as loyalty_services
from orders import services as order_services
from orders.models import Order, TestProviderCharge
from pricing.models import Promotion
from returns import services
from returns.models import RefundTender, Return
from tests.factories.customers import CustomerWithLoginFactory
from tests.factories.loyalty import LoyaltyRulesFactory
from tests.factories.orders import CARD, make_shop
from tests.factories.pricing import PromotionFactory
from tests.factories.returns import collected_order, returns_staff

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

D = Decimal


def outcome_of(call: Callable[[], object]) -> str:
    try:
        call()
        return "ok"
    except OperationalError as error:  # a deadlock or serialization failure surfaces here
        return f"db:{getattr(error.__cause__, 'sqlstate', '')}"
    except DomainError as error:
        return error.code


def run_together(calls: list[Callable[[], object]]) -> list[str]:
    """Run the calls in threads released at once; their outcomes in the calls' order."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[str] = [""] * len(calls)

    def worker(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            outcomes[i] = outcome_of(calls[i])
        except Exception as error:  # noqa: BLE001 - the test shows every outcome
            outcomes[i] = f"error:{type(error).__name__}:{error}"
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    return outcomes


def test_eight_desks_returning_one_unit_each_of_a_line_of_three_return_exactly_three():
    LoyaltyRulesFactory()
    shop = make_shop()
    customer = CustomerWithLoginFactory()
    mug = shop.sku(price="33.33", store=10)
    PromotionFactory(scope=Promotion.Scope.VARIANTS, value=D("10"), variants=[mug])
    order = collected_order(shop, customer, [(mug, 3)])
    assert (order.total, loyalty_selectors.balance_get(customer=customer)) == (D("89.99"), 89)
    desks = [shop.store, shop.other_store] * 4
    staff = {location.pk: returns_staff(location) for location in set(desks)}

    outcomes = run_together(
        [
            lambda location=location: services.return_create(
                order=order,
                location=location,
                reason="changed_mind",
                lines=[{"sku": mug.sku, "quantity": 1}],
                user=staff[location.pk],
            )
            for location in desks
        ]
    )

    assert sorted(outcomes) == ["ok"] * 3 + ["return_exceeds_purchase"] * 5, outcomes
    returns = Return.objects.filter(order=order)
    assert returns.count() == 3
    assert sum(r.value for r in returns) == D("89.99")
    assert sorted(r.value for r in returns) == [D("29.99"), D("30.00"), D("30.00")]
    assert sum(r.points_reversed for r in returns) == 89
    card = order.tenders.get(kind="card")
    assert TestProviderCharge.objects.get(reference=card.provider_reference).refunded == D("89.99")
    assert set(RefundTender.objects.values_list("status", flat=True)) == {"refunded"}
    order.refresh_from_db()
    assert order.status == "returned"
    assert loyalty_selectors.balance_get(customer=customer) == 0
    on_hand = sum(StockLevel.objects.filter(variant=mug).values_list("on_hand", flat=True))
    assert on_hand == 10 + 5 - 3 + 3  # store and warehouse, 3 sold, 3 back
    assert verify_ledger() == []
    assert loyalty_services.verify() == []


ROUNDS = 8


def _till_sale(shop, customer, variant):
    sale = order_services.TillSale(
        reference=f"pos:{uuid.uuid4()}",
        occurred_at=timezone.now(),
        cashier="anna",
        customer=customer,
        lines=(
            order_services.TillLine(
                variant_id=variant.pk,
                sku=variant.sku,
                name=variant.name,
                category_id=variant.product.category_id,
                quantity=1,
                unit_price=D("10.00"),
                discount=D("0.00"),
                vat_rate=D("20.00"),
            ),
        ),
        tenders=(order_services.TillTender(kind="cash", amount=D("10.00")),),
    )
    return lambda: order_services.till_sales_record(
        location=shop.store, sales=[sale], currency="EUR"
    )


def _checkout(shop, customer, variant):
    cart = order_services.cart_get_current(customer=customer, channel="app")
    order_services.cart_line_add(cart=cart, sku=variant.sku, quantity=1)
    return lambda: order_services.checkout_place(
        cart=cart,
        fulfilment={"type": "pickup", "location": shop.store.code},
        payment=CARD,
        customer=customer,
        redeem_points=10,
        user=customer.user,
    )


def test_a_return_a_till_sale_and_a_checkout_on_one_level_and_one_account_never_deadlock():
    LoyaltyRulesFactory()
    shop = make_shop()
    customer = CustomerWithLoginFactory()
    shirt = shop.sku(price="10.00", store=40)
    order = collected_order(shop, customer, [(shirt, ROUNDS)])  # 80 points
    other = collected_order(shop, customer, [(shirt, ROUNDS)])  # 80 more
    requested = collected_order(shop, customer, [(shirt, ROUNDS)])  # 80 more
    # Enough points that no redemption or reversal of a round ever runs short.
    collected_order(shop, customer, [(shop.sku(price="100.00"), 2)])  # 200 more
    staff = returns_staff(shop.store)

    def give_back(from_order):
        return lambda: services.return_create(
            order=from_order,
            location=shop.store,
            reason="changed_mind",
            lines=[{"sku": shirt.sku, "quantity": 1}],
            user=staff,
        )

    def complete(ret):
        return lambda: services.return_request_complete(ret=ret, user=staff)

    outcomes = []
    for _round in range(ROUNDS):
        ask = services.return_request(
            order=requested,
            customer=customer,
            location=shop.store,
            reason="wrong_size",
            lines=[{"sku": shirt.sku, "quantity": 1}],
        )
        outcomes += run_together(
            [
                give_back(order),
                give_back(other),  # a second order row, the same level and account
                complete(ask),  # a customer's request taken in at the same store
                _till_sale(shop, customer, shirt),
                _checkout(shop, customer, shirt),
            ]
        )

    assert outcomes == ["ok"] * 5 * ROUNDS, outcomes
    for returned in (order, other, requested):
        returned.refresh_from_db()
        assert returned.status == "returned"
    level = StockLevel.objects.get(variant=shirt, location=shop.store)
    # 40 in, 24 collected, 24 back, 8 sold at the till; 8 checkouts hold one each.
    assert (level.on_hand, level.reserved) == (40 - 24 + 24 - 8, ROUNDS)
    assert Order.objects.filter(channel="pos").count() == ROUNDS
    # 440 earned − 240 taken back + 8 × 10 earned at the till − 8 × 10 redeemed online.
    assert loyalty_selectors.balance_get(customer=customer) == 200
    assert Return.objects.filter(points_shortfall__gt=0).count() == 0
    assert verify_ledger() == []
    assert loyalty_services.verify() == []
