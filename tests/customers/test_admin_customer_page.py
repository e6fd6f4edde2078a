"""The customer's admin page: everything about the person on one page, search, duplicates.

The orders, returns and points panels come from the apps above customers through the
CUSTOMER_ADMIN_PANELS hook (as the settings wire them). Query budgets:
the page and the changelists cost the same whatever the number of rows.
"""

import re
import uuid

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from customers.domain import duplicate_keys, duplicate_reasons
from customers.models import Customer
from customers.selectors import likely_duplicates
from customers.services import consent_set, customer_create
from loyalty.services import points_adjust
from orders import services as order_services
from pos import services as pos_services
from returns.services import return_create
from tests.factories.customers import CustomerFactory, CustomerWithLoginFactory
from tests.factories.loyalty import LoyaltyRulesFactory
from tests.factories.orders import CARD
from tests.staff import conftest as staff_fixtures

member, shop, view_only = staff_fixtures.member, staff_fixtures.shop, staff_fixtures.view_only

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/customers/customer/"


def page_url(customer) -> str:
    return reverse("admin:customers_customer_change", args=[customer.pk])


def web_order(shop, customer, variant, *, channel="web", location=None):
    cart = order_services.cart_get_current(customer=customer, channel=channel)
    order_services.cart_line_add(cart=cart, sku=variant.sku, quantity=1)
    return order_services.checkout_place(
        cart=cart,
        customer=customer,
        fulfilment={"type": "pickup", "location": (location or shop.store).code},
        payment=CARD,
    )


def till_order(shop, customer, variant, *, terminal=None):
    terminal = (
        terminal
        or pos_services.terminal_register(code=f"T-{uuid.uuid4().hex[:6]}", location=shop.store)[0]
    )
    sale_id = uuid.uuid4()
    pos_services.sales_sync(
        terminal=terminal,
        sales=[
            {
                "id": str(sale_id),
                "occurred_at": timezone.now().isoformat(),
                "lines": [{"sku": variant.sku, "quantity": 1, "unit_price": "1.00"}],
                "tenders": [{"kind": "cash", "amount": "1.00"}],
                "customer": {"id": customer.pk},
            }
        ],
    )
    return customer.orders.get(till_sale=sale_id)


def found(browser, term: str) -> set[int]:
    response = browser.get(CHANGELIST, {"q": term})
    assert response.status_code == 200
    return {c.pk for c in response.context["cl"].result_list}


# --- search ---------------------------------------------------------------------------


def test_search_finds_a_full_name_whatever_the_order_of_its_words(member, shop):
    anna = customer_create(first_name="Anna", last_name="Schmidt", phone="+4915111111111")
    maria = customer_create(first_name="Anna Maria", last_name="Schmidt", email="am@example.com")
    customer_create(first_name="Anna", last_name="Meyer", phone="+4915122222222")
    customer_create(first_name="Bernd", last_name="Schmidt", phone="+4915133333333")
    browser = member("store_associate", shop.store)
    assert found(browser, "Anna Schmidt") == {anna.pk, maria.pk}
    assert found(browser, "schmidt anna") == {anna.pk, maria.pk}
    assert found(browser, "Anna  Maria Schmidt") == {maria.pk}


@pytest.mark.parametrize(
    "typed",
    ["0151 2345 6789", "+49 151 23456789", "+4915123456789", "(0151) 23-45-67-89", "+49151234"],
)
def test_search_finds_a_phone_typed_in_any_format(member, shop, typed):
    wanted = customer_create(first_name="Jan", phone="+4915123456789")
    customer_create(first_name="Other", phone="+4915199999999")
    assert found(member("store_associate", shop.store), typed) == {wanted.pk}


def test_search_finds_an_email_and_a_card_number(member, shop):
    anna = customer_create(email="Anna.Schmidt@Example.com", card_number="2000 0000 0017")
    customer_create(email="ben@example.com", card_number="2000 0000 0024")
    browser = member("store_associate", shop.store)
    assert found(browser, "anna.schmidt@example.com") == {anna.pk}
    assert found(browser, "2000-0000-0017") == {anna.pk}


# --- likely duplicates ----------------------------------------------------------------


def keys(first="Anna", last="Schmidt", phone=None, email=None):
    return duplicate_keys(first_name=first, last_name=last, phone=phone, email=email)


def test_the_same_name_and_a_phone_ending_in_the_same_eight_digits_is_a_likely_duplicate():
    one = keys(phone="+4915123456789")
    assert duplicate_reasons(one, keys(first="anna", last=" SCHMIDT", phone="+4317123456789")) == [
        "full_name",
        "phone",
    ]
    assert duplicate_reasons(one, keys(phone="+4915123456788")) == []


