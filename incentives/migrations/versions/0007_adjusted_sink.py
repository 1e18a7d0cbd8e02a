"""ledger: an 'adjusted' sink account for points taken back by manual adjustments

Negative adjustments used to return points to issuance; a later reversal of the award they came from
returned the whole award to issuance as well, which could leave issuance negative.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS = "'issuance', 'partner', 'mdf', 'discount', 'bonus', 'expired', 'clawback'"
NAME = "ck_ledger_accounts_kind_known"


def _kinds(kinds: str) -> None:
    with op.batch_alter_table("ledger_accounts") as batch_op:
        batch_op.drop_constraint(op.f(NAME), type_="check")
        batch_op.create_check_constraint(op.f(NAME), f"kind IN ({kinds})")


def upgrade() -> None:
    _kinds(KINDS + ", 'adjusted'")


def downgrade() -> None:
    _kinds(KINDS)
