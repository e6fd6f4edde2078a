"""Shared fixtures: API clients, PostgreSQL-only marker handling, factories registration."""

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import override_settings
from rest_framework.test import APIClient

from tests.factories.customers import UserFactory


def pytest_collection_modifyitems(config, items):
    """Skip tests marked `postgres` on SQLite: they need real concurrent connections."""
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        return
    skip = pytest.mark.skip(
        reason="needs PostgreSQL: row locks and truly concurrent connections "
        "(set DATABASE_URL=postgres://…)"
    )
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def fast_password_hasher():
    # PBKDF2 at production strength costs ~0.3 s per hash; the suite hashes hundreds of times.
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture(autouse=True)
def fresh_throttles():
    # Throttle counters live in the cache: one test's requests must not slow down the next.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def staff_user(db):
    return UserFactory(is_staff=True, is_superuser=True)


@pytest.fixture
def staff_client(staff_user) -> APIClient:
    client = APIClient()
    client.force_authenticate(staff_user)
    return client


@pytest.fixture
def is_postgres() -> bool:
    return connection.vendor == "postgresql"