def test_the_same_name_and_the_same_email_name_or_domain_is_a_likely_duplicate():
    one = keys(email="anna.schmidt@gmail.com")
    assert duplicate_reasons(one, keys(email="annaschmidt+shop@web.de")) == [
        "full_name",
        "email_name",
    ]
    assert duplicate_reasons(one, keys(email="a.s@gmail.com")) == ["full_name", "email_domain"]


def test_a_name_alone_or_a_contact_alone_is_not_a_likely_duplicate():
    assert duplicate_reasons(keys(phone="+4915100000001"), keys(phone="+4915100000002")) == []
    assert duplicate_reasons(keys(email="a@x.de"), keys(first="Bea", email="a@x.de")) == []
    assert duplicate_reasons(keys(first="", email="a@x.de"), keys(first="", email="a@x.de")) == []


def test_likely_duplicates_are_found_in_one_query_among_live_profiles(
    django_assert_num_queries,
):
    anna = customer_create(first_name="Anna", last_name="Schmidt", email="anna.schmidt@gmail.com")
    twin = customer_create(
        first_name="ANNA", last_name="schmidt", phone="+4915100000001", email="annaschmidt@web.de"
    )
    customer_create(first_name="Anna", last_name="Schmidt", email="other@web.de")
    customer_create(first_name="Anna", last_name="Schulz", email="anna.schmidt@yahoo.de")
    with django_assert_num_queries(1):
        result = likely_duplicates(customer=anna)
    assert [(c.pk, reasons) for c, reasons in result] == [(twin.pk, ["full_name", "email_name"])]


def test_the_page_lists_likely_duplicates_and_the_merge_button_opens_what_moves(member, shop):
    LoyaltyRulesFactory()
    variant = shop.sku(store=5)
    anna = customer_create(first_name="Anna", last_name="Schmidt", phone="+4915123456789")
    twin = customer_create(first_name="Anna", last_name="Schmidt", phone="+4317123456789")
    till_order(shop, twin, variant)
    points_adjust(customer=twin, points=40, reason="welcome", actor=None)
    manager = member("store_manager", shop.store)
    manager.user.user_permissions.add(Permission.objects.get(codename="change_customer"))

    page = manager.get(page_url(anna)).content.decode()
    assert 'id="panel-duplicates"' in page
    assert f"#{twin.pk} Anna Schmidt" in page
    assert "phone ends in the same digits" in page
    assert f'form="merge-{twin.pk}"' in page

    confirm = manager.post(
        CHANGELIST, {"action": "merge_customers", "_selected_action": [anna.pk, twin.pk]}
    )
    assert confirm.status_code == 200
    holdings = {c.pk: panels for c, panels in confirm.context["holdings"]}
    summary = {p["key"]: dict(p["summary"]) for p in holdings[twin.pk]}
    assert summary["orders"]["orders"] == 1
    assert summary["orders"]["till"] == 1
    assert summary["loyalty"]["balance, points"] == twin.loyalty_account.balance > 40
    assert {p["key"]: dict(p["summary"]) for p in holdings[anna.pk]}["orders"]["orders"] == 0


def test_a_view_only_associate_sees_the_duplicates_but_no_merge_button(member, shop):
    anna = customer_create(first_name="Anna", last_name="Schmidt", phone="+4915123456789")
    customer_create(first_name="Anna", last_name="Schmidt", phone="+4317123456789")
    page = member("store_associate", shop.store).get(page_url(anna)).content.decode()
    assert 'id="panel-duplicates"' in page
    assert 'form="merge-' not in page


# --- the page: orders of every channel, returns, points, timeline ------------------------


@pytest.fixture
def history(shop):
    """A registered customer with a web, an app and a till order, a return and points."""
    LoyaltyRulesFactory()
    variant = shop.sku(store=20, other=20)
    anna = CustomerWithLoginFactory(first_name="Anna", last_name="Schmidt")
    consent_set(customer=anna, channel="email", granted=True, source="web")
    web = web_order(shop, anna, variant)
    app = web_order(shop, anna, variant, channel="app", location=shop.other_store)
    till = till_order(shop, anna, variant)
    ret = return_create(
        order=till,
        location=shop.store,
        reason="changed_mind",
        lines=[{"sku": variant.sku, "quantity": 1}],
    )
    points_adjust(customer=anna, points=25, reason="welcome", actor=None)
    return {
        "customer": anna,
        "web": web,
        "app": app,
        "till": till,
        "return": ret,
        "variant": variant,
    }


