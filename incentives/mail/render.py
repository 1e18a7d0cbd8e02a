"""Rendering an outbox row into an e-mail: subject and text from `<template>.txt`, HTML from `<template>.html`
(its stylesheet inlined with css-inline, no scripts), in the user's language, with one-click headers."""

from __future__ import annotations

import datetime as dt
import functools
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import css_inline
from jinja2 import BaseLoader, Environment, FileSystemLoader, TemplateNotFound, select_autoescape

from incentives import i18n
from incentives.mail import links
from incentives.mail.preferences import SETTING_OF_KIND

TEMPLATES_DIR = Path(__file__).parent / "templates"


class _Loader(BaseLoader):
    """Our own templates by name; "package:name" from that package's `mail_templates` folder (other domains'
    e-mails, such as the weekly report, keep their templates next to their code)."""

    def __init__(self) -> None:
        self.own = FileSystemLoader(TEMPLATES_DIR)

    def get_source(self, environment: Environment, template: str) -> tuple[str, str | None, Callable[[], bool] | None]:
        package, sep, name = template.rpartition(":")
        if not sep:
            return self.own.get_source(environment, template)
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise TemplateNotFound(template)
        folder = Path(next(iter(spec.submodule_search_locations))) / "mail_templates"
        return FileSystemLoader(folder).get_source(environment, name)


@functools.cache
def environment(locale: str) -> Environment:
    """One environment per language, its gettext bound to that catalog; filters format as `locale` does."""
    env = Environment(
        loader=_Loader(),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(i18n.translations(locale), newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(
        number=lambda value: i18n.format_number(value, locale),
        money=lambda value, currency="EUR": i18n.format_money(value, currency, locale),
        date=lambda value, style="medium": i18n.format_date(_when(value), locale, style),
        datetime=lambda value, style="medium": i18n.format_datetime(_when(value), locale, style),
    )
    return env


def _when(value: Any) -> Any:
    return dt.datetime.fromisoformat(value) if isinstance(value, str) else value


# Long headers (the unsubscribe link) stay on one line, as RFC 5322 allows up to 998 characters.
HEADERS = compat32.clone(max_line_length=998)
# Built once: the inliner drops the <style> block once its rules are in the elements' style attributes.
INLINER = css_inline.CSSInliner(keep_style_tags=False, load_remote_stylesheets=False)


@dataclass(frozen=True)
class Recipient:
    user_id: int | None  # None: an address without a user (only transactional e-mails, without unsubscribe)
    email: str
    name: str
    locale: str


@dataclass(frozen=True)
class Site:
    base_url: str
    secret: str
    sender: str


def render(site: Site, to: Recipient, kind: str, template: str, context: dict[str, Any], now: dt.datetime) -> Message:
    """The complete message: headers, a text part and an HTML part. Built with the classic MIME classes: the
    modern header registry parses every header it is given again, which cost as much as the rendering."""
    env = environment(to.locale)
    user_id = to.user_id
    # A transactional e-mail (outbox.TRANSACTIONAL_KINDS) has no setting to turn off, so no unsubscribe link.
    unsubscribe = (
        f"{site.base_url}/unsubscribe/{links.unsubscribe_token(site.secret, user_id, kind)}"
        if user_id is not None and kind in SETTING_OF_KIND
        else None
    )

    def action_url(action: str, lead_id: int) -> str:
        if user_id is None:
            raise ValueError("an e-mail without a user has no action links")
        return f"{site.base_url}/a/{links.action_token(site.secret, user_id, lead_id, action, now)}"

    values = {
        **context,
        "user": {"name": to.name, "email": to.email},
        "locale": to.locale,
        "base_url": site.base_url,
        "action_url": action_url,
        "unsubscribe_url": unsubscribe,
        "settings_url": f"{site.base_url}/settings/notifications",
        # A name kept in both languages ({"de": ..., "en": ...}) in the reader's.
        "pick": lambda names: (names.get(to.locale) or names.get("en") or "") if isinstance(names, dict) else names,
    }
    text_template = env.get_template(f"{template}.txt")
    subject = "".join(text_template.blocks["subject"](text_template.new_context(values))).strip()
    text = text_template.render(values)
    html = INLINER.inline(env.get_template(f"{template}.html").render({**values, "subject": subject}))
    message = MIMEMultipart("alternative", policy=HEADERS)
    message["Subject"] = subject if subject.isascii() else Header(subject, "utf-8").encode()
    message["From"] = site.sender
    message["To"] = to.email
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain=urlsplit(site.base_url).hostname or "localhost")
    if unsubscribe is not None:
        # RFC 8058: a mail client unsubscribes with one POST to this https link, no confirmation page in between.
        message["List-Unsubscribe"] = f"<{unsubscribe}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["Auto-Submitted"] = "auto-generated"
    message["Content-Language"] = to.locale
    message.attach(MIMEText(text, "plain", "utf-8"))
    message.attach(MIMEText(html, "html", "utf-8"))
    return message
