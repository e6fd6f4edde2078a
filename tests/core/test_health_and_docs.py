"""The OpenAPI schema and docs are served (the health checks: tests/ops)."""

import pytest

pytestmark = pytest.mark.django_db


def test_openapi_schema_lists_the_catalog_endpoints(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/api/v1/catalog/products/" in paths
    assert "/api/v1/catalog/barcodes/{code}/" in paths


def test_interactive_docs_page_is_served(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()
