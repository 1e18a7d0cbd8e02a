"""Read queries of the rules domain: the current version of each rule, by program or by rule.

A rule's current version is the row of `rule_versions` that `rules.current_version` names; every reader
that wants "the rules as they are now" starts from `current_versions()` and narrows it.
"""

from __future__ import annotations

from sqlalchemy import Select, and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.rules.models import Rule, RuleVersion


def current_versions() -> Select[RuleVersion]:
    """The current version of every rule, as a statement to narrow with `.where()` and `.order_by()`."""
    return select(RuleVersion).join(
        Rule, and_(Rule.id == RuleVersion.rule_id, Rule.current_version == RuleVersion.version)
    )


async def program_rules(session: AsyncSession, program_id: int) -> list[RuleVersion]:
    """The current version of each rule of a program, in rule id order."""
    rows = await session.scalars(current_versions().where(Rule.program_id == program_id).order_by(RuleVersion.rule_id))
    return list(rows)


async def current_version(session: AsyncSession, rule_id: int) -> RuleVersion | None:
    """A rule's current version; None for an unknown rule."""
    version: RuleVersion | None = await session.scalar(current_versions().where(Rule.id == rule_id))
    return version
