"""Exception handlers: every error a user can cause becomes a translated page or problem+json."""

from __future__ import annotations

import functools
import logging
from typing import cast

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from incentives.errors import N_, DomainError, Forbidden, NotFound, Unauthorized
from incentives.web.context import is_api
from incentives.web.headers import security_headers
from incentives.web.problems import problem_response
from incentives.web.templating import render, see_other

log = logging.getLogger(__name__)


class MethodNotAllowed(DomainError):
    status = 405
    code = "method_not_allowed"
    title = N_("This method is not allowed here.")


class ServerError(DomainError):
    status = 500
    code = "server_error"
    title = N_("Something went wrong on our side. Please try again later.")


async def error_response(request: Request, error: DomainError) -> Response:
    if is_api(request.scope):
        return problem_response(error, request)
    if isinstance(error, Unauthorized):
        return see_other(f"/login?next={request.url.path}")
    return render(request, "errors/error.html", {"error": error}, status_code=error.status, block="content")


async def on_domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    return await error_response(request, exc)


async def on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    error: DomainError
    if exc.status_code == 404:
        error = NotFound()
    elif exc.status_code == 405:
        error = MethodNotAllowed()
    elif exc.status_code == 403:
        error = Forbidden()
    else:
        error = _http_error(exc.status_code)()
    return await error_response(request, error)


@functools.cache
def _http_error(status: int) -> type[DomainError]:
    """Another status Starlette raises (400 for a malformed form body) as an error class of that status."""
    return cast(type[DomainError], type(f"HttpError{status}", (DomainError,), {"status": status}))


async def on_server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    if not hasattr(request.state, "locale"):
        request.state.locale = "en"
    response = await error_response(request, ServerError())
    # A 500 is answered outside the middleware stack (Starlette's ServerErrorMiddleware): add the headers here.
    settings = getattr(request.state, "settings", None)
    for name, value in security_headers(bool(getattr(settings, "production", True))).items():
        response.headers.setdefault(name, value)
    return response
