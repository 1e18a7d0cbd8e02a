"""program choices: the program's own lists of product lines and industries that leads choose from

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Empty lists: existing programs keep accepting any value until an admin sets a list.
    with op.batch_alter_table("programs") as batch:
        batch.add_column(sa.Column("product_lines", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("industries", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("programs") as batch:
        batch.drop_column("industries")
        batch.drop_column("product_lines")
