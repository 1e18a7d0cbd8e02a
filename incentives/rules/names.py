"""Rule names for the points history: the ledger keeps (rule id, version), the reader wants the name."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.rules.models import RuleVersion


async def rule_names(
    session: AsyncSession, refs: Iterable[tuple[int | None, int | None]], locale: str
) -> dict[tuple[int, int], str]:
    """The name of each (rule id, version) in the reader's language, in one query."""
    wanted = {(rule_id, version) for rule_id, version in refs if rule_id is not None and version is not None}
    if not wanted:
        return {}
    rows = await session.execute(
        select(RuleVersion.rule_id, RuleVersion.version, RuleVersion.name_de, RuleVersion.name_en).where(
            tuple_(RuleVersion.rule_id, RuleVersion.version).in_(sorted(wanted))
        )
    )
    return {(rule_id, version): de if locale == "de" else en for rule_id, version, de, en in rows.all()}
