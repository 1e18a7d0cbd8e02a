from __future__ import annotations

import datetime as dt
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from babel.messages.pofile import read_po

from incentives import i18n

ROOT = Path(__file__).resolve().parent.parent


def _ids(path: Path) -> set[object]:
    with path.open("rb") as handle:
        return {message.id for message in read_po(handle) if message.id}


def test_pot_is_not_stale(tmp_path: Path) -> None:
    """Every visible string in code and templates is in the committed catalog template."""
    fresh = tmp_path / "messages.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "N_",
            "--no-location",
            "--sort-output",
            "--omit-header",
            "--ignore-dirs=.* _* node_modules tests bench",
            "-o",
            str(fresh),
            ".",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    committed = ROOT / "locales" / "messages.pot"
    missing = _ids(fresh) - _ids(committed)
    stale = _ids(committed) - _ids(fresh)
    assert not missing and not stale, f"run scripts/i18n: missing {missing}, stale {stale}"


def test_every_german_entry_is_translated() -> None:
    with (ROOT / "locales" / "de" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle, locale="de")
    pot = _ids(ROOT / "locales" / "messages.pot")
    untranslated = [
        m.id for m in catalog if m.id and (m.fuzzy or not (all(m.string) if isinstance(m.string, tuple) else m.string))
    ]
    assert not untranslated, f"untranslated German entries: {untranslated}"
    assert pot <= {m.id for m in catalog if m.id}, "German catalog misses entries: run scripts/i18n"


def test_translations_load_from_the_catalogs() -> None:
    assert i18n.gettext("de", "Log in") == "Anmelden"
    assert i18n.gettext("en", "Log in") == "Log in"
    assert i18n.gettext("de", "Welcome, %(name)s", name="Eva") == "Willkommen, Eva"


def test_locale_negotiation_order() -> None:
    def pick(**kw: str | None) -> str:
        args = {"user_setting": None, "explicit_choice": None, "accept_language": None, "program_default": None}
        return i18n.negotiate_locale(**{**args, **kw}, fallback="en")  # type: ignore[arg-type]

    assert pick(user_setting="de", explicit_choice="en", accept_language="en") == "de"
    assert pick(explicit_choice="de", accept_language="en") == "de"
    assert pick(accept_language="fr-CH, de;q=0.8, en;q=0.5", program_default="en") == "de"
    assert pick(accept_language="en;q=0.2, de;q=0.9") == "de"
    assert pick(accept_language="fr", program_default="de") == "de"
    assert pick(accept_language="garbage;q=x") == "en"


def test_babel_formats_numbers_money_and_dates_per_locale() -> None:
    assert i18n.format_number(1250, "de") == "1.250"
    assert i18n.format_number(1250, "en") == "1,250"
    assert i18n.format_money(Decimal("1234.5"), "EUR", "de") == "1.234,50\xa0€"
    assert i18n.format_money(Decimal("1234.5"), "EUR", "en") == "€1,234.50"
    day = dt.datetime(2026, 3, 1, 23, 30, tzinfo=dt.UTC)  # already 2 March in Berlin
    assert i18n.format_date(day, "de") == "02.03.2026"
    assert i18n.format_date(day, "en") == "2 Mar 2026"
