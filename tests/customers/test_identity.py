"""Only the owner spends or sees what is theirs: each class of identity hole, closed by a test.

A guest's contact never changes a profile with a login; a contact joins a login only with
the code sent to it (short-lived, few attempts, stored as an HMAC), and then the profile
known by it is merged in; register, login and profile changes answer the same for known
and unknown contacts; login, registration, codes and quotes are throttled; no control
character reaches a stored contact or name.
"""

from datetime import timedelta

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.core import mail
from django.utils import timezone

from customers.domain import InvalidName
from customers.errors import InvalidEmail
from customers.models import ContactVerification, Customer, User
from customers.services import customer_create, customer_get_or_create
from loyalty.selectors import balance_get
from loyalty.services import points_adjust
from orders import services as order_services
from orders.models import Order
from tests.customers.conftest import PASSWORD, client_for, codes_sent_to, last_code, register
from tests.factories.orders import CARD, make_shop

pytestmark = pytest.mark.django_db

REGISTER = "/api/v1/auth/register/"
VERIFY = "/api/v1/auth/verify/"
RESEND = "/api/v1/auth/verify/resend/"
TOKEN = "/api/v1/auth/token/"
ME = "/api/v1/me/"
VERIFY_CONTACT = "/api/v1/me/contacts/verify/"
QUOTE = "/api/v1/pricing/quote/"


def _start(client, deliver, **body):
    response = deliver(client.post, REGISTER, {"password": PASSWORD, **body}, format="json")
    assert response.status_code == 202, response.json()
    return response.json()


# --- a guest never changes a profile that has a login ---------------------------------


def test_a_guest_with_someones_email_cannot_change_their_profile():
    anna = register(email="anna@example.com", first_name="")
    found = customer_get_or_create(
        email="ANNA@example.com",
        phone="+4915199999999",
        card_number="2900000000017",
        first_name="Mallory",
        source="web",
    )
    assert found.pk == anna.pk  # linked for history, nothing more
    anna.refresh_from_db()
    assert (anna.phone, anna.card_number, anna.first_name) == (None, None, "")
    assert not Customer.objects.filter(phone="+4915199999999").exists()


def test_a_till_profile_without_a_login_is_still_completed_by_what_the_till_learns():
    till = customer_create(phone="+4915123456789", source="pos")
    customer_get_or_create(phone="+4915123456789", card_number="2900000000017", source="pos")
    till.refresh_from_db()
    assert till.card_number == "2900000000017"


# --- a contact joins a login only with its code, then its profile is merged in ---------


def test_registering_with_a_till_customers_phone_starts_empty_and_gets_its_value_after_the_code(
    api_client, deliver, sms
):
    shop = make_shop()
    till = customer_create(phone="+4915123456789", card_number="2900000000017", source="pos")
    points_adjust(customer=till, points=250, reason="welcome bonus", actor=None)
    cart = order_services.cart_get_current(customer=till, channel="web")
    order_services.cart_line_add(cart=cart, sku=shop.sku(store=5).sku, quantity=1)
    order = order_services.checkout_place(
        cart=cart,
        customer=till,
        fulfilment={"type": "pickup", "location": shop.store.code},
        payment=CARD,
    )

    started = _start(api_client, deliver, email="mallory@example.com", phone="0151 2345 6789")
    body = deliver(
        api_client.post,
        VERIFY,
        {"verification": started["verification"]["id"], "code": last_code("mallory@example.com")},
    ).json()
    # Holding the email is proven, the phone is not: the login's profile is empty.
    profile = body["customer"]
    assert profile["phone"] is None and profile["card_number"] is None
    assert profile["id"] != till.pk
    mine = Customer.objects.get(pk=profile["id"])
    assert balance_get(customer=mine) == 0
    assert not Order.objects.filter(customer=mine).exists()
    till.refresh_from_db()
    assert till.user is None and till.merged_into is None
    assert User.objects.get().phone is None

    # The code to the phone proves it: the till profile (points, order) is merged in.
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")
    [pending] = profile["pending_contacts"]
    response = api_client.post(
        VERIFY_CONTACT, {"verification": pending["id"], "code": last_code("+4915123456789")}
    )
    assert response.status_code == 200, response.json()
    assert response.json()["phone"] == "+4915123456789"
    assert response.json()["card_number"] == "2900000000017"
    till.refresh_from_db()
    assert till.merged_into_id == mine.pk
    assert balance_get(customer=mine) == 250
    assert Order.objects.get(pk=order.pk).customer_id == mine.pk
    assert User.objects.get().phone == "+4915123456789"


