"""Fixtures of the customers tests: registered customers and their logged-in API clients."""

import pytest
from rest_framework.test import APIClient

from customers.services import auth_login, customer_register

PASSWORD = "correct-horse-battery"


def register(**kwargs):
    kwargs.setdefault("password", PASSWORD)
    return customer_register(**kwargs)


def client_for(customer) -> APIClient:
    """An API client logged in with a real token, as the app would be."""
    login = customer.email or customer.phone
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Token {auth_login(login=login, password=PASSWORD).token}"
    )
    return client


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
