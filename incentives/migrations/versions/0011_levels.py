"""levels and award toasts: a program's levels setting, and how far each user has seen award toasts

Existing programs get the default levels (Bronze 0, Silver 500, Gold 2,000, Platinum 5,000), written out here
so that the migration keeps doing what it did when the defaults in code change.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULT_LEVELS = [
    {"key": "bronze", "name": {"de": "Bronze", "en": "Bronze"}, "threshold": 0},
    {"key": "silver", "name": {"de": "Silber", "en": "Silver"}, "threshold": 500},
    {"key": "gold", "name": {"de": "Gold", "en": "Gold"}, "threshold": 2000},
    {"key": "platinum", "name": {"de": "Platin", "en": "Platinum"}, "threshold": 5000},
]


def upgrade() -> None:
    # Added nullable and filled before NOT NULL: a JSON default is spelled differently by each database.
    op.add_column("programs", sa.Column("levels", sa.JSON(), nullable=True))
    programs = sa.table("programs", sa.column("levels", sa.JSON()))
    op.execute(programs.update().values(levels=DEFAULT_LEVELS))
    with op.batch_alter_table("programs") as batch_op:
        batch_op.alter_column("levels", existing_type=sa.JSON(), nullable=False)
    op.create_table(
        "toast_cursors",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("last_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_toast_cursors_user_id_users")),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_toast_cursors")),
    )


def downgrade() -> None:
    op.drop_table("toast_cursors")
    with op.batch_alter_table("programs") as batch_op:
        batch_op.drop_column("levels")
