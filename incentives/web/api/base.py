"""How an API endpoint is declared: auth, JSON body validation, Idempotency-Key, OpenAPI metadata.

`Api.route` registers a handler once; the same declaration feeds the router, the request
validation and the OpenAPI document, so they cannot drift apart. `errors=` names the DomainError
classes a handler raises; the document takes each one's status and code from its class.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from incentives import idempotency
from incentives.errors import N_, DomainError, FieldError, PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from incentives.web.context import current_db, current_principal
from incentives.web.ids import int_in_range
from incentives.web.jsonbody import INT_RANGE, MAX_INT_DIGITS, load_json
from incentives.web.problems import field_errors_from_pydantic

M = TypeVar("M", bound=BaseModel)
Handler = Callable[[Request], Awaitable[Response]]


@dataclass
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    errors: tuple[type[DomainError], ...] = ()
    body_required: bool = True


@dataclass
class Api:
    endpoints: list[Endpoint] = field(default_factory=list)

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        body: type[BaseModel] | None = None,
        response: type[BaseModel] | None = None,
        status: int = 200,
        errors: tuple[type[DomainError], ...] = (),
        body_required: bool = True,
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.endpoints.append(
                Endpoint(method, path, handler, summary, body, response, status, errors, body_required)
            )
            return handler

        return register

    def routes(self) -> list[Route]:
        return [
            Route(e.path, _idempotent(e.handler) if e.method == "POST" else e.handler, methods=[e.method])
            for e in self.endpoints
        ]


# The API reads the caller and the database like every page does.
principal = current_principal
database = current_db


async def parse_body(request: Request, model: type[M]) -> M:
    """The JSON body validated against `model`, or a 415/422 problem naming each bad field."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise UnsupportedMediaType()
    data = load_json(await request.body())  # out-of-range numbers, NUL and deep nesting are 422 here
    if not isinstance(data, dict):
        raise ValidationFailed([FieldError(("body",), N_("Must be an object."))])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(field_errors_from_pydantic(exc)) from exc


INTEGER = re.compile(f"-?[0-9]{{1,{MAX_INT_DIGITS}}}")
DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def path_id(request: Request, name: str = "id") -> int:
    value: int = request.path_params[name]  # `{id:id}` (web/ids.py): a number in the ids' range
    return value


def query_int(request: Request, name: str) -> int | None:
    """An integer query parameter, None when absent; anything else, or one beyond what a column holds, is a
    422 naming the parameter."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if not INTEGER.fullmatch(raw):
        raise ValidationFailed([FieldError(("query", name), N_("Must be an integer."))])
    value = int(raw)
    if not int_in_range(value):
        raise ValidationFailed([FieldError(("query", name), N_("Must be between %(min)s and %(max)s."), **INT_RANGE)])
    return value


def page_limit(request: Request) -> int:
    """`?limit=` of a list: 50 by default, 1 to 500 (API.md conventions)."""
    limit = query_int(request, "limit")
    if limit is None:
        return DEFAULT_LIMIT
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed([FieldError(("query", "limit"), N_("Must be between 1 and 500."))])
    return limit


class OrjsonResponse(JSONResponse):
    """JSON rendered by orjson: several times faster than the standard library's encoder on long lists, and
    datetimes go in as they are (RFC 3339, UTC as `Z`, the format API.md shows) instead of as strings made one
    by one."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_UTC_Z)


def json_response(data: Any, status_code: int = 200) -> JSONResponse:
    return OrjsonResponse(data, status_code=status_code)


# Answers about the request's form rather than its outcome: never stored under an Idempotency-Key.
MALFORMED = (ValidationFailed, UnsupportedMediaType, PayloadTooLarge)


def _idempotent(handler: Handler) -> Handler:
    """Honour Idempotency-Key: replay the first answer to the same request, refuse a different one."""

    async def wrapped(request: Request) -> Response:
        key = request.headers.get("idempotency-key")
        if key is None:
            return await handler(request)
        who = principal(request)
        if not key or len(key) > idempotency.MAX_KEY_LENGTH:
            raise ValidationFailed([FieldError(("header", "Idempotency-Key"), N_("Must be 1 to 200 characters long."))])
        db = database(request)
        body = await request.body()
        stored = await idempotency.claim(
            db, who.user_id, key, idempotency.fingerprint(request.method, request.url.path, body)
        )
        if stored is not None:
            status, content = stored
            media = "application/problem+json" if status >= 400 else "application/json"
            return Response(content, status_code=status, media_type=media, headers={"Idempotent-Replayed": "true"})
        try:
            response = await handler(request)
        except MALFORMED:
            # A request refused for its form is not kept: the key stays free for the corrected request.
            await idempotency.release(db, who.user_id, key)
            raise
        except DomainError as error:
            from incentives.web.problems import problem_response

            response = problem_response(error, request)
        except BaseException:
            await idempotency.release(db, who.user_id, key)
            raise
        if response.status_code >= 500:
            await idempotency.release(db, who.user_id, key)
        else:
            await idempotency.complete(db, who.user_id, key, response.status_code, bytes(response.body))
        return response

    return wrapped
