"""Helpers shared by the HTML forms of every area."""

from __future__ import annotations

from starlette.requests import Request

from incentives import i18n
from incentives.errors import DomainError, ValidationFailed


def form_errors(request: Request, error: DomainError) -> dict[str, str]:
    """A domain error as translated messages by form field ("" for the form as a whole); the first per field."""
    locale: str = request.state.locale
    if isinstance(error, ValidationFailed):
        found: dict[str, str] = {}
        for item in error.errors:
            found.setdefault(str(item.loc[0]) if item.loc else "", i18n.gettext(locale, item.msg, **item.params))
        return found
    return {"": i18n.gettext(locale, error.detail, **error.params)}
