"""Fixtures for the returns tests: the orders' small shop, loyalty rules, a customer."""

import pytest

from tests.factories.customers import CustomerWithLoginFactory
from tests.factories.loyalty import LoyaltyRulesFactory
from tests.factories.orders import make_shop


@pytest.fixture
def shop(db):
    return make_shop()


@pytest.fixture
def rules(db):
    return LoyaltyRulesFactory()


@pytest.fixture
def customer(db):
    return CustomerWithLoginFactory()
