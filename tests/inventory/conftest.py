"""Inventory test fixtures: the ledger must verify after every test that touched the database."""

import pytest

from inventory.services import verify_ledger


@pytest.fixture(autouse=True)
def ledger_verifies_after_every_scenario(request):
    """Run `verify_ledger()` when a test ends: every scenario must leave the ledger consistent."""
    marker = request.node.get_closest_marker("django_db")
    transactional = "transactional_db" in request.fixturenames or (
        marker is not None and marker.kwargs.get("transaction")
    )
    uses_db = marker is not None or transactional or "db" in request.fixturenames
    if uses_db:
        request.getfixturevalue("transactional_db" if transactional else "db")
    yield
    if uses_db and "ledger_broken_on_purpose" not in request.fixturenames:
        assert verify_ledger() == []


@pytest.fixture
def ledger_broken_on_purpose():
    """Requested by tests that corrupt the ledger to prove `verify_ledger` notices."""
