"""Errors as RFC 9457 problem+json (API) or as a translated page (web), in the reader's language."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from incentives import i18n
from incentives.errors import N_, DomainError, FieldError, ValidationFailed

PROBLEM_TYPE = "https://incentives.example/problems/"

# pydantic error types → our translatable messages; anything unlisted reads "Invalid value."
_PYDANTIC_MESSAGES = {
    "missing": N_("This field is required."),
    "extra_forbidden": N_("Unknown field."),
    "string_type": N_("Must be a string."),
    "int_type": N_("Must be an integer."),
    "int_parsing": N_("Must be an integer."),
    "int_from_float": N_("Must be an integer."),
    "float_type": N_("Must be a number."),
    "float_parsing": N_("Must be a number."),
    "bool_type": N_("Must be true or false."),
    "bool_parsing": N_("Must be true or false."),
    "list_type": N_("Must be a list."),
    "dict_type": N_("Must be an object."),
    "model_type": N_("Must be an object."),
    "model_attributes_type": N_("Must be an object."),
    "literal_error": N_("Must be one of: %(expected)s."),
    "enum": N_("Must be one of: %(expected)s."),
    "string_too_short": N_("Must not be empty."),
    "string_too_long": N_("Must be at most %(max_length)s characters long."),
    "too_long": N_("Must have at most %(max_length)s entries."),
    "greater_than_equal": N_("Must be at least %(ge)s."),
    "less_than_equal": N_("Must be at most %(le)s."),
    "greater_than": N_("Must be greater than %(gt)s."),
    "less_than": N_("Must be less than %(lt)s."),
    "string_pattern_mismatch": N_("Has the wrong format."),
    "value_error": N_("Invalid value."),
}


def field_errors_from_pydantic(exc: ValidationError) -> list[FieldError]:
    errors = []
    for error in exc.errors(include_url=False):
        kind = error["type"]
        ctx = {key: str(value) for key, value in (error.get("ctx") or {}).items()}
        if kind == "value_error" and "error" in ctx:
            # Our own validators raise ValueError with an N_() message id (see web/api/schemas.py).
            errors.append(FieldError(tuple(error["loc"]), ctx["error"]))
            continue
        errors.append(FieldError(tuple(error["loc"]), _PYDANTIC_MESSAGES.get(kind, N_("Invalid value.")), **ctx))
    return errors


def problem_body(error: DomainError, locale: str, instance: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE + error.code,
        "title": i18n.gettext(locale, error.title),
        "status": error.status,
        "detail": i18n.gettext(locale, error.detail, **error.params),
        "code": error.code,
        "instance": instance,
        **error.extra,
    }
    if isinstance(error, ValidationFailed):
        body["errors"] = [
            {"loc": list(item.loc), "msg": i18n.gettext(locale, item.msg, **item.params)} for item in error.errors
        ]
    return body


def problem_response(error: DomainError, request: Request) -> Response:
    locale = getattr(request.state, "locale", None) or "en"
    body = problem_body(error, locale, request.url.path)
    headers = {"Content-Language": locale}
    if error.status == 429:
        headers["Retry-After"] = "60"
    if error.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return Response(
        json.dumps(body, ensure_ascii=False),
        status_code=error.status,
        media_type="application/problem+json",
        headers=headers,
    )
