"""The customer's own profile: read and change it, each customer seeing and changing only theirs."""

import pytest
from django.core import mail

from customers.models import ConsentChange, Customer
from tests.customers.conftest import PASSWORD, codes_sent_to, last_code

pytestmark = pytest.mark.django_db

ME = "/api/v1/me/"
TOKEN = "/api/v1/auth/token/"
VERIFY_CONTACT = "/api/v1/me/contacts/verify/"


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


def test_patch_changes_names_and_consents_at_once_and_contacts_after_their_codes(
    anna_client, anna, deliver, sms
):
    response = deliver(
        anna_client.patch,
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
        "anna@example.com",
        "+4915111111111",
    )
    pending = {p["field"]: p for p in body["pending_contacts"]}
    assert pending["email"]["value"] == "anne.schmidt@example.com"
    assert pending["phone"]["value"] == "+4915133333333"
    assert body["consents"]["sms"]["granted"] is True and body["consents"]["sms"]["source"] == "app"
    assert body["consents"]["push"]["granted"] is False
    change = ConsentChange.objects.get(customer=anna, channel="sms")
    assert (change.source, change.changed_by) == ("app", anna.user)
    # Not yet a login: the new phone logs nobody in until its code is given.
    assert (
        anna_client.post(TOKEN, {"login": "+4915133333333", "password": PASSWORD}).status_code
        == 401
    )

    for field, contact in (("email", "anne.schmidt@example.com"), ("phone", "+4915133333333")):
        response = anna_client.post(
            VERIFY_CONTACT,
            {"verification": pending[field]["id"], "code": last_code(contact)},
        )
        assert response.status_code == 200, response.json()
    body = anna_client.get(ME).json()
    assert (body["email"], body["phone"]) == ("anne.schmidt@example.com", "+4915133333333")
    assert body["pending_contacts"] == []
    # the login followed the contact change
    new_login = anna_client.post(TOKEN, {"login": "+4915133333333", "password": PASSWORD})
    assert new_login.status_code == 200


def test_patch_with_only_consents_leaves_the_contacts_alone(anna_client, anna):
    response = anna_client.patch(ME, {"consents": {"email": True}}, format="json")
    assert response.status_code == 200
    anna.refresh_from_db()
    assert (anna.email, anna.phone) == ("anna@example.com", "+4915111111111")


def test_patch_with_another_logins_contact_answers_the_same_and_never_takes_it(
    anna_client, ben_client, anna, ben, deliver, sms
):
    answers = []
    for body in ({"phone": "+4915122222222"}, {"email": "BEN@example.com"}):
        response = deliver(anna_client.patch, ME, {"first_name": "X", **body}, format="json")
        assert response.status_code == 200
        answers.append(response.json()["pending_contacts"][-1])
    # Ben is told someone tried; no code exists that could complete the change.
    assert "already" in mail.outbox[-1].body or "another account" in mail.outbox[-1].body
    assert codes_sent_to("ben@example.com") == [] and codes_sent_to("+4915122222222") == []
    for pending in answers:
        response = anna_client.post(
            VERIFY_CONTACT, {"verification": pending["id"], "code": "000000"}
        )
        assert response.json()["error"]["code"] == "invalid_code"
    anna.refresh_from_db()
    assert (anna.first_name, anna.phone, anna.email) == ("X", "+4915111111111", "anna@example.com")
    assert ben_client.get(ME).json()["email"] == "ben@example.com"


def test_a_verification_of_another_customer_is_not_found(anna_client, ben_client, deliver):
    pending = deliver(anna_client.patch, ME, {"email": "anna.new@example.com"}, format="json")
    verification = pending.json()["pending_contacts"][0]["id"]
    response = ben_client.post(
        VERIFY_CONTACT, {"verification": verification, "code": last_code("anna.new@example.com")}
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "verification_not_found"
    assert ben_client.get(ME).json()["email"] == "ben@example.com"


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
