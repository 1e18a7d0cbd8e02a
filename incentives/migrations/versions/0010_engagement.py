"""engagement: achievements (definitions, hits, progress, earnings) and streak states

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "streak_states",
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=30), nullable=False),
        sa.Column("current", sa.Integer(), nullable=False),
        sa.Column("best", sa.Integer(), nullable=False),
        sa.Column("last_week", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("key IN ('on_time_feedback', 'active_weeks')", name=op.f("ck_streak_states_key_known")),
        sa.CheckConstraint("current >= 0 AND best >= current", name=op.f("ck_streak_states_best_holds")),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], name=op.f("fk_streak_states_org_id_orgs")),
        sa.ForeignKeyConstraint(["program_id"], ["programs.id"], name=op.f("fk_streak_states_program_id_programs")),
        sa.PrimaryKeyConstraint("program_id", "org_id", "key", name=op.f("pk_streak_states")),
    )
    op.create_table(
        "achievements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("name_de", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("description_de", sa.String(length=1000), nullable=False),
        sa.Column("description_en", sa.String(length=1000), nullable=False),
        sa.Column("event", sa.String(length=40), nullable=False),
        sa.Column("condition", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("streak", sa.String(length=30), nullable=True),
        sa.Column("target", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("repeatable", sa.Boolean(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=True),
        sa.Column("tiers", sa.JSON(), nullable=False),
        sa.Column("regions", sa.JSON(), nullable=False),
        sa.Column("product_lines", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(kind = 'count' AND streak IS NULL) OR "
            "(kind = 'streak' AND streak IN ('on_time_feedback', 'active_weeks'))",
            name=op.f("ck_achievements_streak_named"),
        ),
        sa.CheckConstraint("kind IN ('count', 'streak')", name=op.f("ck_achievements_kind_known")),
        sa.CheckConstraint("period IN ('week', 'month', 'quarter', 'all')", name=op.f("ck_achievements_period_known")),
        sa.CheckConstraint(
            "ends_at IS NULL OR starts_at IS NULL OR ends_at > starts_at", name=op.f("ck_achievements_window_ordered")
        ),
        sa.CheckConstraint("points IS NULL OR points > 0", name=op.f("ck_achievements_points_positive")),
        sa.CheckConstraint("target >= 1", name=op.f("ck_achievements_target_positive")),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], name=op.f("fk_achievements_created_by_id_users")),
        sa.ForeignKeyConstraint(["program_id"], ["programs.id"], name=op.f("fk_achievements_program_id_programs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_achievements")),
    )
    op.create_index("ix_achievements_program_event", "achievements", ["program_id", "event"], unique=False)

    op.create_table(
        "achievement_progress",
        sa.Column("achievement_id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=20), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("value >= 0", name=op.f("ck_achievement_progress_value_not_negative")),
        sa.ForeignKeyConstraint(
            ["achievement_id"], ["achievements.id"], name=op.f("fk_achievement_progress_achievement_id_achievements")
        ),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], name=op.f("fk_achievement_progress_org_id_orgs")),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_achievement_progress_program_id_programs")
        ),
        sa.PrimaryKeyConstraint("achievement_id", "org_id", "period", name=op.f("pk_achievement_progress")),
    )
    op.create_table(
        "achievement_earnings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("achievement_id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("occurrence", sa.String(length=20), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("points", sa.Integer(), nullable=True),
        sa.Column("earned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("transfer_id", sa.Integer(), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.CheckConstraint("points IS NULL OR points > 0", name=op.f("ck_achievement_earnings_points_positive")),
        sa.ForeignKeyConstraint(
            ["achievement_id"], ["achievements.id"], name=op.f("fk_achievement_earnings_achievement_id_achievements")
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["outbox_events.id"], name=op.f("fk_achievement_earnings_event_id_outbox_events")
        ),
        sa.ForeignKeyConstraint(["lead_id"], ["leads.id"], name=op.f("fk_achievement_earnings_lead_id_leads")),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], name=op.f("fk_achievement_earnings_org_id_orgs")),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_achievement_earnings_program_id_programs")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_achievement_earnings_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_achievement_earnings")),
        sa.UniqueConstraint(
            "achievement_id",
            "org_id",
            "occurrence",
            name=op.f("uq_achievement_earnings_achievement_id_org_id_occurrence"),
        ),
        sa.UniqueConstraint("key", name=op.f("uq_achievement_earnings_key")),
    )
    op.create_index("ix_achievement_earnings_org", "achievement_earnings", ["program_id", "org_id"], unique=False)
    op.create_index("ix_achievement_earnings_unpaid", "achievement_earnings", ["paid_at", "id"], unique=False)

    op.create_table(
        "achievement_hits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("achievement_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=20), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["achievement_id"], ["achievements.id"], name=op.f("fk_achievement_hits_achievement_id_achievements")
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["outbox_events.id"], name=op.f("fk_achievement_hits_event_id_outbox_events")
        ),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], name=op.f("fk_achievement_hits_org_id_orgs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_achievement_hits")),
        sa.UniqueConstraint("achievement_id", "event_id", name=op.f("uq_achievement_hits_achievement_id_event_id")),
    )
    op.create_index("ix_achievement_hits_org", "achievement_hits", ["achievement_id", "org_id", "period"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_achievement_hits_org", table_name="achievement_hits")

    op.drop_table("achievement_hits")
    op.drop_index("ix_achievement_earnings_unpaid", table_name="achievement_earnings")
    op.drop_index("ix_achievement_earnings_org", table_name="achievement_earnings")

    op.drop_table("achievement_earnings")
    op.drop_table("achievement_progress")
    op.drop_index("ix_achievements_program_event", table_name="achievements")

    op.drop_table("achievements")
    op.drop_table("streak_states")
