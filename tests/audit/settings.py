"""The project's settings with the audit app installed, for running tests/audit before
config.settings lists it: `pytest --ds=tests.audit.settings tests/audit`."""

from config.settings import *  # noqa: F403

if "audit" not in INSTALLED_APPS:  # noqa: F405
    INSTALLED_APPS = [*INSTALLED_APPS, "audit"]  # noqa: F405
