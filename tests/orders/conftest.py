"""Fixtures for the orders tests: a small shop with two stores and a warehouse."""

import pytest

from tests.factories.customers import CustomerWithLoginFactory
from tests.factories.orders import make_shop


@pytest.fixture
def shop(db):
    return make_shop()


@pytest.fixture
def customer(db):
    return CustomerWithLoginFactory()


@pytest.fixture
def customer_client(customer):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(customer.user)
    return client
