"""Errors a user can cause. Each has a stable `code`, an HTTP status and a translatable message.

Each error is declared once, as a class: its `code` and `status` are class attributes, and both the
problem+json answer and the OpenAPI document read them from the class (API.md lists the codes).
Messages are marked with `N_` for extraction and translated where they are shown, in the reader's
language; `params` are filled in after translation.
"""

from __future__ import annotations

from typing import Any, ClassVar


def N_(message: str) -> str:
    """Mark a string for translation without translating it now."""
    return message


class Msg:
    """A message id with its parameters, translated where it is shown (it may stand in another's params)."""

    __slots__ = ("id", "params")

    def __init__(self, message_id: str, **params: Any) -> None:
        self.id = message_id
        self.params = params

    def __str__(self) -> str:  # English, for logs
        return self.id % self.params if self.params else self.id

    def __repr__(self) -> str:
        return f"Msg({self.id!r}, {self.params!r})"


class DomainError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = N_("The request cannot be processed.")

    def __init__(
        self,
        detail: str | None = None,
        *,
        params: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.params = params or {}
        self.extra = extra or {}


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"
    title = N_("Authentication required.")


class Forbidden(DomainError):
    status = 403
    code = "forbidden"
    title = N_("You are not allowed to do this.")


class NotFound(DomainError):
    status = 404
    code = "not_found"
    title = N_("Not found.")


class Duplicate(DomainError):
    status = 409
    code = "duplicate"
    title = N_("This already exists.")


class InvalidState(DomainError):
    status = 409
    code = "invalid_state"
    title = N_("This is not possible in the current state.")


class IdempotencyConflict(DomainError):
    status = 409
    code = "idempotency_conflict"
    title = N_("This Idempotency-Key was already used for another request.")


class PayloadTooLarge(DomainError):
    status = 413
    code = "payload_too_large"
    title = N_("The request body is too large.")


class UnsupportedMediaType(DomainError):
    status = 415
    code = "unsupported_media_type"
    title = N_("The request body must be JSON (Content-Type: application/json).")


class ValidationFailed(DomainError):
    status = 422
    code = "validation_error"
    title = N_("The input is not valid.")

    def __init__(self, errors: list[FieldError], detail: str | None = None) -> None:
        super().__init__(detail)
        self.errors = errors


class RateLimited(DomainError):
    status = 429
    code = "rate_limited"
    title = N_("Too many attempts. Please wait a few minutes and try again.")


class FieldError:
    """One problem with one input field; `msg` is an untranslated message id, `params` fill it in."""

    __slots__ = ("loc", "msg", "params")

    def __init__(self, loc: tuple[str | int, ...], msg: str, **params: Any) -> None:
        self.loc = loc
        self.msg = msg
        self.params = params

    def __repr__(self) -> str:
        return f"FieldError({self.loc!r}, {self.msg!r})"
