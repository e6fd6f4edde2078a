"""The orders list's search: an order number (or its start) or the customer, through
indexed lookups, counted once, within the user's stores."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories.customers import CustomerWithLoginFactory
from tests.orders.test_admin_order_page import _pickup, _stocked
from tests.staff import conftest as staff_fixtures

pytestmark = pytest.mark.django_db

member = staff_fixtures.member

ORDERS = "/admin/orders/order/"


@pytest.fixture
def orders(shop):
    beans = _stocked(shop, "Espresso beans", "250 g")
    anna = CustomerWithLoginFactory(first_name="Anna", last_name="Schmidt", phone="+4915123456789")
    bernd = CustomerWithLoginFactory(first_name="Bernd", last_name="Vogel")
    return {
        "anna": _pickup(shop, [(beans, 1)], customer=anna),
        "anna_hamburg": _pickup(shop, [(beans, 1)], customer=anna, store=shop.other_store),
        "bernd": _pickup(shop, [(beans, 1)], customer=bernd),
    }


def _found(browser, term: str) -> set[str]:
    response = browser.get(ORDERS, {"q": term})
    assert response.status_code == 200
    return {o.number for o in response.context["cl"].result_list}


def test_the_orders_list_finds_a_number_its_beginning_or_a_scanned_payload(shop, member, orders):
    browser = member("head_office")
    number = orders["bernd"].number
    assert _found(browser, number) == {number}
    assert _found(browser, number[:5].lower()) >= {number}
    assert _found(browser, f"order:{number}") == {number}
    assert _found(browser, "ZZZZZZZZ") == set()


def test_the_orders_list_finds_the_customer_by_name_phone_or_email(shop, member, orders):
    browser = member("head_office")
    annas = {orders["anna"].number, orders["anna_hamburg"].number}
    assert _found(browser, "Schmidt Anna") == annas
    assert _found(browser, "0151 2345 6789") == annas
    assert _found(browser, orders["anna"].customer.email.upper()) == annas
    assert _found(browser, "vogel") == {orders["bernd"].number}


def test_a_store_member_finds_only_orders_of_their_stores(shop, member, orders):
    associate = member("store_associate", shop.store)
    assert _found(associate, "Anna Schmidt") == {orders["anna"].number}
    assert _found(associate, orders["anna_hamburg"].number) == set()


def test_a_searched_orders_list_is_counted_once(shop, member, orders):
    browser = member("head_office")
    browser.get(ORDERS, {"q": "Schmidt"})  # warm caches

    with CaptureQueriesContext(connection) as captured:
        assert len(_found(browser, "Schmidt")) == 2

    counts = [q["sql"] for q in captured if "COUNT(" in q["sql"].upper()]
    assert len(counts) == 1, counts


def test_the_store_filter_offers_the_users_stores_and_filters_by_one(shop, member, orders):
    associate = member("store_associate", shop.store)
    head_office = member("head_office")

    def offered(browser) -> set[str]:
        page = browser.get(ORDERS)
        spec = next(s for s in page.context["cl"].filter_specs if str(s.title) == "location")
        return {c["display"] for c in spec.choices(page.context["cl"])} - {"All"}

    assert offered(associate) == {str(shop.store)}
    assert {str(shop.store), str(shop.other_store)} <= offered(head_office)
    hamburg = head_office.get(ORDERS, {"location__id__exact": shop.other_store.pk})
    assert {o.number for o in hamburg.context["cl"].result_list} == {orders["anna_hamburg"].number}
    assert (
        list(head_office.get(ORDERS, {"location__id__exact": "x"}).context["cl"].result_list) == []
    )


def test_the_orders_list_filters_by_a_date_range_of_placed_at(shop, member, orders):
    from datetime import timedelta

    from django.utils import timezone

    browser = member("head_office")
    since = (timezone.now() - timedelta(days=1)).isoformat()
    later = (timezone.now() + timedelta(days=1)).isoformat()

    assert len(browser.get(ORDERS, {"placed_at__gte": since}).context["cl"].result_list) == 3
    assert list(browser.get(ORDERS, {"placed_at__gte": later}).context["cl"].result_list) == []


@pytest.mark.postgres
def test_head_offices_unfiltered_list_of_a_big_table_is_counted_by_the_estimate(
    shop, member, orders, monkeypatch
):
    from core.admin import EstimatedCountPaginator

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE orders_order")
    monkeypatch.setattr(EstimatedCountPaginator, "ESTIMATE_ABOVE", 1)  # 3 orders are "big"
    browser = member("head_office")

    with CaptureQueriesContext(connection) as captured:
        response = browser.get(ORDERS)
    assert response.status_code == 200
    assert not [q["sql"] for q in captured if "COUNT(" in q["sql"].upper()]
    assert response.context["cl"].result_count == 3  # the planner's estimate, exact here

    # A store's list (filtered) is counted exactly.
    with CaptureQueriesContext(connection) as captured:
        member("store_manager", shop.store).get(ORDERS)
    assert [q["sql"] for q in captured if "COUNT(" in q["sql"].upper()]


def test_a_small_unfiltered_list_is_counted_exactly(shop, member, orders):
    with CaptureQueriesContext(connection) as captured:
        response = member("head_office").get(ORDERS)
    assert response.context["cl"].result_count == 3
    assert [q["sql"] for q in captured if "COUNT(" in q["sql"].upper()]
