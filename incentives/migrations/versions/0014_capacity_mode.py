"""capacity mode: whether a full partner is still offered leads (soft) or not (hard)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("programs") as batch_op:
        batch_op.add_column(sa.Column("capacity_mode", sa.String(4), nullable=False, server_default="soft"))
        batch_op.create_check_constraint("capacity_mode_known", "capacity_mode IN ('hard', 'soft')")


def downgrade() -> None:
    with op.batch_alter_table("programs") as batch_op:
        batch_op.drop_constraint("capacity_mode_known", type_="check")
        batch_op.drop_column("capacity_mode")
