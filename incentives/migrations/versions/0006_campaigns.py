"""campaigns: time-boxed multipliers and budgets; which campaign paid an award

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("name_de", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tiers", sa.JSON(), nullable=False),
        sa.Column("regions", sa.JSON(), nullable=False),
        sa.Column("product_lines", sa.JSON(), nullable=False),
        sa.Column("multiplier", sa.Float(), nullable=False),
        sa.Column("budget_points", sa.Integer(), nullable=True),
        sa.Column("spent_points", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("budget_points IS NULL OR budget_points > 0", name=op.f("ck_campaigns_budget_positive")),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_campaigns_window_ordered")),
        sa.CheckConstraint("multiplier >= 1 AND multiplier <= 10", name=op.f("ck_campaigns_multiplier_range")),
        sa.CheckConstraint(
            "spent_points >= 0 AND (budget_points IS NULL OR spent_points <= budget_points)",
            name=op.f("ck_campaigns_budget_held"),
        ),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], name=op.f("fk_campaigns_created_by_id_users")),
        sa.ForeignKeyConstraint(["program_id"], ["programs.id"], name=op.f("fk_campaigns_program_id_programs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
    )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_campaigns_program_id"), ["program_id"], unique=False)

    with op.batch_alter_table("rule_awards", schema=None) as batch_op:
        batch_op.add_column(sa.Column("campaign_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("campaign_points", sa.Integer(), server_default="0", nullable=False))
        batch_op.create_index(batch_op.f("ix_rule_awards_campaign_id"), ["campaign_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_rule_awards_campaign_id_campaigns"), "campaigns", ["campaign_id"], ["id"]
        )


def downgrade() -> None:

    with op.batch_alter_table("rule_awards", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_rule_awards_campaign_id_campaigns"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_rule_awards_campaign_id"))
        batch_op.drop_column("campaign_points")
        batch_op.drop_column("campaign_id")

    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaigns_program_id"))

    op.drop_table("campaigns")
