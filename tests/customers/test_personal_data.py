"""Personal data: staff export everything held about a customer and erase it on request;
the customer does the same through the API (the erasure asks for the password again).

Erasure blanks the person (profile, merged duplicates, login, tokens, consents, order
contacts) and keeps what accounting needs: orders, returns and the points ledger, which
still adds up. The app hooks are wired here as the settings will wire them.
"""

import json
import re

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from knox.models import AuthToken
from rest_framework.test import APIClient

from customers.models import ConsentChange, Customer, CustomerErasure, CustomerMerge, User
from customers.selectors import customer_timeline
from customers.services import (
    auth_login,
    consent_set,
    customer_create,
    customer_erase,
    customer_merge,
    customer_update,
)
from loyalty.services import points_adjust, verify
from orders.domain import Actor
from orders.models import Notification, Order
from orders.services import order_transition
from tests.customers.conftest import PASSWORD, register
from tests.customers.test_admin_customer_page import till_order, web_order
from tests.factories.loyalty import LoyaltyRulesFactory
from tests.staff import conftest as staff_fixtures

member, shop = staff_fixtures.member, staff_fixtures.shop

pytestmark = pytest.mark.django_db

APPS = ("orders", "returns", "loyalty")
ME = "/api/v1/me/"
EXPORT = "/api/v1/me/export/"


def test_every_app_holding_personal_data_is_wired_for_export_erasure_and_the_page():
    from django.conf import settings

    assert settings.CUSTOMER_EXPORT_SOURCES == [f"{app}.personal_data.export" for app in APPS]
    assert settings.CUSTOMER_ERASE_HANDLERS == [f"{app}.personal_data.erase" for app in APPS]
    assert settings.CUSTOMER_ADMIN_PANELS == [f"{app}.personal_data.panel" for app in APPS]


def export_url(customer) -> str:
    return reverse("admin:customers_customer_export", args=[customer.pk])


def erase_url(customer) -> str:
    return reverse("admin:customers_customer_erase", args=[customer.pk])


def grant(browser, *codenames: str):
    """Give the member of staff these customers permissions (the roles give them later)."""
    browser.user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="customers", codename__in=codenames)
    )
    browser.user = User.objects.get(pk=browser.user.pk)  # no stale permission cache
    return browser


def token_client(customer) -> tuple[APIClient, str]:
    client = APIClient()
    token = auth_login(login=customer.email, password=PASSWORD).token
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client, token


@pytest.fixture
def anna(shop):
    """A registered customer with consents, a finished web order, a till sale with a
    return, points, a second device and a till profile merged into hers."""
    LoyaltyRulesFactory()
    variant = shop.sku(store=20)
    anna = register(
        email="anna.schmidt@example.com",
        phone="+4915123456789",
        first_name="Anna",
        last_name="Schmidt",
        consents={"email": True, "sms": True},
    )
    till_profile = customer_create(first_name="Anna", card_number="2000 0000 0017", source="pos")
    customer_merge(survivor=anna, duplicate=till_profile, merged_by=None)
    web = web_order(shop, anna, variant)
    Order.objects.filter(pk=web.pk).update(
        contact_name="Anna Schmidt",
        contact_email="anna.schmidt@example.com",
        contact_phone="+4915123456789",
        delivery_address={"street": "Hauptstr. 1", "city": "Berlin"},
    )
    order_transition(order=web, target="cancelled", actor=Actor.CUSTOMER, user=anna.user)
    till = till_order(shop, anna, variant)
    from returns.services import return_create

    return_create(
        order=till,
        location=shop.store,
        reason="changed_mind",
        lines=[{"sku": variant.sku, "quantity": 1}],
    )
    points_adjust(customer=anna, points=30, reason="welcome", actor=None)
    anna.refresh_from_db()
    anna.web_number, anna.till_number, anna.duplicate = web.number, till.number, till_profile
    return anna


# --- export -----------------------------------------------------------------------------


def test_staff_download_everything_held_about_a_customer_as_json(member, shop, anna):
    browser = grant(member("store_manager", shop.store), "export_customer")
    response = browser.get(export_url(anna))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert f'filename="customer-{anna.pk}.json"' in response["Content-Disposition"]
    data = json.loads(response.content)
    assert data["customer"]["email"] == "anna.schmidt@example.com"
    assert data["customer"]["card_number"] == "200000000017"
    assert data["login"]["email"] == "anna.schmidt@example.com"
    assert data["consents"]["email"]["granted"] is True
    assert {c["channel"] for c in data["consent_history"]} == {"email", "sms"}
    assert [m["id"] for m in data["merged_profiles"]] == [anna.duplicate.pk]
    assert data["merged_profiles"][0]["held_when_merged"]["card_number"] == "200000000017"
    orders = {o["number"]: o for o in data["orders"]}
    assert set(orders) == {anna.web_number, anna.till_number}
    assert orders[anna.web_number]["delivery_address"] == {
        "street": "Hauptstr. 1",
        "city": "Berlin",
    }
    assert orders[anna.till_number]["channel"] == "pos"
    assert [r["order"] for r in data["returns"]] == [anna.till_number]
    assert data["loyalty"]["balance"] == anna.loyalty_account.balance
    assert len(data["loyalty"]["entries"]) == anna.loyalty_account.entries.count()
    assert data["erasure"] is None


