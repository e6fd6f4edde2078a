"""The whole API fuzzed against its own OpenAPI schema: no 5xx, every answer documented.

schemathesis generates requests for every operation the schema lists at run time (so
endpoints added later are covered without touching this file), valid ones and invalid
ones, and sends them to the Django WSGI application as an anonymous client, a logged-in
customer (a device token) and a staff member (an admin session with its CSRF token).
Half of the requests have their path parameters replaced by objects that exist in the
shop fixture, so handlers run past their 404s. Each request runs in a savepoint that is
rolled back afterwards: every example sees the same shop, whatever the one before did.

Checks: not a server error; the status code is documented; the content type and the
body match the schema (4xx bodies match the `Error` component every operation gets).
Examples per operation are few and derandomized, so the run is repeatable and the whole
file stays within a couple of minutes on SQLite and PostgreSQL; raise
`FUZZ_EXAMPLES` locally to dig deeper. Every failure is collected and reported at once.
"""

import os
import warnings
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from rest_framework.utils import json
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "6"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
MODES = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]

pytestmark = pytest.mark.django_db

# Failures found in areas owned elsewhere, reported (as warnings) until fixed there:
# (method, path template, failure kind) → what is wrong. Anything not listed fails the test.
KNOWN_ELSEWHERE: dict[tuple[str, str, str], str] = {
    # e.g. ("GET", "/api/v1/staff/pickups/", "Response violates schema"): "orders: …",
}


class Rollback(Exception):
    """Raised to roll the savepoint of one example back."""


@contextmanager
def served_on_this_connection():
    """Serve requests on the test's own connection and transaction.

    Django closes "obsolete" connections around each request; inside the test's
    transaction that would drop the connection, so (like Django's own test client)
    the handlers are disconnected while the run lasts. Django's test client connects
    them again after each of its requests, so this wraps the run itself, not a fixture.
    """
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def wsgi_app():
    return get_wsgi_application()


def api_schema(app):
    raw = SchemaGenerator().get_schema(request=None, public=True)
    loaded = schemathesis.openapi.from_dict(json.loads(OpenApiJsonRenderer().render(raw)))
    loaded.app = app
    return loaded


def _fill_known(case, known: dict[str, list], pick: int) -> None:
    """Point path parameters and body references (SKUs, locations, carts) at real objects."""
    for name in list(case.path_parameters):
        values = known.get(name)
        if values:
            case.path_parameters[name] = values[pick % len(values)]
    stack = [case.body] if isinstance(case.body, dict | list) else []
    while stack:
        value = stack.pop()
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in list(items):
            if isinstance(item, dict | list):
                stack.append(item)
            elif isinstance(key, str) and known.get(f"body.{key}") and isinstance(item, str):
                values = known[f"body.{key}"]
                value[key] = values[pick % len(values)]


def _describe(case, response, exc: BaseException) -> str:
    first = str(exc).strip().splitlines()
    summary = " | ".join(line for line in first[:6] if line.strip())
    return (
        f"{case.method} {case.formatted_path} query={case.query!r} "
        f"body={str(case.body)[:200]!r} -> {getattr(response, 'status_code', '?')}: "
        f"{summary[:600]}"
    )


def fuzz(app, *, credentials: Callable[[], dict], known: dict[str, list]) -> list[str]:
    """Run every operation in both generation modes; return one line per distinct failure."""
    failures: dict[tuple, str] = {}
    statuses: Counter = Counter()
    known_seen: set[str] = set()
    schema = api_schema(app)
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in MODES:

            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                derandomize=True,
                database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
                verbosity=Verbosity.quiet,
                print_blob=False,
            )
            @given(case=operation.as_strategy(generation_mode=mode), pick=st.integers(-1, 3))
            def run(case, pick):
                if pick >= 0:
                    _fill_known(case, known, pick)
                response, failure = None, None
                try:
                    with transaction.atomic():
                        response = case.call(**credentials())
                        statuses[response.status_code] += 1
                        try:
                            case.validate_response(response, checks=CHECKS)
                        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001
                            failure = exc  # collected, not raised: every failure is reported
                        raise Rollback()
                except Rollback:
                    pass
                if failure is not None:
                    status = getattr(response, "status_code", None)
                    kinds = getattr(failure, "exceptions", [failure])
                    titles = {getattr(f, "kind_title", None) or type(f).__name__ for f in kinds}
                    where = (case.method, case.operation.path)
                    if all((*where, title) in KNOWN_ELSEWHERE for title in titles):
                        for title in titles:
                            known_seen.add(KNOWN_ELSEWHERE[(*where, title)])
                        return
                    key = (*where, status, tuple(sorted(titles)))
                    failures.setdefault(key, _describe(case, response, failure))

            try:
                with served_on_this_connection():
                    run()
            except Unsatisfiable:
                pass  # nothing to break in this mode (e.g. no parameter to make invalid)
    print(f"fuzz: {sum(statuses.values())} requests, by status {sorted(statuses.items())}")
    for known in sorted(known_seen):
        warnings.warn(f"known failure, to fix elsewhere: {known}", stacklevel=2)
    return sorted(failures.values())


def _report(failures: list[str]) -> str:
    return f"{len(failures)} distinct failures:\n" + "\n".join(failures)


def test_no_request_from_an_anonymous_client_breaks_the_server_or_the_schema(wsgi_app, world):
    failures = fuzz(wsgi_app, credentials=world.anonymous, known=world.known)
    assert not failures, _report(failures)


def test_no_request_from_a_logged_in_customer_breaks_the_server_or_the_schema(wsgi_app, world):
    failures = fuzz(wsgi_app, credentials=world.customer, known=world.known)
    assert not failures, _report(failures)


def test_no_request_from_a_staff_member_breaks_the_server_or_the_schema(wsgi_app, world):
    failures = fuzz(wsgi_app, credentials=world.staff, known=world.known)
    assert not failures, _report(failures)


def test_no_request_from_a_till_breaks_the_server_or_the_schema(wsgi_app, world):
    failures = fuzz(wsgi_app, credentials=world.terminal, known=world.known)
    assert not failures, _report(failures)