def test_registering_with_a_guests_email_merges_that_profile_once_the_code_is_given(
    api_client, deliver
):
    guest = customer_get_or_create(email="anna@example.com", first_name="Anna", source="web")
    started = _start(api_client, deliver, email="anna@example.com")
    body = api_client.post(
        VERIFY,
        {"verification": started["verification"]["id"], "code": last_code("anna@example.com")},
    ).json()
    guest.refresh_from_db()
    assert guest.merged_into_id == body["customer"]["id"] and guest.user is None
    assert body["customer"]["email"] == "anna@example.com"
    assert body["customer"]["first_name"] == "Anna"


def test_a_new_phone_on_the_profile_merges_the_till_profile_only_after_its_code(
    anna_client, anna, deliver, sms
):
    till = customer_create(phone="+4915144444444", card_number="2900000000017", source="pos")
    response = deliver(anna_client.patch, ME, {"phone": "+49 151 4444 4444"}, format="json")
    assert response.status_code == 200
    assert response.json()["phone"] == "+4915111111111"  # unchanged until the code
    [pending] = response.json()["pending_contacts"]
    till.refresh_from_db()
    assert till.merged_into is None
    response = anna_client.post(
        VERIFY_CONTACT, {"verification": pending["id"], "code": last_code("+4915144444444")}
    )
    assert response.status_code == 200, response.json()
    assert response.json()["phone"] == "+4915144444444"
    assert response.json()["card_number"] == "2900000000017"
    till.refresh_from_db()
    assert till.merged_into_id == anna.pk


def test_wrong_codes_are_limited_across_every_code_sent(api_client, deliver, settings):
    settings.CUSTOMER_CODE_MAX_ATTEMPTS = 3
    started = _start(api_client, deliver, email="anna@example.com")
    verification = started["verification"]["id"]
    right = last_code("anna@example.com")
    wrong = "000000" if right != "000000" else "111111"
    answers = [
        api_client.post(VERIFY, {"verification": verification, "code": wrong}).json()["error"]
        for _ in range(2)
    ]
    assert [(a["code"], a["details"]["attempts_left"]) for a in answers] == [
        ("invalid_code", 2),
        ("invalid_code", 1),
    ]
    # A new code does not give new attempts.
    deliver(api_client.post, RESEND, {"verification": verification})
    right = last_code("anna@example.com")
    wrong = "000000" if right != "000000" else "111111"
    response = api_client.post(VERIFY, {"verification": verification, "code": wrong})
    assert response.status_code == 410
    assert response.json()["error"]["code"] == "verification_locked"
    response = api_client.post(VERIFY, {"verification": verification, "code": right})
    assert response.status_code == 410
    assert not User.objects.exists()
    assert ContactVerification.objects.get().attempts == 3


def test_a_code_expires(api_client, deliver):
    started = _start(api_client, deliver, email="anna@example.com")
    verification = ContactVerification.objects.get()
    assert timedelta(minutes=14) < verification.expires_at - timezone.now() <= timedelta(minutes=15)
    ContactVerification.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = api_client.post(
        VERIFY,
        {"verification": started["verification"]["id"], "code": last_code("anna@example.com")},
    )
    assert response.status_code == 410
    assert response.json()["error"]["code"] == "verification_expired"
    assert not User.objects.exists()


def test_a_code_works_once(api_client, deliver):
    started = _start(api_client, deliver, email="anna@example.com")
    body = {"verification": started["verification"]["id"], "code": last_code("anna@example.com")}
    assert api_client.post(VERIFY, body).status_code == 201
    response = api_client.post(VERIFY, body)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "verification_not_found"
    assert User.objects.count() == 1


