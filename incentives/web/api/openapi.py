"""The OpenAPI 3.1 document, generated from the endpoint declarations and their pydantic models."""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from incentives import __version__
from incentives.web.api.base import Api

_STATUS_OF_CODE = {  # every error code of API.md and the status it comes with
    "unauthorized": "401",
    "forbidden": "403",
    "feedback_required": "403",
    "not_found": "404",
    "already_reserved": "409",
    "duplicate": "409",
    "idempotency_conflict": "409",
    "invalid_state": "409",
    "payload_too_large": "413",
    "insufficient_points": "422",
    "validation_error": "422",
    "invalid_expression": "422",
    "budget_exhausted": "422",
    "out_of_stock": "422",
    "rate_limited": "429",
}


def build_openapi(apis: list[Api]) -> dict[str, Any]:
    endpoints = [endpoint for api in apis for endpoint in api.endpoints]
    models = {m for e in endpoints for m in (e.body, e.response) if m is not None}
    _, schema = models_json_schema(
        [(model, "validation") for model in sorted(models, key=lambda m: m.__name__)],
        ref_template="#/components/schemas/{model}",
    )
    paths: dict[str, dict[str, Any]] = {}
    for e in endpoints:
        path = e.path.replace(":int}", "}")
        operation: dict[str, Any] = {
            "summary": e.summary,
            "operationId": e.handler.__name__,
            "security": [{"bearer": []}],
            "responses": {
                str(e.status): {
                    "description": "OK",
                    "content": {"application/json": {"schema": _ref(e.response)}} if e.response else {},
                },
                "401": _problem("unauthorized"),
                "404": _problem("not_found"),
            },
        }
        for code in e.errors:
            # A code of an area's own (not in API.md's list) is documented under the 4XX range.
            operation["responses"].setdefault(_STATUS_OF_CODE.get(code, "4XX"), _problem(code))
        if "{id}" in path:
            operation["parameters"] = [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}]
        if e.body is not None:
            operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(e.body)}}}
        if e.method == "POST":
            operation.setdefault("parameters", []).append(
                {"name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string"}}
            )
        paths.setdefault(path, {})[e.method.lower()] = operation
    components = {
        "schemas": {**schema.get("$defs", {}), "Problem": _PROBLEM_SCHEMA},
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "incentives integration API", "version": __version__},
        "paths": paths,
        "components": components,
    }


def _ref(model: type | None) -> dict[str, str]:
    assert model is not None
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _problem(code: str) -> dict[str, Any]:
    return {
        "description": code,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


_PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"loc": {"type": "array"}, "msg": {"type": "string"}},
            },
        },
    },
}
