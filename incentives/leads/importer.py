"""CSV import of leads: every good row is created (each in its own transaction), every bad one reported.

Columns (header row, any order): external_id, company, contact_name, contact_email, contact_phone, country,
postal_code, city, industry, product_line, temperature, estimated_value, required_certifications
(separated by ";"), notes, source. Commas or semicolons separate the fields.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from incentives.accounts.scope import Principal
from incentives.db import Database
from incentives.errors import N_, DomainError, ValidationFailed
from incentives.leads.schemas import LeadIn
from incentives.leads.services import create_lead
from incentives.validation import field_errors_from_pydantic

MAX_ROWS = 5000
REQUIRED = ("company", "contact_name", "contact_email", "country", "product_line", "temperature")


@dataclass(frozen=True)
class RowError:
    line: int
    column: str
    message: str  # an N_() message id
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class ImportReport:
    created: list[int] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


def _rows(text: str) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","  # Excel in Germany writes ";"
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    header = [name.strip().lower() for name in (reader.fieldnames or [])]
    reader.fieldnames = header
    return header, [(reader.line_num, row) for row in reader]


def body_from_row(program_id: int, row: dict[str, str]) -> dict[str, Any]:
    def value(name: str) -> str | None:
        raw = (row.get(name) or "").strip()
        return raw or None

    certifications = [c.strip() for c in (value("required_certifications") or "").split(";") if c.strip()]
    contact: dict[str, Any] = {"name": value("contact_name") or "", "email": value("contact_email") or ""}
    if value("contact_phone"):
        contact["phone"] = value("contact_phone")
    body: dict[str, Any] = {
        "program_id": program_id,
        "company": value("company") or "",
        "contact": contact,
        "country": value("country") or "",
        "product_line": value("product_line") or "",
        "temperature": (value("temperature") or "").lower(),
        "required_certifications": certifications,
    }
    for name in ("external_id", "postal_code", "city", "industry", "notes", "source", "estimated_value"):
        if value(name) is not None:
            body[name] = value(name)
    return body


async def import_leads(db: Database, principal: Principal, program_id: int, text: str) -> ImportReport:
    report = ImportReport()
    header, rows = _rows(text)
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        report.errors.append(RowError(1, ", ".join(missing), N_("The header lacks required columns.")))
        return report
    if len(rows) > MAX_ROWS:
        report.errors.append(RowError(1, "", N_("At most %(max)s rows per file."), {"max": MAX_ROWS}))
        return report
    for line, row in rows:
        try:
            lead_in = LeadIn.model_validate(body_from_row(program_id, row))
            async with db.transaction() as session:
                lead = await create_lead(session, principal, lead_in.to_input())
            report.created.append(lead.id)
        except ValidationError as exc:
            for error in field_errors_from_pydantic(exc):
                report.errors.append(RowError(line, ".".join(str(p) for p in error.loc), error.msg, error.params))
        except ValidationFailed as exc:
            for error in exc.errors:
                report.errors.append(RowError(line, ".".join(str(p) for p in error.loc), error.msg, error.params))
        except DomainError as exc:
            report.errors.append(RowError(line, "", exc.detail, exc.params))
    return report
