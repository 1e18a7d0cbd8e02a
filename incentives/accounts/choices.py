"""A program's own lists of product lines and industries. Leads are entered with these values (a typo in a
product line means no partner ever matches); partners' competencies are chosen from the product lines. An empty
list means the program has not set one, and any value is accepted, so that existing integrations keep working."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.accounts.models import Program
from incentives.errors import N_, FieldError

MAX_CHOICES = 200
MAX_LENGTH = 80  # the length of leads.product_line and leads.industry


def check_choices(values: Sequence[str]) -> None:
    """Raise ValueError with a message id when a list has the same value twice (ignoring case: "Solar" and
    "solar" would look the same in a select)."""
    folded = [value.casefold() for value in values]
    if len(set(folded)) != len(folded):
        raise ValueError(N_("Each value may appear only once."))


@dataclass(frozen=True)
class ProgramChoices:
    product_lines: tuple[str, ...]
    industries: tuple[str, ...]

    def spelled(self, product_line: str, industry: str | None) -> tuple[str, str | None, list[FieldError]]:
        """A lead's values as the lists spell them ("wärmepumpen" from a spreadsheet is "Wärmepumpen": partners
        match on the exact name), and what is in no list; values are kept where a list is empty."""
        found = []
        line = _listed(self.product_lines, product_line)
        if line is None:
            message = N_("“%(value)s” is not one of the program's product lines.")
            found.append(FieldError(("product_line",), message, value=product_line))
        sector = _listed(self.industries, industry)
        if sector is None and industry is not None:
            message = N_("“%(value)s” is not one of the program's industries.")
            found.append(FieldError(("industry",), message, value=industry))
        return line or product_line, sector, found


def _listed(choices: tuple[str, ...], value: str | None) -> str | None:
    """The list's spelling of a value (None: not in it); any value where the list is empty."""
    if value is None or not choices:
        return value
    folded = value.casefold()
    return next((choice for choice in choices if choice.casefold() == folded), None)


async def program_choices(session: AsyncSession, program_id: int) -> ProgramChoices:
    row = (
        await session.execute(select(Program.product_lines, Program.industries).where(Program.id == program_id))
    ).one_or_none()
    if row is None:
        return ProgramChoices((), ())
    return ProgramChoices(tuple(row.product_lines or ()), tuple(row.industries or ()))
