"""Fixtures of the report tests: staff of each role (see tests/staff/conftest.py)."""

from tests.staff.conftest import member, shop  # noqa: F401  (fixtures used here)
