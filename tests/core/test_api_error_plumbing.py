"""The error plumbing of core: the schema documents the error shape on every operation,
domain-level refusals by the database map to 4xx, and idempotency keys are checked."""

import pytest
from django.db import DataError, IntegrityError
from drf_spectacular.generators import SchemaGenerator

from core.api.exceptions import exception_handler

pytestmark = pytest.mark.django_db

HTTP_METHODS = {"get", "put", "post", "delete", "patch"}


def test_every_api_operation_documents_4xx_answers_in_the_error_shape():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    error = schema["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    assert error["properties"]["error"]["required"] == ["code", "message", "details"]
    operations = [
        (path, method, operation)
        for path, item in schema["paths"].items()
        if path.startswith("/api/v1/")
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]
    assert len(operations) > 20
    for path, method, operation in operations:
        for status, response in operation["responses"].items():
            if str(status).startswith("4"):
                ref = response["content"]["application/json"]["schema"]["$ref"]
                assert ref == "#/components/schemas/Error", (method, path, status)
        assert "4XX" in operation["responses"], (method, path)


def test_a_value_the_database_refuses_is_a_400_not_a_500():
    response = exception_handler(DataError("value too long for type character varying(64)"), {})
    assert response.status_code == 400
    assert response.data["error"]["code"] == "invalid_value"


def test_a_check_constraint_refusal_is_a_422_naming_the_constraint():
    response = exception_handler(
        IntegrityError("CHECK constraint failed: stock_level_on_hand_bounded"), {}
    )
    assert response.status_code == 422
    assert response.data["error"]["code"] == "value_out_of_range"
    assert response.data["error"]["details"] == {"constraint": "stock_level_on_hand_bounded"}


def test_other_integrity_errors_stay_server_errors_to_be_seen():
    assert exception_handler(IntegrityError("UNIQUE constraint failed: x.y"), {}) is None
