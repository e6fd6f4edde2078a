"""The customer's consent to an assisted sale: a one-time code sent to a contact of their
profile, kept only as an HMAC, good for that customer's consent only, with the attempts and
sends of every other verification code."""

import pytest
from django.core import mail

from customers.errors import ContactUnreachable, InvalidCode, VerificationNotFound
from customers.models import ContactVerification
from customers.services import (
    assisted_sale_consent_start,
    assisted_sale_consent_take,
    contact_change_complete,
)
from tests.customers.conftest import SMS_SENT, last_code
from tests.factories.customers import CustomerFactory

pytestmark = pytest.mark.django_db


def test_the_code_goes_to_the_customers_phone_when_an_sms_gateway_is_configured(anna, sms, deliver):
    verification = deliver(assisted_sale_consent_start, customer=anna)

    assert (verification.field, verification.value) == ("phone", anna.phone)
    [message] = SMS_SENT
    assert "placing an order for you" in message.body
    code = last_code(anna.phone)
    verification.refresh_from_db()
    assert verification.purpose == ContactVerification.Purpose.ASSISTED_SALE
    assert verification.customer == anna
    assert verification.code_hash and code not in verification.code_hash
    assert mail.outbox == []


def test_without_an_sms_gateway_the_code_goes_to_the_customers_email(anna, deliver):
    verification = deliver(assisted_sale_consent_start, customer=anna)

    assert (verification.field, verification.value) == ("email", anna.email)
    assert last_code(anna.email)


def test_a_customer_no_channel_reaches_gets_no_verification():
    with pytest.raises(ContactUnreachable):
        assisted_sale_consent_start(customer=CustomerFactory())  # phone only, email channel

    assert not ContactVerification.objects.exists()


def test_the_right_code_completes_it_once_and_a_wrong_one_is_counted(anna, deliver):
    verification = deliver(assisted_sale_consent_start, customer=anna)
    code = last_code(anna.email)
    wrong = "111111" if code != "111111" else "222222"

    none, error = assisted_sale_consent_take(
        customer=anna, verification_id=verification.pk, code=wrong
    )
    done, no_error = assisted_sale_consent_take(
        customer=anna, verification_id=verification.pk, code=code
    )
    again, replay = assisted_sale_consent_take(
        customer=anna, verification_id=verification.pk, code=code
    )

    assert none is None and isinstance(error, InvalidCode)
    assert done == verification and no_error is None
    assert done.attempts == 1 and done.completed_at is not None
    assert again is None and isinstance(replay, VerificationNotFound)


def test_the_consent_code_proves_nothing_else_and_nobody_elses_consent(anna, ben, deliver):
    verification = deliver(assisted_sale_consent_start, customer=anna)
    code = last_code(anna.email)

    _none, for_ben = assisted_sale_consent_take(
        customer=ben, verification_id=verification.pk, code=code
    )
    with pytest.raises(VerificationNotFound):
        contact_change_complete(customer=anna, verification_id=verification.pk, code=code)

    assert isinstance(for_ben, VerificationNotFound)
    verification.refresh_from_db()
    assert verification.completed_at is None and verification.attempts == 0
