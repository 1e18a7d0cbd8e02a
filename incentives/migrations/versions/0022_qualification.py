"""qualification: the program's checklist and what was confirmed on each lead

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("programs") as batch:
        batch.add_column(sa.Column("qualification_checklist", sa.JSON(), nullable=True))
    with op.batch_alter_table("leads") as batch:
        batch.add_column(sa.Column("qualification", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("leads") as batch:
        batch.drop_column("qualification")
    with op.batch_alter_table("programs") as batch:
        batch.drop_column("qualification_checklist")
