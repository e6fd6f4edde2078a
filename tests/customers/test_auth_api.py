"""Auth API: register, token login by email or phone, logout, login hooks, and bad input."""

import pytest
from rest_framework.authtoken.models import Token

from customers.models import ConsentChange, Customer, User
from customers.services import customer_create
from tests.customers.conftest import PASSWORD, register
from tests.factories.customers import UserFactory

pytestmark = pytest.mark.django_db

REGISTER = "/api/v1/auth/register/"
TOKEN = "/api/v1/auth/token/"
LOGOUT = "/api/v1/auth/logout/"
ME = "/api/v1/me/"

LOGIN_CALLS: list[tuple[int, dict]] = []


def remember_login(customer, request_data: dict) -> dict:
    """A login hook like the orders app's cart merge: records the call, answers extra fields."""
    LOGIN_CALLS.append((customer.pk, request_data))
    return {"cart": {"merged_from": request_data.get("cart_token")}, "token": "hijacked"}


@pytest.fixture
def login_hook(settings):
    LOGIN_CALLS.clear()
    settings.CUSTOMER_LOGIN_HANDLERS = [f"{__name__}.remember_login"]
    yield LOGIN_CALLS
    LOGIN_CALLS.clear()


def test_registering_creates_a_login_a_profile_and_a_token(api_client):
    response = api_client.post(
        REGISTER,
        {
            "email": "Anna@Example.com",
            "phone": "0151 2345 6789",
            "password": PASSWORD,
            "first_name": "Anna",
            "last_name": "Schmidt",
            "consents": {"email": True, "sms": False},
            "channel": "app",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    customer = Customer.objects.get(pk=body["customer"]["id"])
    assert customer.user.email == "anna@example.com" and customer.phone == "+4915123456789"
    assert Token.objects.get(user=customer.user).key == body["token"]
    assert body["customer"]["consents"]["email"]["granted"] is True
    assert body["customer"]["consents"]["sms"] == {
        "granted": False,
        "changed_at": body["customer"]["consents"]["sms"]["changed_at"],
        "source": "app",
    }
    assert body["customer"]["consents"]["push"] == {
        "granted": False,
        "changed_at": None,
        "source": None,
    }
    assert customer.signup_channel == "app"
    assert ConsentChange.objects.filter(customer=customer, changed_by=customer.user).count() == 2


def test_registering_with_the_phone_of_a_till_customer_gives_that_profile_a_login(api_client):
    till = customer_create(phone="+4915123456789", card_number="2900000000017", source="pos")
    response = api_client.post(
        REGISTER, {"phone": "01512345 6789", "email": "anna@example.com", "password": PASSWORD}
    )
    assert response.status_code == 201, response.json()
    assert response.json()["customer"]["id"] == till.pk
    assert response.json()["customer"]["card_number"] == "2900000000017"
    till.refresh_from_db()
    assert till.user is not None and till.email == "anna@example.com"
    assert Customer.objects.count() == 1


def test_registering_a_contact_that_already_has_a_login_is_a_409(api_client):
    register(email="anna@example.com", phone="+4915123456789")
    for body in (
        {"email": "ANNA@example.com", "password": PASSWORD},
        {"phone": "+49 151 23456789", "password": PASSWORD},
    ):
        response = api_client.post(REGISTER, body)
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "customer_exists"
    assert User.objects.count() == 1


def test_registering_with_the_phone_of_a_profile_whose_login_uses_only_email_is_a_409(
    api_client,
):
    anna = register(email="anna@example.com")
    anna.phone = "+4915123456789"  # given at the till later: the profile's, not the login's
    anna.save(update_fields=["phone"])
    response = api_client.post(REGISTER, {"phone": "+4915123456789", "password": PASSWORD})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "customer_exists"
    assert User.objects.count() == 1


def test_registering_with_contacts_of_two_different_customers_is_ambiguous(api_client):
    customer_create(phone="+4915123456789")
    customer_create(email="anna@example.com")
    response = api_client.post(
        REGISTER, {"phone": "+4915123456789", "email": "anna@example.com", "password": PASSWORD}
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "customer_ambiguous"
    assert not User.objects.exists()


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"email": "anna@example.com"}, 400, "validation_error"),  # no password
        ({"password": PASSWORD}, 400, "login_identifier_required"),
        ({"email": "", "phone": "", "password": PASSWORD}, 400, "login_identifier_required"),
        ({"email": "anna@", "password": PASSWORD}, 400, "invalid_email"),
        ({"phone": "12345", "password": PASSWORD}, 400, "invalid_phone"),
        ({"phone": "call me", "password": PASSWORD}, 400, "invalid_phone"),
        ({"email": "anna@example.com", "password": "short"}, 400, "invalid_password"),
        ({"email": "anna@example.com", "password": "12345678901"}, 400, "invalid_password"),
        ({"email": "anna@example.com", "password": "password"}, 400, "invalid_password"),
        ({"email": "anna@example.com", "password": PASSWORD, "consents": {"fax": True}}, 400,
         "validation_error"),
        ({"email": "anna@example.com", "password": PASSWORD, "consents": "yes"}, 400,
         "validation_error"),
        ({"email": "anna@example.com", "password": PASSWORD, "channel": "pos"}, 400,
         "validation_error"),
        ({"email": ["a@b.de"], "password": PASSWORD}, 400, "validation_error"),
        ({"email": "a" * 300 + "@example.com", "password": PASSWORD}, 400, "validation_error"),
    ],
)  # fmt: skip
def test_bad_registrations_answer_the_error_shape_and_create_nothing(
    api_client, body, status, code
):
    response = api_client.post(REGISTER, body, format="json")
    assert response.status_code == status, response.json()
    error = response.json()["error"]
    assert error["code"] == code and error["message"]
    assert not User.objects.exists() and not Customer.objects.exists()


