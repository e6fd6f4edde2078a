"""/healthz answers without the database; /readyz checks database, broker and migrations."""

import socket

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from config.celery import app as celery_app
from ops import checks

pytestmark = pytest.mark.django_db

WRITES = ("insert", "update", "delete")


def _writes(queries) -> list[str]:
    return [q["sql"] for q in queries if q["sql"].lstrip().lower().startswith(WRITES)]


@pytest.fixture(autouse=True)
def migrations_not_remembered(monkeypatch):
    # Each test reads the migration state afresh.
    monkeypatch.setattr(checks, "_migrations_applied", set())


def test_healthz_answers_ok_without_touching_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"].startswith("max-age=0")


def test_readyz_is_ready_when_the_database_answers_and_every_migration_is_applied(client):
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"] == {"ok": True}
    assert body["checks"]["migrations"] == {"ok": True, "unapplied": 0}
    # The tests run tasks eagerly (no broker configured): readiness says so.
    assert body["checks"]["broker"] == {"ok": True, "mode": "eager"}
    assert queries.captured_queries and not _writes(queries.captured_queries)


def test_readyz_is_503_naming_the_migration_that_is_not_applied(client):
    with override_settings(MIGRATION_MODULES={"ops": "tests.ops.unapplied_migrations"}):
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/readyz")
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "not_ready"
    migrations = error["details"]["checks"]["migrations"]
    assert migrations == {"ok": False, "unapplied": 1, "first": ["ops.0001_initial"]}
    assert not _writes(queries.captured_queries)


def test_readyz_remembers_applied_migrations_and_stops_reading_them(client):
    client.get("/readyz")
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/readyz").status_code == 200
    assert len(queries.captured_queries) == 1  # the SELECT 1


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the block ends


def test_readyz_is_503_when_the_broker_does_not_answer(client, monkeypatch):
    monkeypatch.setattr(celery_app.conf, "broker_url", f"redis://127.0.0.1:{_closed_port()}/0")
    with override_settings(CELERY_TASK_ALWAYS_EAGER=False):
        response = client.get("/readyz")
    assert response.status_code == 503
    broker = response.json()["error"]["details"]["checks"]["broker"]
    assert broker["ok"] is False and broker["error"]


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


def test_readyz_reaches_a_real_redis_broker(client, monkeypatch):
    if not _redis_up():
        pytest.skip("needs Redis on 127.0.0.1:6379")
    monkeypatch.setattr(celery_app.conf, "broker_url", "redis://127.0.0.1:6379/14")
    with override_settings(CELERY_TASK_ALWAYS_EAGER=False):
        response = client.get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json()["checks"]["broker"] == {"ok": True}


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_refuse_writes_by_method(client, path):
    assert client.post(path).status_code == 405
