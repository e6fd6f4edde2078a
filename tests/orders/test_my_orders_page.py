"""`me/orders/`: the customer's own orders, newest first, read in index order."""

import pytest
from django.db import connection, transaction

from orders import selectors, services
from tests.factories.customers import CustomerWithLoginFactory
from tests.factories.orders import CARD

pytestmark = pytest.mark.django_db


def _place(customer, shop) -> str:
    cart = services.cart_get_current(customer=customer, channel="web")
    services.cart_line_add(cart=cart, sku=shop.sku(store=5).sku, quantity=1)
    fulfilment = {"type": "pickup", "location": shop.store.code}
    return services.checkout_place(
        cart=cart, customer=customer, fulfilment=fulfilment, payment=CARD
    ).number


def test_my_orders_lists_only_mine_newest_first_a_page_at_a_time(customer, customer_client, shop):
    mine = [_place(customer, shop) for _ in range(3)]
    _place(CustomerWithLoginFactory(), shop)

    first = customer_client.get("/api/v1/me/orders/", {"page_size": 2}).json()
    second = customer_client.get(first["next"]).json()

    numbers = [o["number"] for o in first["results"] + second["results"]]
    assert numbers == list(reversed(mine))
    assert second["next"] is None


@pytest.mark.postgres
def test_my_orders_page_is_read_through_the_customer_and_id_index(customer, shop):
    _place(customer, shop)
    page = selectors.orders_for_customer(customer=customer)[:21]
    sql, params = page.query.sql_with_params()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table is cheaper read whole
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "Index Scan Backward using order_customer_id_idx" in plan
    assert "Sort" not in plan
