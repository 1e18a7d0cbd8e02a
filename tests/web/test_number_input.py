"""Numbers and amounts in the web forms: typed in the reader's format ("12,5", "12.500,50" in German), read by one
helper (i18n.parse_number), with hints in that format; and the form macro renders its attributes unescaped."""

from __future__ import annotations

import re
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import select

from incentives import i18n
from incentives.accounts.roles import Role
from incentives.db import Database
from incentives.leads.models import Lead
from tests.factories import make_program, make_user
from tests.web.test_pages import csrf_of, login

HX = {"HX-Request": "true"}


@pytest.mark.parametrize(
    ("typed", "locale", "number"),
    [
        ("12,5", "de", Decimal("12.5")),
        ("12.500,50", "de", Decimal("12500.50")),
        ("12.500", "de", Decimal("12500")),
        ("1.5", "de", Decimal("1.5")),  # no German grouping: read plainly
        ("12.5", "en", Decimal("12.5")),
        ("12,500.50", "en", Decimal("12500.50")),
        ("1,5", "en", Decimal("1.5")),  # no English grouping: read the German way
        (" 1\u00a0500 ", "de", Decimal("1500")),
        ("", "de", None),
    ],
)
def test_numbers_are_read_as_the_reader_types_them(typed: str, locale: str, number: Decimal | None) -> None:
    assert i18n.parse_number(typed, locale) == number


@pytest.mark.parametrize("typed", ["viel", "NaN", "Infinity", "1,2,3,4.5.6"])
def test_anything_else_is_no_number(typed: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        i18n.parse_number(typed, "de")


def _inputs(html: str) -> dict[str, str]:
    return {found.group(1): found.group(0) for found in re.finditer(r'<input id="f-(\w+)"[^>]*>', html)}


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_number_fields_are_text_in_the_local_format_and_attributes_are_not_escaped(
    db: Database, http: httpx.AsyncClient
) -> None:
    world = await make_program(db)
    await login(http, world.admin.email)
    for path in ("/rules/new", "/rules/campaigns/new", "/rewards/new", "/leads/new", "/achievements/manage"):
        page = await http.get(path, headers={"Accept-Language": "de"})
        assert page.status_code == 200, path
        inputs = _inputs(page.text)
        assert inputs, path
        for tag in inputs.values():
            assert "&#34;" not in tag and "&quot;" not in tag, (path, tag)  # was step="&quot;any&quot;"
            assert 'type="number"' not in tag, (path, tag)  # a browser's number field refuses "1,5"
        if "name_de" in inputs:
            assert ' maxlength="200"' in inputs["name_de"] and " required" in inputs["name_de"], path
    editor = _inputs((await http.get("/rules/new", headers={"Accept-Language": "de"})).text)
    assert 'inputmode="decimal"' in editor["within_hours"] and 'inputmode="decimal"' in editor["cold_multiplier"]
    assert 'inputmode="numeric"' in editor["base_points"]
    german = (await http.get("/rules/new", headers={"Accept-Language": "de"})).text
    english = (await http.get("/rules/new", headers={"Accept-Language": "en"})).text
    assert "z. B. 1,5" in german and "e.g. 1.5" in english and 'aria-describedby="h-within_hours"' in german
    lead_form = (await http.get("/leads/new", headers={"Accept-Language": "de"})).text
    assert "z. B. 12.500,50" in lead_form


async def test_german_numbers_are_accepted_by_the_forms(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    admin = await make_user(db, world, world.admin.org_id, Role.ADMIN, locale="de")
    await login(http, admin.email)
    page = await http.get("/rules/new")
    form = {"csrftoken": csrf_of(page), "name_de": "Schnell", "name_en": "Fast", "event": "lead.feedback"}
    generated = await http.post(
        "/rules/generate",
        data={**form, "within_hours": "1,5", "base_points": "1.000", "cold_multiplier": "1,5"},
        headers=HX,
    )
    assert "feedback.hours_since_reserved &lt;= 1.5" in generated.text, generated.text
    assert "? 1500 : 1000" in generated.text

    page = await http.get("/leads/new")
    lead = {
        "csrftoken": csrf_of(page),
        "company": "Zahl GmbH",
        "contact_name": "Ann",
        "contact_email": "ann@zahl.example",
        "country": "DE",
        "postal_code": "80331",
        "product_line": "heat_pumps",
        "temperature": "warm",
        "estimated_value": "12.500,50",
    }
    created = await http.post("/leads/new", data=lead)
    assert created.status_code == 303, created.text
    async with db.reader() as session:
        saved = (await session.scalars(select(Lead).where(Lead.company == "Zahl GmbH"))).one()
    assert saved.estimated_value == Decimal("12500.50")
    refused = await http.post("/leads/new", data={**lead, "company": "Zahl 2", "estimated_value": "viel"})
    assert refused.status_code == 422 and 'value="viel"' in refused.text  # as typed, with the error at the field
