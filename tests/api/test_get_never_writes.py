"""A GET never writes: every GET the OpenAPI schema lists, run with data present, as an
anonymous client, a logged-in customer and a staff member, executes no INSERT, UPDATE or
DELETE. Endpoints added later are covered as soon as the schema lists them.

A read that writes (the cart GET once stored the quoted total) turns every page view into
row locks and write traffic, and lets a crawler or a prefetching browser change state.
"""

import itertools
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE|REPLACE|MERGE)\b", re.IGNORECASE)
# Authentication's own bookkeeping, not the resource's state: a device token notes when
# it was last used, at most once a minute (a conditional UPDATE that usually matches
# nothing). Listed by its exact shape so that no other write can hide behind it.
ALLOWED = [re.compile(r'^UPDATE "customers_loginsession" SET "last_used_at" = ')]
PARAM = re.compile(r"{(\w+)}")


def get_paths() -> list[str]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return sorted(path for path, item in schema["paths"].items() if "get" in item)


def concrete_urls(path: str, known: dict[str, list]) -> list[str]:
    """The path with its parameters filled by every known value (and an unknown one)."""
    names = PARAM.findall(path)
    choices = [[*known.get(name, []), "unknown-1"] for name in names]
    urls = []
    for values in itertools.product(*choices):
        url = path
        for name, value in zip(names, values, strict=True):
            url = url.replace("{" + name + "}", str(value), 1)
        urls.append(url)
    return urls


def writes_of(client: APIClient, url: str) -> tuple[int, list[str]]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    writes = [
        q["sql"]
        for q in queries.captured_queries
        if WRITE.match(q["sql"]) and not any(allowed.match(q["sql"]) for allowed in ALLOWED)
    ]
    return response.status_code, writes


def test_the_schema_lists_the_gets_this_test_relies_on():
    paths = get_paths()
    assert "/api/v1/carts/{token}/" in paths
    assert "/api/v1/catalog/products/" in paths
    assert "/api/v1/me/loyalty/" in paths


def test_no_get_endpoint_writes_to_the_database(world):
    customer = APIClient()
    customer.credentials(HTTP_AUTHORIZATION=world.customer()["headers"]["Authorization"])
    staff = APIClient()
    staff.force_authenticate(world.staff_user)
    till = APIClient()
    till.credentials(HTTP_AUTHORIZATION=world.terminal()["headers"]["Authorization"])
    clients = {"anonymous": APIClient(), "customer": customer, "staff": staff, "till": till}

    offenders, answered = [], 0
    for path in get_paths():
        for url in concrete_urls(path, world.known):
            for who, client in clients.items():
                status, writes = writes_of(client, url)
                answered += status == 200
                if writes:
                    offenders.append(f"{who} GET {url} -> {status}: {writes[0][:160]}")
    assert answered > 20  # the data is there: most endpoints answered with content
    assert not offenders, "\n".join(offenders)
