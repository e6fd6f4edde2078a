"""Fixtures of the loyalty tests: the rules in force and a customer."""

import pytest

from tests.factories.customers import CustomerFactory
from tests.factories.loyalty import LoyaltyRulesFactory


@pytest.fixture(autouse=True)
def fast_password_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def rules(db):
    """The default programme: 1 point per unit paid, 1 point = 0.10, 50 % max, 365 days."""
    return LoyaltyRulesFactory()


@pytest.fixture
def customer(db):
    return CustomerFactory()
