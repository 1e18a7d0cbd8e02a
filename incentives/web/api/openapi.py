"""The OpenAPI 3.1 document, generated from the endpoint declarations and their pydantic models."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from incentives import __version__
from incentives.errors import (
    DomainError,
    IdempotencyConflict,
    PayloadTooLarge,
    Unauthorized,
    UnsupportedMediaType,
    ValidationFailed,
)
from incentives.web.api.base import Api, Endpoint
from incentives.web.ids import MAX_ID

# What every call, every call with a JSON body and every POST (Idempotency-Key) may answer besides
# the errors its handler declares.
EVERY_CALL: tuple[type[DomainError], ...] = (Unauthorized,)
JSON_BODY: tuple[type[DomainError], ...] = (PayloadTooLarge, UnsupportedMediaType, ValidationFailed)
IDEMPOTENT: tuple[type[DomainError], ...] = (IdempotencyConflict, ValidationFailed)
ID_PARAM = re.compile(r"\{(\w+):id\}")  # a route's `{name:id}` (web/ids.py) is the document's `{name}`


def build_openapi(apis: list[Api]) -> dict[str, Any]:
    endpoints = [endpoint for api in apis for endpoint in api.endpoints]
    models = {m for e in endpoints for m in (e.body, e.response) if m is not None}
    refs, schema = models_json_schema(
        [(model, "validation") for model in sorted(models, key=lambda m: m.__name__)],
        ref_template="#/components/schemas/{model}",
    )

    def _ref(model: type[BaseModel] | None) -> dict[str, str]:
        # pydantic names two models of one name by their modules; the reference it made says which
        assert model is not None
        return {"$ref": refs[model, "validation"]["$ref"]}

    paths: dict[str, dict[str, Any]] = {}
    for e in endpoints:
        path = ID_PARAM.sub(r"{\1}", e.path)
        operation: dict[str, Any] = {
            "summary": e.summary,
            "operationId": e.handler.__name__,
            "security": [{"bearer": []}],
            "responses": {
                str(e.status): {
                    "description": "OK",
                    "content": {"application/json": {"schema": _ref(e.response)}} if e.response else {},
                },
                **error_responses(e),
            },
        }
        id_schema = {"type": "integer", "minimum": 0, "maximum": MAX_ID}
        names = ID_PARAM.findall(e.path)
        if names:
            operation["parameters"] = [
                {"name": name, "in": "path", "required": True, "schema": id_schema} for name in names
            ]
        if e.body is not None:
            operation["requestBody"] = {
                "required": e.body_required,
                "content": {"application/json": {"schema": _ref(e.body)}},
            }
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


def error_responses(endpoint: Endpoint) -> dict[str, Any]:
    """One response per error status of the call, naming the codes its error classes answer with."""
    errors = [*EVERY_CALL, *endpoint.errors]
    if endpoint.body is not None:
        errors += JSON_BODY
    if endpoint.method == "POST":
        errors += IDEMPOTENT
    by_status: dict[int, dict[str, type[DomainError]]] = {}
    for error in errors:
        known = by_status.setdefault(error.status, {}).setdefault(error.code, error)
        if known is not error:
            raise ValueError(f"{known.__name__} and {error.__name__} both declare the code {error.code!r}")
    return {str(status): _problem(status, list(by_code.values())) for status, by_code in sorted(by_status.items())}


def _problem(status: int, errors: list[type[DomainError]]) -> dict[str, Any]:
    errors = sorted(errors, key=lambda error: error.code)
    codes = [error.code for error in errors]
    return {
        "description": "; ".join(f"`{error.code}`: {error.title}" for error in errors),
        "x-error-codes": codes,
        "content": {
            "application/problem+json": {
                "schema": {
                    "allOf": [
                        {"$ref": "#/components/schemas/Problem"},
                        {"properties": {"status": {"const": status}, "code": {"enum": codes}}},
                    ]
                }
            }
        },
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
