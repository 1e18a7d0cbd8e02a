"""idempotency: when a key was claimed, so that a claim left by a crashed process can be taken over

Existing rows take their creation time. The column's server default serves rows inserted by a web
process still running the previous version during a rolling upgrade. The index serves the sweep that
forgets old keys.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_idempotency_keys_claimed_at"


def upgrade() -> None:
    # Added nullable and filled before NOT NULL: SQLite cannot add a column with a non-constant default.
    op.add_column("idempotency_keys", sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE idempotency_keys SET claimed_at = created_at")
    with op.batch_alter_table("idempotency_keys") as batch_op:
        batch_op.alter_column(
            "claimed_at",
            existing_type=sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.func.now(),
        )
        batch_op.create_index(INDEX, ["claimed_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("idempotency_keys") as batch_op:
        batch_op.drop_index(INDEX)
        batch_op.drop_column("claimed_at")