def test_codes_are_stored_only_as_an_hmac(api_client, deliver):
    _start(api_client, deliver, email="anna@example.com")
    code = last_code("anna@example.com")
    verification = ContactVerification.objects.get()
    stored = " ".join(
        str(getattr(verification, f.attname)) for f in ContactVerification._meta.concrete_fields
    )
    assert code not in stored
    assert len(verification.code_hash) == 64  # HMAC-SHA256, keyed with the SECRET_KEY
    # The password waits as a hash as well.
    assert PASSWORD not in str(verification.payload)
    assert verification.payload["password"].startswith("md5$")


def test_a_failing_mail_server_never_fails_the_registration(api_client, deliver, settings):
    settings.EMAIL_BACKEND = "tests.customers.test_identity.BrokenMailBackend"
    response = deliver(
        api_client.post, REGISTER, {"email": "anna@example.com", "password": PASSWORD}
    )
    assert response.status_code == 202
    verification = ContactVerification.objects.get()
    assert (verification.codes_requested, verification.codes_sent, verification.code_hash) == (
        1,
        0,
        "",
    )


class BrokenMailBackend:
    """A mail server that is down (outside the system)."""

    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise ConnectionRefusedError("mail server down")


# --- no enumeration ---------------------------------------------------------------------


def _shape(body: dict) -> tuple:
    return (tuple(sorted(body)), tuple(sorted(body["verification"])), body["message"])


def test_register_answers_the_same_for_new_known_and_registered_contacts(api_client, deliver):
    register(email="anna@example.com")
    customer_create(email="till@example.com", source="pos")
    answers = {
        email: _start(api_client, deliver, email=email)
        for email in ("new@example.com", "till@example.com", "anna@example.com")
    }
    assert len({_shape(body) for body in answers.values()}) == 1
    # The one who has a login hears about it by email, and gets no code to use.
    assert codes_sent_to("anna@example.com") == []
    [notice] = [m for m in mail.outbox if m.to == ["anna@example.com"]]
    assert "already have an account" in notice.body
    response = api_client.post(
        VERIFY,
        {"verification": answers["anna@example.com"]["verification"]["id"], "code": "123456"},
    )
    assert response.json()["error"]["code"] == "invalid_code"
    assert User.objects.count() == 1
    assert len(codes_sent_to("new@example.com")) == len(codes_sent_to("till@example.com")) == 1


class CountingHasher(MD5PasswordHasher):
    """The test hasher, counting how often a password is hashed (timing of the answer)."""

    calls = 0

    def encode(self, password, salt):
        CountingHasher.calls += 1
        return super().encode(password, salt)


def test_login_answers_and_hashes_the_same_for_unknown_logins_and_wrong_passwords(
    api_client, settings
):
    register(email="anna@example.com")
    settings.PASSWORD_HASHERS = [f"{__name__}.CountingHasher"]
    answers, hashes = [], []
    for login in ("anna@example.com", "nobody@example.com", "+4915100000000", "not a login"):
        CountingHasher.calls = 0
        response = api_client.post(TOKEN, {"login": login, "password": "wrong-password-1"})
        answers.append((response.status_code, response.json()))
        hashes.append(CountingHasher.calls)
    assert all(answer == answers[0] for answer in answers)
    assert answers[0][0] == 401 and answers[0][1]["error"]["code"] == "invalid_credentials"
    assert hashes == [1, 1, 1, 1]


# --- throttles --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scope", "method", "url", "body"),
    [
        ("auth_login", "post", TOKEN, {"login": "anna@example.com", "password": "x"}),
        ("auth_register", "post", REGISTER, {"email": "x@example.com", "password": PASSWORD}),
        ("verification_check", "post", VERIFY,
         {"verification": "8d7c1b52-8a5e-4f43-9d1c-1f1a7c2c2b11", "code": "123456"}),
        ("verification_send", "post", RESEND,
         {"verification": "8d7c1b52-8a5e-4f43-9d1c-1f1a7c2c2b11"}),
        ("pricing_quote", "post", QUOTE, {"lines": [{"sku": "NOPE", "quantity": 1}]}),
    ],
)  # fmt: skip
def test_throttled_endpoints_answer_429_in_the_error_shape_with_retry_after(
    api_client, settings, scope, method, url, body
):
    rates = dict(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], **{scope: "2/minute"})
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    statuses = [getattr(api_client, method)(url, body, format="json") for _ in range(3)]
    assert [r.status_code for r in statuses[:2]] != [429, 429]
    response = statuses[2]
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "throttled"
    assert 0 < int(response["Retry-After"]) <= 60


