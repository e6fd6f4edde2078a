"""Fixtures of the customers tests: registered customers, their API clients, sent codes.

`register` makes a login directly (its contacts taken as proven), as seeding does; the
API path with codes is exercised through `sent_codes` and the fake SMS gateway.
"""

import re

import pytest
from django.core import mail
from rest_framework.test import APIClient

from core.messaging import Message
from customers.services import auth_login, customer_register

PASSWORD = "correct-horse-battery"
EMAIL_AND_SMS = ["core.messaging.EmailChannel", "tests.customers.conftest.FakeSms"]

SMS_SENT: list[Message] = []


class FakeSms:
    """Stands in for an SMS gateway (outside the system): keeps what it would send."""

    channel = "sms"

    def recipient(self, message: Message) -> str:
        return message.phone

    def send(self, message: Message) -> None:
        SMS_SENT.append(message)


def register(**kwargs):
    kwargs.setdefault("password", PASSWORD)
    return customer_register(**kwargs)


def client_for(customer, *, device: str = "") -> APIClient:
    """An API client logged in with a real token, as the app would be."""
    login = customer.email or customer.phone
    client = APIClient()
    token = auth_login(login=login, password=PASSWORD, device=device).token
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def codes_sent_to(contact: str) -> list[str]:
    """The codes the messages to this email or phone carried, oldest first."""
    bodies = [m.body for m in mail.outbox if contact in m.to]
    bodies += [m.body for m in SMS_SENT if m.phone == contact]
    return [found for body in bodies for found in re.findall(r"code is (\d{6})", body)]


def last_code(contact: str) -> str:
    codes = codes_sent_to(contact)
    assert codes, f"no code was sent to {contact}"
    return codes[-1]


@pytest.fixture
def sms(settings):
    SMS_SENT.clear()
    settings.CUSTOMER_CODE_CHANNELS = EMAIL_AND_SMS
    yield SMS_SENT
    SMS_SENT.clear()


@pytest.fixture
def deliver(django_capture_on_commit_callbacks):
    """Run what a request queued on commit (the code messages), as the worker would."""

    def run(call, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return call(*args, **kwargs)

    return run


@pytest.fixture
def anna(db):
    return register(email="anna@example.com", phone="+4915111111111", first_name="Anna")


@pytest.fixture
def ben(db):
    return register(email="ben@example.com", phone="+4915122222222", first_name="Ben")


@pytest.fixture
def anna_client(anna) -> APIClient:
    return client_for(anna)


@pytest.fixture
def ben_client(ben) -> APIClient:
    return client_for(ben)
