"""kpis: the programs' PLI stage weights and the indexes the KPI queries read by

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("programs") as batch_op:
        batch_op.add_column(sa.Column("pipeline_weights", sa.JSON(), nullable=True))
    # Reservations, returns and unclaimed leads of a program in a period; leads and offers made in a period.
    op.create_index("ix_lead_events_program_kind_at", "lead_events", ["program_id", "kind", "at"])
    op.create_index("ix_leads_program_offered_at", "leads", ["program_id", "offered_at"])
    op.create_index("ix_lead_offers_program_offered_at", "lead_offers", ["program_id", "offered_at"])


def downgrade() -> None:
    op.drop_index("ix_lead_offers_program_offered_at", table_name="lead_offers")
    op.drop_index("ix_leads_program_offered_at", table_name="leads")
    op.drop_index("ix_lead_events_program_kind_at", table_name="lead_events")
    with op.batch_alter_table("programs") as batch_op:
        batch_op.drop_column("pipeline_weights")
