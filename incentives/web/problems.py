"""Errors as RFC 9457 problem+json (API) or as a translated page (web), in the reader's language."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from incentives import i18n
from incentives.errors import DomainError, ValidationFailed
from incentives.validation import field_errors_from_pydantic

__all__ = ["field_errors_from_pydantic", "problem_body", "problem_response"]

PROBLEM_TYPE = "https://incentives.example/problems/"
# The members RFC 9457 and API.md define; an error's extra member never replaces one of them.
STANDARD_MEMBERS = frozenset({"type", "title", "status", "detail", "code", "instance", "errors"})
# Where an extra member whose name is taken goes instead: `status` of a redemption becomes `extra_status`.
EXTRA_PREFIX = "extra_"


def problem_body(error: DomainError, locale: str, instance: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE + error.code,
        "title": i18n.gettext(locale, error.title),
        "status": error.status,
        "detail": i18n.gettext(locale, error.detail, **error.params),
        "code": error.code,
        "instance": instance,
    }
    for key, value in error.extra.items():
        body[EXTRA_PREFIX + key if key in STANDARD_MEMBERS else key] = i18n.translated(locale, value)
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
