"""OpenAPI schema post-processing: every API operation documents its error responses.

Any operation can answer a 4xx (validation, auth, not found, conflict, throttling, a
refused body), always in the one error shape. The views document their success bodies
and name their notable errors; this hook adds the `Error` component and a `4XX`
response with it to every operation, and gives the error shape to any 4xx response a
view documented without a body, so clients (and the schemathesis run in the test suite)
can rely on the schema for every answer but a 5xx, which must never happen.
"""

from typing import Any

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": 'Every API error: {"error": {"code", "message", "details"}}.',
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string", "description": "Stable, machine-readable code."},
                "message": {"type": "string", "description": "Human-readable, translated."},
                "details": {
                    "type": "object",
                    "additionalProperties": True,
                    "description": "Error-specific data, e.g. `fields` of a validation error.",
                },
            },
            "required": ["code", "message", "details"],
        }
    },
    "required": ["error"],
}
ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def add_error_responses(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    for path, item in result.get("paths", {}).items():
        if not path.startswith("/api/"):
            continue
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            responses = operation.setdefault("responses", {})
            for status, response in responses.items():
                if str(status).startswith("4") and "content" not in response:
                    response["content"] = ERROR_CONTENT
            responses.setdefault(
                "4XX", {"description": "An error, in the error shape.", "content": ERROR_CONTENT}
            )
    return result
