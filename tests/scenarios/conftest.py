"""Fixtures for cross-channel journeys."""

import pytest

from tests.factories.orders import make_shop


@pytest.fixture
def shop(db):
    return make_shop()