def test_the_page_shows_orders_of_every_channel_returns_points_timeline_and_consents(
    member, shop, history
):
    anna = history["customer"]
    response = member("head_office").get(page_url(anna))
    assert response.status_code == 200
    panels = {p["key"]: p for p in response.context["panels"]}
    orders = panels["orders"]
    assert dict(orders["summary"]) == {"orders": 3, "web": 1, "app": 1, "till": 1}
    numbers = {row[0]["text"]: row[0]["url"] for row in orders["rows"]}
    for order in (history["web"], history["app"], history["till"]):
        assert numbers[order.number] == reverse("admin:orders_order_change", args=[order.pk])
    assert orders["more_url"].endswith(f"?customer__id__exact={anna.pk}")
    assert [row[0]["text"] for row in panels["returns"]["rows"]] == [history["return"].number]
    loyalty = panels["loyalty"]
    account = anna.loyalty_account
    assert dict(loyalty["summary"])["balance, points"] == account.balance
    assert loyalty["total"] == account.entries.count()
    assert loyalty["more_url"].endswith(f"?account__id__exact={account.pk}")
    assert response.context["consents"]["email"].granted is True
    kinds = {e["kind"] for e in response.context["timeline"]}
    assert {"order_placed", "return_completed", "loyalty_adjust", "consent_given"} <= kinds
    page = response.content.decode()
    assert history["app"].number in page and history["return"].number in page
    # The ledger link opens the account's entries only.
    ledger = member("head_office").get(loyalty["more_url"])
    assert ledger.status_code == 200
    assert {e.account_id for e in ledger.context["cl"].result_list} == {account.pk}


def test_a_store_member_sees_every_order_but_links_only_those_of_their_stores(
    member, shop, history
):
    response = member("store_associate", shop.store).get(page_url(history["customer"]))
    rows = {row[0]["text"]: row[0]["url"] for row in response.context["panels"][0]["rows"]}
    assert rows[history["web"].number] != ""
    assert rows[history["app"].number] == ""  # picked up in Hamburg: not their store
    assert rows[history["till"].number] != ""


def test_a_member_without_the_orders_permission_gets_no_orders_panel(view_only, shop, history):
    browser = view_only(shop.store)
    browser.user.user_permissions.remove(Permission.objects.get(codename="view_order"))
    response = browser.get(page_url(history["customer"]))
    assert response.status_code == 200
    assert "orders" not in {p["key"] for p in response.context["panels"]}


def _queries(browser, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert browser.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_the_customer_page_costs_the_same_with_more_orders_returns_and_points(
    member, shop, history
):
    browser = member("head_office")
    anna = history["customer"]
    before = _queries(browser, page_url(anna))
    variant = history["variant"]
    for _n in range(4):
        web_order(shop, anna, variant)
        points_adjust(customer=anna, points=5, reason="more", actor=None)
        consent_set(customer=anna, channel="sms", granted=_n % 2 == 0, source="web")
    assert _queries(browser, page_url(anna)) == before


def test_the_customers_list_costs_the_same_with_more_rows(member, shop):
    browser = member("store_associate", shop.store)
    CustomerWithLoginFactory()
    before = _queries(browser, CHANGELIST)
    CustomerWithLoginFactory.create_batch(5)
    CustomerFactory.create_batch(5)
    assert _queries(browser, CHANGELIST) == before
    assert _queries(browser, CHANGELIST + "?q=Anna+Schmidt") == _queries(
        browser, CHANGELIST + "?q=0151+2345"
    )


def test_the_loyalty_entries_list_costs_the_same_with_more_rows(member, shop):
    browser = member("store_associate", shop.store)
    url = reverse("admin:loyalty_loyaltyentry_changelist")
    points_adjust(customer=CustomerFactory(), points=5, reason="one", actor=None)
    before = _queries(browser, url)
    for customer in CustomerFactory.create_batch(6):
        points_adjust(customer=customer, points=5, reason="more", actor=None)
    assert _queries(browser, url) == before


def test_opening_the_page_writes_nothing(member, shop, history):
    browser = member("head_office")
    with CaptureQueriesContext(connection) as ctx:
        assert browser.get(page_url(history["customer"])).status_code == 200
    writes = [
        q["sql"]
        for q in ctx.captured_queries
        if re.match(r"\s*(INSERT|UPDATE|DELETE)", q["sql"], re.I)
    ]
    assert writes == []


def test_an_unknown_customer_page_is_not_a_server_error(member):
    response = member("head_office").get(reverse("admin:customers_customer_change", args=[999999]))
    assert response.status_code == 302
    assert not Customer.objects.filter(pk=999999).exists()
