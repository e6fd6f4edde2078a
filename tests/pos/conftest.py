"""Fixtures of the POS tests: the staff tests' members of staff in their roles, and a shop."""

from tests.staff.conftest import member, shop  # noqa: F401  (fixtures shared with tests/staff)
