"""The customer's own profile: read and change it, each customer seeing and changing only theirs."""

import pytest

from customers.models import ConsentChange, Customer
from customers.services import customer_create
from tests.customers.conftest import PASSWORD

pytestmark = pytest.mark.django_db

ME = "/api/v1/me/"
TOKEN = "/api/v1/auth/token/"


def test_me_needs_a_token(api_client):
    for method in (api_client.get, api_client.patch):
        response = method(ME)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "not_authenticated"


def test_a_forged_token_is_refused(api_client, anna):
    api_client.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567")
    assert api_client.get(ME).status_code == 401


def test_each_customer_sees_their_own_profile(anna_client, ben_client, anna, ben):
    assert anna_client.get(ME).json()["id"] == anna.pk
    assert anna_client.get(ME).json()["email"] == "anna@example.com"
    assert ben_client.get(ME).json()["id"] == ben.pk
    assert ben_client.get(ME).json()["phone"] == "+4915122222222"


def test_me_shows_contacts_login_and_every_consent_channel(anna_client):
    body = anna_client.get(ME).json()
    assert body["has_login"] is True
    assert set(body["consents"]) == {"email", "sms", "messenger", "push"}
    assert body["consents"]["email"] == {"granted": False, "changed_at": None, "source": None}


def test_patch_changes_name_contacts_and_consents_through_the_services(anna_client, anna):
    response = anna_client.patch(
        ME,
        {
            "first_name": "Anne",
            "last_name": "Schmidt",
            "email": "Anne.Schmidt@Example.com",
            "phone": "0151 3333 3333",
            "consents": {"sms": True, "push": False},
            "channel": "app",
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["first_name"], body["email"], body["phone"]) == (
        "Anne",
        "anne.schmidt@example.com",
        "+4915133333333",
    )
    assert body["consents"]["sms"]["granted"] is True and body["consents"]["sms"]["source"] == "app"
    assert body["consents"]["push"]["granted"] is False
    change = ConsentChange.objects.get(customer=anna, channel="sms")
    assert (change.source, change.changed_by) == ("app", anna.user)
    # the login followed the contact change
    new_login = anna_client.post(TOKEN, {"login": "+4915133333333", "password": PASSWORD})
    assert new_login.status_code == 200


def test_patch_with_only_consents_leaves_the_contacts_alone(anna_client, anna):
    response = anna_client.patch(ME, {"consents": {"email": True}}, format="json")
    assert response.status_code == 200
    anna.refresh_from_db()
    assert (anna.email, anna.phone) == ("anna@example.com", "+4915111111111")


def test_patch_cannot_take_another_customers_phone_or_email(anna_client, ben_client, anna, ben):
    for body in ({"phone": "+4915122222222"}, {"email": "BEN@example.com"}):
        response = anna_client.patch(ME, {"first_name": "X", **body}, format="json")
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "contact_taken"
    anna.refresh_from_db()
    assert (anna.first_name, anna.phone) == ("Anna", "+4915111111111")
    assert ben_client.get(ME).json()["email"] == "ben@example.com"


def test_patch_cannot_take_the_phone_of_a_customer_known_only_at_the_till(anna_client):
    customer_create(phone="+4915144444444", source="pos")
    response = anna_client.patch(ME, {"phone": "+49 151 4444 4444"}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["details"] == {"fields": ["phone"]}


def test_one_customers_patch_changes_nothing_of_another(anna_client, ben):
    anna_client.patch(ME, {"first_name": "Changed", "consents": {"sms": True}}, format="json")
    ben.refresh_from_db()
    assert ben.first_name == "Ben"
    assert not ConsentChange.objects.filter(customer=ben).exists()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"phone": "12"}, "invalid_phone"),
        ({"email": "not-an-email"}, "invalid_email"),
        ({"email": None, "phone": None}, "login_identifier_required"),
        ({"consents": {"fax": True}}, "validation_error"),
        ({"consents": {"email": "maybe"}}, "validation_error"),
        ({"channel": "carrier-pigeon"}, "validation_error"),
        ({"first_name": "x" * 101}, "validation_error"),
    ],
)
def test_bad_profile_changes_answer_400_and_change_nothing(anna_client, anna, body, code):
    response = anna_client.patch(ME, body, format="json")
    assert response.status_code == 400, response.json()
    assert response.json()["error"]["code"] == code
    assert Customer.objects.get(pk=anna.pk).email == "anna@example.com"
    assert not ConsentChange.objects.filter(customer=anna).exists()