def test_a_contact_change_is_throttled_but_a_name_change_is_not(anna_client, settings):
    rates = dict(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], verification_send="1/minute")
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    assert anna_client.patch(ME, {"email": "a1@example.com"}, format="json").status_code == 200
    response = anna_client.patch(ME, {"email": "a2@example.com"}, format="json")
    assert response.status_code == 429 and response["Retry-After"]
    assert anna_client.patch(ME, {"first_name": "Anne"}, format="json").status_code == 200


# --- no control characters in stored contacts and names ----------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"email": "anna@example.com\n"},
        {"email": "anna@example.com\r\nBcc: all@example.com"},
        {"email": "an\x00na@example.com"},
        {"email": "anna@example.com", "first_name": "Anna\nSchmidt"},
        {"email": "anna@example.com", "last_name": "Schmidt\x1b[31m"},
        {"email": "anna@example.com", "first_name": "Anna\u202e"},
        {"phone": "+4915123456789\n"},
    ],
)
def test_control_characters_in_email_or_names_are_refused_with_400_at_registration(
    api_client, body, sms
):
    response = api_client.post(REGISTER, {**body, "password": PASSWORD}, format="json")
    assert response.status_code == 400, response.json()
    assert response.json()["error"]["code"] in {
        "invalid_email",
        "invalid_name",
        "invalid_phone",
        "validation_error",  # DRF refuses a NUL itself
        "parse_error",
    }
    assert not ContactVerification.objects.exists()


@pytest.mark.parametrize(
    "body",
    [{"first_name": "A\nB"}, {"last_name": "\x07"}, {"email": "new@example.com\r\n"}],
)
def test_control_characters_are_refused_in_a_profile_change(anna_client, anna, body):
    response = anna_client.patch(ME, body, format="json")
    assert response.status_code == 400
    anna.refresh_from_db()
    assert (anna.first_name, anna.email) == ("Anna", "anna@example.com")


def test_control_characters_are_refused_at_the_till_and_in_guest_checkout():
    with pytest.raises(InvalidName):
        customer_get_or_create(phone="+4915123456789", first_name="Eve\r\n", source="pos")
    with pytest.raises(InvalidEmail):
        customer_get_or_create(email="eve@example.com\nX-Header: 1", source="web")
    assert not Customer.objects.exists()


def test_a_session_name_cannot_carry_control_characters(anna):
    with pytest.raises(InvalidName):
        client_for(anna, device="phone\n")


def test_a_phone_the_profile_has_but_the_login_does_not_can_be_proven(deliver, sms):
    anna = register(email="anna.b@example.com")
    anna.phone = "+4915155555555"  # merged in from a till profile: the login has no phone
    anna.save(update_fields=["phone"])
    client = client_for(anna)
    response = deliver(client.patch, ME, {"phone": "+4915155555555"}, format="json")
    [pending] = response.json()["pending_contacts"]
    response = client.post(
        VERIFY_CONTACT, {"verification": pending["id"], "code": last_code("+4915155555555")}
    )
    assert response.status_code == 200, response.json()
    anna.user.refresh_from_db()
    assert anna.user.phone == "+4915155555555"


def test_verifications_are_forgotten_a_day_after_they_expire(api_client, deliver):
    from customers.tasks import purge_expired

    _start(api_client, deliver, email="old@example.com")
    _start(api_client, deliver, email="new@example.com")
    ContactVerification.objects.filter(value="old@example.com").update(
        expires_at=timezone.now() - timedelta(days=1, minutes=1)
    )
    assert purge_expired.delay().get() == {"tokens": 0, "verifications": 1}
    assert list(ContactVerification.objects.values_list("value", flat=True)) == ["new@example.com"]
