"""CSV import of leads, all or reported: a file whose rows are all good is created in one transaction; when
any row is bad, nothing is created and every bad row is reported by its line.

Columns (header row, any order): external_id, company, contact_name, contact_email, contact_phone, country,
postal_code, city, industry, product_line, temperature, estimated_value, required_certifications
(separated by ";"), notes, source. Commas or semicolons separate the fields. A line the CSV reader cannot
read (a line break outside quotes, a field beyond MAX_FIELD characters) and text with NUL characters are bad
rows like any other; each row is created under a savepoint, so that a refusal by the service (a duplicate
external id) is reported too and the following rows are still checked.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from incentives.accounts.scope import Principal
from incentives.db import Database
from incentives.errors import N_, DomainError, FieldError, ValidationFailed
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


class _Abandon(Exception):
    """Rolls the import's transaction back once every row has been checked and one was bad."""


# The csv module's own limit (131,072 characters), named: no column takes a field half that long.
MAX_FIELD = csv.field_size_limit()
_READ_PROBLEMS = (
    ("new-line", N_("A line break inside a field must be within quotes.")),
    ("field limit", N_("A field is longer than %(max)s characters.")),
    ("nul", N_("Must not contain NUL characters.")),
)


def _unreadable(line: int, error: csv.Error) -> RowError:
    text = str(error).lower()
    message = next((msg for marker, msg in _READ_PROBLEMS if marker in text), N_("This line is not valid CSV."))
    return RowError(line, "", message, {"max": MAX_FIELD} if "%(max)s" in message else {})


def _rows(text: str) -> tuple[list[str], list[tuple[int, dict[str, str]]], list[RowError]]:
    """The header, the readable rows by the line each starts on, and a problem for each unreadable one."""
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","  # Excel in Germany writes ";"
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header: list[str] | None = None
    rows: list[tuple[int, dict[str, str]]] = []
    problems: list[RowError] = []
    start = 1
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as error:  # the reader goes on with the next line
            problems.append(_unreadable(start, error))
            start = reader.line_num + 1
            continue
        line, start = start, reader.line_num + 1
        if header is None:
            header = [name.strip().lower() for name in record]
        elif any(value.strip() for value in record):  # fields beyond the header's are ignored, as ever
            rows.append((line, dict(zip(header, record, strict=False))))
    return header or [], rows, problems


def _nul_errors(line: int, row: dict[str, str]) -> list[RowError]:
    return [
        RowError(line, name, N_("Must not contain NUL characters.")) for name, value in row.items() if "\x00" in value
    ]


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
    """Check every row, create them all in one transaction, and keep it only when no row was bad."""
    report = ImportReport()
    header, rows, problems = _rows(text)
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        report.errors.append(RowError(1, ", ".join(missing), N_("The header lacks required columns.")))
        return report
    if len(rows) > MAX_ROWS:
        report.errors.append(RowError(1, "", N_("At most %(max)s rows per file."), {"max": MAX_ROWS}))
        return report
    report.errors.extend(problems)
    checked = []
    for line, row in rows:
        if nul := _nul_errors(line, row):
            report.errors.extend(nul)
            continue
        try:
            checked.append((line, LeadIn.model_validate(body_from_row(program_id, row)).to_input()))
        except ValidationError as exc:
            report.errors.extend(_row_errors(line, field_errors_from_pydantic(exc)))
        except ValidationFailed as exc:
            report.errors.extend(_row_errors(line, exc.errors))
    created: list[int] = []
    try:
        async with db.transaction() as session:
            for line, data in checked:
                try:
                    async with session.begin_nested():
                        created.append((await create_lead(session, principal, data)).id)
                except ValidationFailed as exc:
                    report.errors.extend(_row_errors(line, exc.errors))
                except DomainError as exc:
                    report.errors.append(RowError(line, "", exc.detail, exc.params))
            if report.errors:
                raise _Abandon()
        report.created = created
    except _Abandon:
        report.errors.sort(key=lambda error: error.line)
    return report


def _row_errors(line: int, errors: list[FieldError]) -> list[RowError]:
    return [RowError(line, ".".join(str(p) for p in error.loc), error.msg, error.params) for error in errors]