def test_the_export_writes_nothing(member, shop, anna):
    browser = grant(member("head_office"), "export_customer")
    with CaptureQueriesContext(connection) as ctx:
        assert browser.get(export_url(anna)).status_code == 200
    writes = [
        q["sql"]
        for q in ctx.captured_queries
        if re.match(r"\s*(INSERT|UPDATE|DELETE)", q["sql"], re.I)
    ]
    assert writes == []


def test_a_store_associate_can_neither_export_nor_erase(member, shop, anna):
    browser = member("store_associate", shop.store)
    assert browser.get(export_url(anna)).status_code == 403
    assert browser.get(erase_url(anna)).status_code == 403
    assert browser.post(erase_url(anna), {"confirm": "on"}).status_code == 403
    page = browser.get(reverse("admin:customers_customer_change", args=[anna.pk]))
    assert page.status_code == 200
    assert export_url(anna) not in page.content.decode()
    assert erase_url(anna) not in page.content.decode()
    anna.refresh_from_db()
    assert anna.email == "anna.schmidt@example.com"
    assert not CustomerErasure.objects.exists()


def test_exporting_does_not_let_a_member_erase(member, shop, anna):
    browser = grant(member("store_manager", shop.store), "export_customer")
    page = browser.get(reverse("admin:customers_customer_change", args=[anna.pk])).content
    assert export_url(anna) in page.decode()
    assert erase_url(anna) not in page.decode()
    assert browser.post(erase_url(anna), {"confirm": "on"}).status_code == 403
    assert not CustomerErasure.objects.exists()


# --- erasure by staff -------------------------------------------------------------------


def test_the_erase_confirmation_writes_nothing_and_an_unticked_post_erases_nothing(member, anna):
    browser = grant(member("head_office"), "erase_customer")
    with CaptureQueriesContext(connection) as ctx:
        confirm = browser.get(erase_url(anna))
    assert confirm.status_code == 200
    assert "orders" in confirm.content.decode()
    assert not [q for q in ctx.captured_queries if re.match(r"\s*(INSERT|UPDATE|DELETE)", q["sql"])]
    assert browser.post(erase_url(anna), {}).status_code == 200  # the form again, with its error
    anna.refresh_from_db()
    assert anna.email == "anna.schmidt@example.com"
    assert not CustomerErasure.objects.exists()


def test_erasing_blanks_the_person_and_keeps_orders_returns_and_a_balanced_ledger(member, anna):
    browser = grant(member("head_office"), "erase_customer")
    user_id = anna.user_id
    balance = anna.loyalty_account.balance
    AuthToken.objects.create(user=anna.user)  # two devices
    auth_login(login=anna.email, password=PASSWORD, device="phone")

    response = browser.post(erase_url(anna), {"confirm": "on"})
    assert response.status_code == 302

    anna.refresh_from_db()
    duplicate = Customer.objects.get(pk=anna.duplicate.pk)
    for profile in (anna, duplicate):
        assert (profile.first_name, profile.last_name) == ("", "")
        assert (profile.phone, profile.email, profile.card_number) == (None, None, None)
        assert profile.is_active is False and profile.user_id is None
    assert not User.objects.filter(pk=user_id).exists()
    assert not AuthToken.objects.filter(user_id=user_id).exists()
    assert [(c.channel, c.granted) for c in anna.consents.order_by("channel")] == [
        ("email", False),
        ("sms", False),
    ]
    withdrawn = ConsentChange.objects.filter(
        customer=anna, granted=False, details={"erasure": True}
    )
    assert withdrawn.count() == 2
    assert CustomerMerge.objects.get(duplicate=duplicate).duplicate_snapshot == {}

    orders = Order.objects.filter(customer=anna).order_by("number")
    assert {o.number for o in orders} == {anna.web_number, anna.till_number}
    for order in orders:
        assert (order.contact_name, order.contact_email, order.contact_phone) == ("", "", "")
        assert order.delivery_address == {}
    assert not Notification.objects.filter(order__customer=anna).exclude(recipient="").exists()
    assert anna.loyalty_account.balance == balance
    assert verify() == []

    erasure = CustomerErasure.objects.get(customer=anna)
    assert erasure.erased_by == browser.user
    assert erasure.via == "admin"
    assert erasure.done["customers"]["logins_deleted"] == 1
    assert erasure.done["customers"]["sessions_ended"] == 2
    assert erasure.done["orders.personal_data.erase"]["orders_kept"] == 2
    assert erasure.done["returns.personal_data.erase"] == {"returns_kept": 1}
    assert customer_timeline(customer=anna, limit=1)[0]["kind"] == "customer_erased"

    page = browser.get(reverse("admin:customers_customer_change", args=[anna.pk]))
    assert 'id="erasure-notice"' in page.content.decode()
    assert erase_url(anna) not in page.content.decode()


