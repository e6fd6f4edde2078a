"""Factories for the POS: a registered terminal of a store, with its token."""

from pos.services import terminal_register
from tests.factories.inventory import LocationFactory

_count = iter(range(1, 1_000_000))


def make_terminal(location=None, *, code: str | None = None):
    """(terminal, token) — registered through the service, like staff do in the admin."""
    location = location or LocationFactory()
    return terminal_register(code=code or f"T-{next(_count):04d}", location=location)


def terminal_client(token: str):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Terminal {token}")
    return client


def settle_change_log(timeout: float = 30) -> None:
    """Wait until every change written so far is below the feed horizon.

    On PostgreSQL the horizon is cluster-wide: another database's open transaction (a
    parallel test run, a migration) holds it back. The feed then lags but never loses; a
    test that expects a change to be served at once waits for the horizon first.
    """
    import time

    from core.changelog import safe_horizon
    from core.models import Change

    last = Change.objects.order_by("-xid").values_list("xid", flat=True).first()
    deadline = time.monotonic() + timeout
    while last and (safe_horizon() or 0) <= last and time.monotonic() < deadline:
        time.sleep(0.05)
