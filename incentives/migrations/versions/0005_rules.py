"""rules: versioned reward rules, award decisions, cap counters and skips

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("current_version >= 1", name=op.f("ck_rules_version_positive")),
        sa.ForeignKeyConstraint(["program_id"], ["programs.id"], name=op.f("fk_rules_program_id_programs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rules")),
    )
    with op.batch_alter_table("rules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rules_program_id"), ["program_id"], unique=False)

    op.create_table(
        "rule_cap_usage",
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.CheckConstraint("points >= 0", name=op.f("ck_rule_cap_usage_points_not_negative")),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], name=op.f("fk_rule_cap_usage_org_id_orgs")),
        sa.ForeignKeyConstraint(["rule_id"], ["rules.id"], name=op.f("fk_rule_cap_usage_rule_id_rules")),
        sa.PrimaryKeyConstraint("rule_id", "org_id", "period_start", name=op.f("pk_rule_cap_usage")),
    )
    op.create_table(
        "rule_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("name_de", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("event", sa.String(length=40), nullable=False),
        sa.Column("effect", sa.String(length=10), nullable=False),
        sa.Column("condition", sa.Text(), nullable=False),
        sa.Column("points", sa.Text(), nullable=False),
        sa.Column("cap_per", sa.String(length=10), nullable=True),
        sa.Column("cap_max_points", sa.Integer(), nullable=True),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(cap_per IS NULL AND cap_max_points IS NULL)"
            " OR (cap_per IN ('day', 'week', 'month') AND cap_max_points > 0)",
            name=op.f("ck_rule_versions_cap_complete"),
        ),
        sa.CheckConstraint("effect IN ('award', 'reverse')", name=op.f("ck_rule_versions_effect_known")),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_from IS NULL OR valid_to > valid_from",
            name=op.f("ck_rule_versions_window_ordered"),
        ),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], name=op.f("fk_rule_versions_created_by_id_users")),
        sa.ForeignKeyConstraint(["program_id"], ["programs.id"], name=op.f("fk_rule_versions_program_id_programs")),
        sa.ForeignKeyConstraint(["rule_id"], ["rules.id"], name=op.f("fk_rule_versions_rule_id_rules")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_versions")),
        sa.UniqueConstraint("rule_id", "version", name=op.f("uq_rule_versions_rule_id_version")),
    )
    with op.batch_alter_table("rule_versions", schema=None) as batch_op:
        batch_op.create_index("ix_rule_versions_program_event", ["program_id", "event"], unique=False)

    op.create_table(
        "rule_awards",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("rule_version", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("event_type", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("reverses_key", sa.String(length=200), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("transfer_id", sa.Integer(), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.CheckConstraint("kind IN ('earn', 'reverse')", name=op.f("ck_rule_awards_kind_known")),
        sa.CheckConstraint("points > 0", name=op.f("ck_rule_awards_points_positive")),
        sa.ForeignKeyConstraint(["event_id"], ["outbox_events.id"], name=op.f("fk_rule_awards_event_id_outbox_events")),
        sa.ForeignKeyConstraint(["lead_id"], ["leads.id"], name=op.f("fk_rule_awards_lead_id_leads")),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], name=op.f("fk_rule_awards_org_id_orgs")),
        sa.ForeignKeyConstraint(["program_id"], ["programs.id"], name=op.f("fk_rule_awards_program_id_programs")),
        sa.ForeignKeyConstraint(["rule_id"], ["rules.id"], name=op.f("fk_rule_awards_rule_id_rules")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_awards")),
        sa.UniqueConstraint("key", name=op.f("uq_rule_awards_key")),
        sa.UniqueConstraint("reverses_key", name=op.f("uq_rule_awards_reverses_key")),
    )
    with op.batch_alter_table("rule_awards", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rule_awards_event_id"), ["event_id"], unique=False)
        batch_op.create_index("ix_rule_awards_lead", ["lead_id", "org_id", "event_type"], unique=False)
        batch_op.create_index("ix_rule_awards_unpaid", ["paid_at", "id"], unique=False)

    op.create_table(
        "rule_skips",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("rule_version", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["outbox_events.id"], name=op.f("fk_rule_skips_event_id_outbox_events")),
        sa.ForeignKeyConstraint(["rule_id"], ["rules.id"], name=op.f("fk_rule_skips_rule_id_rules")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_skips")),
    )
    with op.batch_alter_table("rule_skips", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rule_skips_event_id"), ["event_id"], unique=False)
        batch_op.create_index("ix_rule_skips_rule", ["rule_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("rule_skips", schema=None) as batch_op:
        batch_op.drop_index("ix_rule_skips_rule")
        batch_op.drop_index(batch_op.f("ix_rule_skips_event_id"))

    op.drop_table("rule_skips")
    with op.batch_alter_table("rule_awards", schema=None) as batch_op:
        batch_op.drop_index("ix_rule_awards_unpaid")
        batch_op.drop_index("ix_rule_awards_lead")
        batch_op.drop_index(batch_op.f("ix_rule_awards_event_id"))

    op.drop_table("rule_awards")
    with op.batch_alter_table("rule_versions", schema=None) as batch_op:
        batch_op.drop_index("ix_rule_versions_program_event")

    op.drop_table("rule_versions")
    op.drop_table("rule_cap_usage")
    with op.batch_alter_table("rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rules_program_id"))

    op.drop_table("rules")
