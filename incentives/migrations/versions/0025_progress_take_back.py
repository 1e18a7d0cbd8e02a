"""progress take-back: achievement hits taken back by a lead's return or invalidation, and achievement points
reversed for an earning completed by that lead's event

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("achievement_hits") as batch:
        batch.add_column(sa.Column("taken_back_by_event_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_achievement_hits_taken_back_by_event_id_outbox_events"),
            "outbox_events",
            ["taken_back_by_event_id"],
            ["id"],
        )
    with op.batch_alter_table("achievement_earnings") as batch:
        batch.add_column(sa.Column("reversed_by_event_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("reversal_transfer_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_achievement_earnings_reversed_by_event_id_outbox_events"),
            "outbox_events",
            ["reversed_by_event_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("achievement_earnings") as batch:
        batch.drop_constraint(op.f("fk_achievement_earnings_reversed_by_event_id_outbox_events"), type_="foreignkey")
        batch.drop_column("reversal_transfer_id")
        batch.drop_column("reversed_by_event_id")
    with op.batch_alter_table("achievement_hits") as batch:
        batch.drop_constraint(op.f("fk_achievement_hits_taken_back_by_event_id_outbox_events"), type_="foreignkey")
        batch.drop_column("taken_back_by_event_id")
