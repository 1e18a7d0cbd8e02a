"""fair play: invalid leads (with their reason), hard capacity as the default for new programs

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = "'new', 'qualified', 'offered', 'reserved', 'won', 'lost', 'unclaimed'"


def upgrade() -> None:
    with op.batch_alter_table("leads") as batch_op:
        batch_op.drop_constraint("status_known", type_="check")
        batch_op.create_check_constraint("status_known", f"status IN ({OLD}, 'invalid')")
        batch_op.add_column(sa.Column("invalid_reason", sa.String(12), nullable=True))
        batch_op.add_column(sa.Column("invalid_note", sa.String(500), nullable=True))
    # Only the default changes: existing programs keep the mode they have.
    with op.batch_alter_table("programs") as batch_op:
        batch_op.alter_column("capacity_mode", server_default="hard", existing_type=sa.String(4))


def downgrade() -> None:
    with op.batch_alter_table("programs") as batch_op:
        batch_op.alter_column("capacity_mode", server_default="soft", existing_type=sa.String(4))
    op.execute("UPDATE leads SET status = 'lost' WHERE status = 'invalid'")
    with op.batch_alter_table("leads") as batch_op:
        batch_op.drop_column("invalid_note")
        batch_op.drop_column("invalid_reason")
        batch_op.drop_constraint("status_known", type_="check")
        batch_op.create_check_constraint("status_known", f"status IN ({OLD})")
