"""Fixtures of the audit tests. They need the `audit` app installed; until config.settings
lists it they run with `--ds=tests.audit.settings` and are skipped otherwise."""

import pytest
from django.apps import apps

from tests.staff.conftest import member, shop  # noqa: F401  (fixtures used here)


def pytest_collection_modifyitems(config, items):
    if apps.is_installed("audit"):
        return
    skip = pytest.mark.skip(reason="the audit app is not in INSTALLED_APPS")
    for item in items:
        if "tests/audit/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(skip)