def test_a_malformed_json_body_is_a_400_not_a_500(api_client):
    response = api_client.post(REGISTER, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


@pytest.mark.parametrize(
    "body",
    [
        {"login": "anna@example.com"},
        {"login": "ANNA@example.com "},
        {"email": "anna@example.com"},
        {"login": "0151 2345 6789"},
        {"phone": "+49 (151) 2345-6789"},
    ],
)
def test_login_by_email_or_phone_in_any_format_returns_the_token_and_profile(api_client, body):
    anna = register(email="anna@example.com", phone="+4915123456789", first_name="Anna")
    response = api_client.post(TOKEN, {**body, "password": PASSWORD})
    assert response.status_code == 200, response.json()
    assert response.json()["token"] == Token.objects.get(user=anna.user).key
    assert response.json()["customer"]["first_name"] == "Anna"
    anna.user.refresh_from_db()
    assert anna.user.last_login is not None


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"login": "anna@example.com", "password": "wrong-password"}, 401, "invalid_credentials"),
        ({"login": "nobody@example.com", "password": PASSWORD}, 401, "invalid_credentials"),
        ({"login": "+4915100000000", "password": PASSWORD}, 401, "invalid_credentials"),
        ({"login": "not a login", "password": PASSWORD}, 401, "invalid_credentials"),
        ({"login": "anna@example.com", "password": ""}, 400, "validation_error"),
        ({"login": "anna@example.com"}, 400, "validation_error"),
        ({"password": PASSWORD}, 400, "validation_error"),
        ({}, 400, "validation_error"),
    ],
)
def test_bad_logins_answer_401_invalid_credentials_or_400(api_client, body, status, code):
    register(email="anna@example.com", phone="+4915123456789")
    response = api_client.post(TOKEN, body, format="json")
    assert response.status_code == status, response.json()
    assert response.json()["error"]["code"] == code
    assert not Token.objects.exists()


def test_a_disabled_login_cannot_get_a_token(api_client):
    anna = register(email="anna@example.com")
    User.objects.filter(pk=anna.user_id).update(is_active=False)
    response = api_client.post(TOKEN, {"login": "anna@example.com", "password": PASSWORD})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_credentials"


def test_a_staff_login_without_a_customer_profile_gets_403_not_a_customer(api_client):
    UserFactory(email="staff@example.com", is_staff=True)
    response = api_client.post(TOKEN, {"login": "staff@example.com", "password": "secret-pass-123"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_a_customer"


def test_logout_deletes_the_token_so_it_no_longer_authenticates(api_client):
    register(email="anna@example.com")
    token = api_client.post(TOKEN, {"login": "anna@example.com", "password": PASSWORD}).json()
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token['token']}")
    assert api_client.get(ME).status_code == 200
    assert api_client.post(LOGOUT).status_code == 204
    assert not Token.objects.exists()
    response = api_client.get(ME)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_logout_without_a_token_is_401(api_client):
    response = api_client.post(LOGOUT)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_login_hooks_get_the_request_without_the_password_and_add_to_the_response(
    api_client, login_hook
):
    anna = register(email="anna@example.com")
    response = api_client.post(
        TOKEN, {"login": "anna@example.com", "password": PASSWORD, "cart_token": "c-123"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["cart"] == {"merged_from": "c-123"}
    assert body["token"] == Token.objects.get(user=anna.user).key  # a hook cannot replace it
    assert login_hook == [(anna.pk, {"login": "anna@example.com", "cart_token": "c-123"})]


def test_registering_runs_the_login_hooks_too(api_client, login_hook):
    response = api_client.post(
        REGISTER, {"email": "new@example.com", "password": PASSWORD, "cart_token": "c-9"}
    )
    assert response.status_code == 201
    assert response.json()["cart"] == {"merged_from": "c-9"}
    assert [data.get("cart_token") for _pk, data in login_hook] == ["c-9"]
    assert "password" not in login_hook[0][1]