def test_an_open_order_holds_the_erasure_back_and_nothing_changes(member, shop, anna):
    web_order(shop, anna, shop.sku(store=3))
    browser = grant(member("head_office"), "erase_customer")
    response = browser.post(erase_url(anna), {"confirm": "on"}, follow=True)
    assert "orders still open" in response.content.decode()
    anna.refresh_from_db()
    assert anna.email == "anna.schmidt@example.com" and anna.user_id is not None
    assert anna.consents.filter(granted=True).count() == 2
    assert Order.objects.get(number=anna.web_number).contact_name == "Anna Schmidt"
    assert not CustomerErasure.objects.exists()


def test_an_erased_customer_is_erased_once_and_never_edited_or_merged_again(anna):
    customer_erase(customer=anna, erased_by=None)
    with pytest.raises(Exception) as twice:
        customer_erase(customer=anna, erased_by=None)
    assert twice.value.code == "customer_erased"
    with pytest.raises(Exception) as edit:
        customer_update(customer=anna, first_name="Anna")
    assert edit.value.code == "customer_erased"
    other = customer_create(phone="+4915100000009")
    with pytest.raises(Exception) as merge:
        customer_merge(survivor=other, duplicate=anna, merged_by=None)
    assert merge.value.code == "customer_erased"
    assert CustomerErasure.objects.count() == 1


def test_a_merged_duplicate_is_not_erased_on_its_own(anna):
    with pytest.raises(Exception) as refused:
        customer_erase(customer=anna.duplicate, erased_by=None)
    assert refused.value.code == "customer_already_merged"


def test_a_staff_login_is_not_erased(anna):
    User.objects.filter(pk=anna.user_id).update(is_staff=True)
    with pytest.raises(Exception) as refused:
        customer_erase(customer=anna, erased_by=None)
    assert refused.value.code == "staff_login_not_erasable"
    assert User.objects.filter(pk=anna.user_id).exists()


# --- the customer through the API -------------------------------------------------------


def test_a_customer_exports_their_own_data_and_only_theirs(anna):
    ben = register(email="ben@example.com", first_name="Ben")
    client, _token = token_client(anna)
    data = client.get(EXPORT).json()
    assert data["customer"]["id"] == anna.pk
    assert {o["number"] for o in data["orders"]} == {anna.web_number, anna.till_number}
    assert data["loyalty"]["balance"] == anna.loyalty_account.balance
    assert [s["device"] for s in data["sessions"]] == [""]
    ben_client, _token = token_client(ben)
    assert ben_client.get(EXPORT).json()["orders"] == []
    assert APIClient().get(EXPORT).status_code == 401


@pytest.mark.parametrize("body", [{"password": "wrong-password-1"}, {}, {"password": ""}])
def test_a_wrong_or_missing_password_erases_nothing(anna, body):
    client, _token = token_client(anna)
    response = client.delete(ME, body, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "reauthentication_failed"
    anna.refresh_from_db()
    assert anna.email == "anna.schmidt@example.com"
    assert client.get(ME).status_code == 200
    assert not CustomerErasure.objects.exists()


def test_an_unknown_channel_with_the_right_password_is_a_validation_error_and_erases_nothing(
    anna,
):
    client, _token = token_client(anna)
    response = client.delete(ME, {"password": PASSWORD, "channel": "fax"}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], list(error["details"]["fields"])) == ("validation_error", ["channel"])
    assert client.get(ME).status_code == 200
    assert not CustomerErasure.objects.exists()


def test_a_customer_erases_their_account_with_their_password_and_every_token_stops(anna):
    client, _token = token_client(anna)
    other_device, _token = token_client(anna)
    response = client.delete(ME, {"password": PASSWORD, "channel": "app"}, format="json")
    assert response.status_code == 204
    assert client.get(ME).status_code == 401
    assert other_device.get(EXPORT).status_code == 401
    anna.refresh_from_db()
    assert anna.email is None and anna.user_id is None
    erasure = CustomerErasure.objects.get(customer=anna)
    assert (erasure.via, erasure.erased_by) == ("customer", None)
    assert ConsentChange.objects.filter(customer=anna, granted=False, source="app").count() == 2
    assert Order.objects.filter(customer=anna).count() == 2
    assert verify() == []
    # The login is gone: the old password logs nobody in.
    login = APIClient().post(
        "/api/v1/auth/token/",
        {"login": "anna.schmidt@example.com", "password": PASSWORD},
        format="json",
    )
    assert login.status_code == 401


def test_an_open_order_holds_back_the_customers_own_erasure(shop, anna):
    open_order = web_order(shop, anna, shop.sku(store=3))
    client, _token = token_client(anna)
    response = client.delete(ME, {"password": PASSWORD}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "customer_has_open_orders"
    assert response.json()["error"]["details"] == {"orders": [open_order.number]}
    assert client.get(ME).status_code == 200


def test_consent_set_after_erasure_is_refused_by_the_merged_profile_check(anna):
    # The erased profile stays the orders' owner but takes no new decisions through merges.
    customer_erase(customer=anna, erased_by=None)
    with pytest.raises(Exception) as refused:
        consent_set(customer=anna.duplicate, channel="email", granted=True, source="web")
    assert refused.value.code == "customer_already_merged"
