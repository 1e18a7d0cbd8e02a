"""Translations (gettext catalogs under locales/), locale negotiation and Babel formatting."""

from __future__ import annotations

import datetime as dt
import functools
import io
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_date as _format_date
from babel.dates import format_datetime as _format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import NumberFormatError, format_currency, format_decimal, parse_decimal
from babel.support import NullTranslations, Translations

from incentives.config import SUPPORTED_LOCALES
from incentives.errors import Msg

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
BABEL_LOCALE = {"de": "de_DE", "en": "en_GB"}
TIMEZONE = "Europe/Berlin"


@functools.cache
def translations(locale: str) -> NullTranslations:
    """The catalog of `locale`, compiled from its .po file in memory, so no build step can go stale."""
    po = LOCALES_DIR / locale / "LC_MESSAGES" / "messages.po"
    if not po.exists():
        return NullTranslations()
    with po.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


def gettext(locale: str, message: str, **params: Any) -> str:
    """`message` in `locale`, filled with `params`; a parameter that is itself a Msg is translated too."""
    text = translations(locale).gettext(message)
    if not params:
        return text
    return text % {key: translated(locale, value) for key, value in params.items()}


def translated(locale: str, value: Any) -> Any:
    return gettext(locale, value.id, **value.params) if isinstance(value, Msg) else value


def ngettext(locale: str, singular: str, plural: str, n: int, **params: Any) -> str:
    text = translations(locale).ngettext(singular, plural, n)
    return text % {"num": n, **params}


def parse_accept_language(header: str | None) -> str | None:
    """The first supported language in an Accept-Language header, honouring q-values."""
    if not header:
        return None
    choices: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")):
        lang, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        primary = lang.strip().split("-")[0].lower()
        if primary in SUPPORTED_LOCALES and quality > 0:
            choices.append((-quality, index, primary))
    return min(choices)[2] if choices else None


def negotiate_locale(
    *,
    user_setting: str | None,
    explicit_choice: str | None,
    accept_language: str | None,
    program_default: str | None,
    fallback: str,
) -> str:
    """User setting > explicit choice > Accept-Language > program default > site default."""
    for candidate in (user_setting, explicit_choice, parse_accept_language(accept_language), program_default):
        if candidate in SUPPORTED_LOCALES:
            return candidate
    return fallback


@functools.cache
def babel_locale(locale: str) -> Locale:
    """Babel's locale for ours, parsed once: parsing costs more than formatting the number it is asked for."""
    return Locale.parse(BABEL_LOCALE.get(locale, locale))


_PLAIN_NUMBER = re.compile(r"^[+-]?[0-9]+(\.[0-9]+)?$")
_SPACES = str.maketrans("", "", " \u00a0\u202f")


def parse_number(raw: str, locale: str) -> Decimal | None:
    """A number as a reader of `locale` types it — "12,5" and "12.500,50" in German, "12.5" and "12,500.50" in
    English (Babel) — or plainly with a decimal point ("1.5") in either; failing those, in the other language's
    format. None when empty; ValueError when it is not a number. Every form reads its numbers and amounts so."""
    text = raw.translate(_SPACES)
    if not text:
        return None
    if _PLAIN_NUMBER.match(text) and "." not in text:
        return Decimal(text)
    # The reader's own format first; then plain digits with a point; then the other language's ("1,5" on an
    # English page is still one and a half, as people type it).
    for candidate in (locale, None, *(other for other in SUPPORTED_LOCALES if other != locale)):
        try:
            if candidate is None:
                value = Decimal(text) if _PLAIN_NUMBER.match(text) else None
            else:
                value = parse_decimal(text, locale=babel_locale(candidate), strict=True)
        except NumberFormatError:
            continue
        if value is not None and value.is_finite():
            return value
    raise ValueError(raw)


def plain_number(raw: str, locale: str) -> str:
    """A form's number as a plain decimal string ("12500.50") for the validation shared with the API; text that is
    no number stays as typed, for that validation to refuse."""
    try:
        value = parse_number(raw, locale)
    except ValueError:
        return raw.strip()
    return "" if value is None else format(value, "f")


def format_number(value: int | float | Decimal, locale: str) -> str:
    return _formatted(type(value).__name__, value, locale)


@functools.lru_cache(maxsize=8192)
def _formatted(_kind: str, value: int | float | Decimal, locale: str) -> str:
    """Babel takes a tenth of a millisecond per number, and a report shows the same few numbers again and again."""
    return format_decimal(value, locale=babel_locale(locale))


def format_amount(value: int | float | Decimal, locale: str) -> str:
    """An amount with two decimals and no currency sign, as a form expects it typed: 12.500,50 in German."""
    return format_decimal(value, format="#,##0.00", locale=babel_locale(locale))


def format_money(amount: Decimal | int | float, currency: str, locale: str) -> str:
    return format_currency(amount, currency, locale=babel_locale(locale))


def format_date(value: dt.date | dt.datetime, locale: str, style: str = "medium") -> str:
    if isinstance(value, dt.datetime):
        value = value.astimezone(_zone()).date()
    return _format_date(value, format=style, locale=babel_locale(locale))


def format_datetime(value: dt.datetime, locale: str, style: str = "medium") -> str:
    return _format_datetime(value, format=style, tzinfo=_zone(), locale=babel_locale(locale))


@functools.cache
def _zone() -> dt.tzinfo:
    from zoneinfo import ZoneInfo

    return ZoneInfo(TIMEZONE)
