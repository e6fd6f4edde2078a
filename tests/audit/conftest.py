"""Fixtures of the audit tests."""

from tests.staff.conftest import member, shop  # noqa: F401  (fixtures used here)
