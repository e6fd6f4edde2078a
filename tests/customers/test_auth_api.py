"""Auth API: register with a code, token login per device, sessions, logout, hooks, bad input."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from knox.models import AuthToken

from customers.models import ConsentChange, ContactVerification, Customer, LoginSession, User
from customers.services import expired_purge
from tests.customers.conftest import PASSWORD, client_for, last_code, register
from tests.factories.customers import UserFactory

pytestmark = pytest.mark.django_db

REGISTER = "/api/v1/auth/register/"
VERIFY = "/api/v1/auth/verify/"
RESEND = "/api/v1/auth/verify/resend/"
TOKEN = "/api/v1/auth/token/"
LOGOUT = "/api/v1/auth/logout/"
LOGOUT_ALL = "/api/v1/auth/logout-all/"
SESSIONS = "/api/v1/me/sessions/"
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


def _register(api_client, deliver, body):
    return deliver(api_client.post, REGISTER, body, format="json")


def test_registering_answers_202_sends_a_code_and_creates_no_login_yet(api_client, deliver):
    response = _register(api_client, deliver, {"email": "Anna@Example.com", "password": PASSWORD})
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["verification"]["field"] == "email"
    assert body["verification"]["value"] == "anna@example.com"
    assert body["message"]
    assert "token" not in body and "customer" not in body
    assert not User.objects.exists() and not Customer.objects.exists()
    assert len(last_code("anna@example.com")) == 6


def test_the_code_creates_the_login_and_profile_and_logs_this_device_in(api_client, deliver):
    started = _register(
        api_client,
        deliver,
        {
            "email": "anna@example.com",
            "password": PASSWORD,
            "first_name": "Anna",
            "last_name": "Schmidt",
            "consents": {"email": True, "sms": False},
            "channel": "app",
        },
    ).json()
    response = api_client.post(
        VERIFY,
        {
            "verification": started["verification"]["id"],
            "code": last_code("anna@example.com"),
            "device": "Anna's phone",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    customer = Customer.objects.get(pk=body["customer"]["id"])
    assert customer.user.email == "anna@example.com" and customer.first_name == "Anna"
    assert customer.signup_channel == "app"
    assert body["customer"]["consents"]["email"]["granted"] is True
    assert body["customer"]["consents"]["sms"]["source"] == "app"
    assert ConsentChange.objects.filter(customer=customer, changed_by=customer.user).count() == 2
    session = LoginSession.objects.get(pk=body["session"])
    assert session.name == "Anna's phone" and session.token.user == customer.user
    assert body["expiry"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")
    assert api_client.get(ME).json()["id"] == customer.pk
    # The registration's password hash is not kept once the login exists.
    assert ContactVerification.objects.get().payload == {}


def test_registering_with_email_and_phone_proves_the_email_then_the_phone(api_client, deliver, sms):
    started = _register(
        api_client,
        deliver,
        {"email": "anna@example.com", "phone": "0151 2345 6789", "password": PASSWORD},
    ).json()
    assert started["verification"]["field"] == "email"
    body = deliver(
        api_client.post,
        VERIFY,
        {"verification": started["verification"]["id"], "code": last_code("anna@example.com")},
    ).json()
    assert body["customer"]["email"] == "anna@example.com" and body["customer"]["phone"] is None
    [pending] = body["customer"]["pending_contacts"]
    assert (pending["field"], pending["value"]) == ("phone", "+4915123456789")
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")
    response = api_client.post(
        "/api/v1/me/contacts/verify/",
        {"verification": pending["id"], "code": last_code("+4915123456789")},
    )
    assert response.status_code == 200, response.json()
    assert response.json()["phone"] == "+4915123456789"
    assert response.json()["pending_contacts"] == []
    assert User.objects.get().phone == "+4915123456789"


def test_a_phone_is_refused_when_no_channel_can_send_it_a_code(api_client):
    response = api_client.post(REGISTER, {"phone": "+4915123456789", "password": PASSWORD})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "contact_unreachable"


def test_a_resent_code_replaces_the_old_one(api_client, deliver):
    started = _register(
        api_client, deliver, {"email": "anna@example.com", "password": PASSWORD}
    ).json()
    verification = started["verification"]["id"]
    first = last_code("anna@example.com")
    response = deliver(api_client.post, RESEND, {"verification": verification})
    assert response.status_code == 202, response.json()
    second = last_code("anna@example.com")
    if first != second:  # one in a million codes repeats
        refused = api_client.post(VERIFY, {"verification": verification, "code": first})
        assert refused.json()["error"]["code"] == "invalid_code"
    assert (
        api_client.post(VERIFY, {"verification": verification, "code": second}).status_code == 201
    )


def test_codes_stop_after_the_configured_number_of_sends(api_client, deliver, settings):
    settings.CUSTOMER_CODE_MAX_SENDS = 2
    started = _register(
        api_client, deliver, {"email": "anna@example.com", "password": PASSWORD}
    ).json()
    verification = started["verification"]["id"]
    assert deliver(api_client.post, RESEND, {"verification": verification}).status_code == 202
    response = deliver(api_client.post, RESEND, {"verification": verification})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "too_many_codes"
    assert len(mail.outbox) == 2


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
        # Django's similarity validator sees the user: a password made of the address fails.
        ({"email": "anna.schmidt.berlin@example.com", "password": "anna.schmidt.berlin"}, 400,
         "invalid_password"),
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
    assert not ContactVerification.objects.exists()


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
def test_login_by_email_or_phone_in_any_format_returns_a_working_token_and_profile(
    api_client, body
):
    anna = register(email="anna@example.com", phone="+4915123456789", first_name="Anna")
    response = api_client.post(TOKEN, {**body, "password": PASSWORD})
    assert response.status_code == 200, response.json()
    assert response.json()["customer"]["first_name"] == "Anna"
    assert AuthToken.objects.filter(user=anna.user).count() == 1
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    assert api_client.get(ME).json()["id"] == anna.pk
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
        ({"login": "anna@example.com", "password": PASSWORD, "device": "a\nb"}, 400,
         "invalid_name"),
    ],
)  # fmt: skip
def test_bad_logins_answer_401_invalid_credentials_or_400(api_client, body, status, code):
    register(email="anna@example.com", phone="+4915123456789")
    response = api_client.post(TOKEN, body, format="json")
    assert response.status_code == status, response.json()
    assert response.json()["error"]["code"] == code
    assert not AuthToken.objects.exists()


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


def test_each_login_is_its_own_device_session_and_logout_ends_only_that_one(anna):
    phone, laptop = client_for(anna, device="phone"), client_for(anna, device="laptop")
    assert phone.post(LOGOUT).status_code == 204
    response = phone.get(ME)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"
    assert laptop.get(ME).status_code == 200
    assert [s["name"] for s in laptop.get(SESSIONS).json()] == ["laptop"]


def test_logout_everywhere_ends_every_session(anna):
    phone, laptop = client_for(anna, device="phone"), client_for(anna, device="laptop")
    assert laptop.post(LOGOUT_ALL).status_code == 204
    assert phone.get(ME).status_code == 401 and laptop.get(ME).status_code == 401
    assert not AuthToken.objects.exists() and not LoginSession.objects.exists()


def test_the_session_list_shows_every_device_but_never_a_token(anna, ben):
    phone, laptop = client_for(anna, device="phone"), client_for(anna, device="laptop")
    client_for(ben, device="ben's")
    sessions = laptop.get(SESSIONS).json()
    assert [(s["name"], s["current"]) for s in sessions] == [("laptop", True), ("phone", False)]
    assert set(sessions[0]) == {"id", "name", "created_at", "expires_at", "last_used_at", "current"}
    assert all(s["expires_at"] for s in sessions)
    assert phone.get(SESSIONS).status_code == 200


def test_a_session_is_ended_by_id_and_another_customers_session_is_not_found(anna, ben):
    phone, laptop = client_for(anna, device="phone"), client_for(anna, device="laptop")
    ben_client = client_for(ben, device="ben's")
    phone_id = next(s["id"] for s in laptop.get(SESSIONS).json() if s["name"] == "phone")
    response = ben_client.delete(f"{SESSIONS}{phone_id}/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "session_not_found"
    assert phone.get(ME).status_code == 200
    assert laptop.delete(f"{SESSIONS}{phone_id}/").status_code == 204
    assert phone.get(ME).status_code == 401 and laptop.get(ME).status_code == 200


def test_an_expired_token_is_refused_and_later_purged(anna):
    old, fresh = client_for(anna, device="old tablet"), client_for(anna, device="phone")
    AuthToken.objects.filter(session__name="old tablet").update(
        expiry=timezone.now() - timedelta(seconds=1)
    )
    response = old.get(ME)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"
    assert [s["name"] for s in fresh.get(SESSIONS).json()] == ["phone"]
    assert AuthToken.objects.count() == 2  # a request only reads; the beat task deletes
    assert expired_purge() == {"tokens": 1, "verifications": 0}
    assert list(LoginSession.objects.values_list("name", flat=True)) == ["phone"]


def test_tokens_expire_after_the_configured_days(api_client, settings):
    settings.CUSTOMER_TOKEN_TTL_DAYS = 2
    register(email="anna@example.com")
    api_client.post(TOKEN, {"login": "anna@example.com", "password": PASSWORD})
    expiry = AuthToken.objects.get().expiry
    assert timedelta(days=2) - timedelta(minutes=1) < expiry - timezone.now() <= timedelta(days=2)


def test_logout_without_a_token_is_401(api_client):
    for url in (LOGOUT, LOGOUT_ALL):
        response = api_client.post(url)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "not_authenticated"
    assert api_client.get(SESSIONS).status_code == 401


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
    assert body["token"] != "hijacked"  # a hook cannot replace it
    assert login_hook == [(anna.pk, {"login": "anna@example.com", "cart_token": "c-123"})]


def test_finishing_a_registration_runs_the_login_hooks_too(api_client, deliver, login_hook):
    started = _register(
        api_client, deliver, {"email": "new@example.com", "password": PASSWORD}
    ).json()
    response = api_client.post(
        VERIFY,
        {
            "verification": started["verification"]["id"],
            "code": last_code("new@example.com"),
            "cart_token": "c-9",
        },
    )
    assert response.status_code == 201
    assert response.json()["cart"] == {"merged_from": "c-9"}
    assert [data.get("cart_token") for _pk, data in login_hook] == ["c-9"]
    assert "password" not in login_hook[0][1] and "code" not in login_hook[0][1]


def test_a_session_id_beyond_any_row_is_not_found(anna):
    client = client_for(anna, device="phone")
    for session_id in (0, 2**63, 10**30):
        response = client.delete(f"{SESSIONS}{session_id}/")
        assert response.status_code == 404, session_id
        assert response.json()["error"]["code"] == "session_not_found"


def test_without_a_device_name_the_user_agent_names_the_session_even_a_garbled_one(api_client):
    register(email="anna@example.com")
    response = api_client.post(
        TOKEN,
        {"login": "anna@example.com", "password": PASSWORD},
        HTTP_USER_AGENT="ShopApp/2.1\x07 (iOS)",
    )
    assert response.status_code == 200, response.json()
    assert LoginSession.objects.get().name == "ShopApp/2.1 (iOS)"
