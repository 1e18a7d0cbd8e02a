"""leaderboard: points earned per period and partner (and rep), weekly rank snapshots, Redis staleness

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "leaderboard_points",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=30), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], name=op.f("fk_leaderboard_points_org_id_orgs")),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_leaderboard_points_program_id_programs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leaderboard_points")),
        sa.UniqueConstraint(
            "program_id",
            "period",
            "org_id",
            "user_id",
            name=op.f("uq_leaderboard_points_program_id_period_org_id_user_id"),
        ),
    )
    op.create_index(
        "ix_leaderboard_points_board", "leaderboard_points", ["program_id", "period", "user_id", "points"], unique=False
    )
    op.create_table(
        "leaderboard_ranks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=30), nullable=False),
        sa.Column("scope", sa.String(length=60), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("week", sa.String(length=10), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], name=op.f("fk_leaderboard_ranks_org_id_orgs")),
        sa.ForeignKeyConstraint(["program_id"], ["programs.id"], name=op.f("fk_leaderboard_ranks_program_id_programs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leaderboard_ranks")),
        sa.UniqueConstraint(
            "program_id", "period", "scope", "org_id", name=op.f("uq_leaderboard_ranks_program_id_period_scope_org_id")
        ),
    )
    op.create_table(
        "leaderboard_state",
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("redis_stale", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["program_id"], ["programs.id"], name=op.f("fk_leaderboard_state_program_id_programs")),
        sa.PrimaryKeyConstraint("program_id", name=op.f("pk_leaderboard_state")),
    )
    with op.batch_alter_table("rule_awards") as batch_op:
        batch_op.add_column(sa.Column("user_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(op.f("fk_rule_awards_user_id_users"), "users", ["user_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("rule_awards") as batch_op:
        batch_op.drop_constraint(op.f("fk_rule_awards_user_id_users"), type_="foreignkey")
        batch_op.drop_column("user_id")
    op.drop_table("leaderboard_state")
    op.drop_table("leaderboard_ranks")
    op.drop_index("ix_leaderboard_points_board", table_name="leaderboard_points")
    op.drop_table("leaderboard_points")
