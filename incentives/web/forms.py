"""How pages say what went wrong: a domain error as translated messages by form field, or as one message."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from starlette.requests import Request

from incentives import i18n
from incentives.errors import N_, DomainError, FieldError, ValidationFailed
from incentives.notifications.services import localize
from incentives.rules.errors import InvalidExpression


def _first_part(loc: Sequence[str | int]) -> str:
    return str(loc[0]) if loc else ""


def form_errors(
    request: Request,
    error: DomainError,
    field_of: Callable[[Sequence[str | int]], str] = _first_part,
) -> dict[str, str]:
    """Translated messages by form field ("" for the form as a whole), the first per field. A field's name is
    `field_of` its error location (by default the location's first part); an expression error sits at its
    field, with its line and column."""
    locale: str = request.state.locale
    if isinstance(error, InvalidExpression):
        message = N_("Line %(line)s, column %(column)s: %(problem)s")
        extra = error.extra
        return {
            str(extra["field"]): i18n.gettext(
                locale, message, line=extra["line"], column=extra["column"], problem=extra["problem"]
            )
        }
    if isinstance(error, ValidationFailed):
        return field_messages(request, error.errors, field_of)
    return {"": i18n.gettext(locale, error.detail, **error.params)}


def field_messages(
    request: Request,
    errors: Sequence[FieldError],
    field_of: Callable[[Sequence[str | int]], str] = _first_part,
) -> dict[str, str]:
    """Translated messages by form field, the first per field."""
    locale: str = request.state.locale
    found: dict[str, str] = {}
    for item in errors:
        found.setdefault(field_of(item.loc), i18n.gettext(locale, item.msg, **item.params))
    return found


def error_message(request: Request, error: DomainError) -> str:
    """One message for a fragment that has no field to put it at: for invalid input the first field's, else the
    error's own with its parameters in the reader's number and date format."""
    locale: str = request.state.locale
    if isinstance(error, ValidationFailed) and error.errors:
        first = error.errors[0]
        return i18n.gettext(locale, first.msg, **first.params)
    return i18n.gettext(locale, error.detail, **{key: localize(value, locale) for key, value in error.params.items()})
