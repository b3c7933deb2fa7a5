"""calls: click-to-call through a telephony gateway, one row per dialled contact attempt

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08 10:00:00

Row-level security for the new table is generated from tenants/access_policy.py after the upgrade (migrations/env.py).
"""
import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "calls",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("attempt_id", sa.Uuid(), nullable=False),
        sa.Column("gateway", sa.String(length=16), nullable=False),
        sa.Column("gateway_call_id", sa.String(length=100), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("duration_s", sa.Integer(), nullable=True),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("placed_by_user_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_calls_tenant_id_tenants")),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_calls_account_id_accounts")),
        sa.ForeignKeyConstraint(["attempt_id"], ["contact_attempts.id"],
                                name=op.f("fk_calls_attempt_id_contact_attempts")),
        sa.ForeignKeyConstraint(["placed_by_user_id"], ["users.id"], name=op.f("fk_calls_placed_by_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calls")),
        sa.UniqueConstraint("attempt_id", name=op.f("uq_calls_attempt_id")),
        sa.UniqueConstraint("gateway_call_id", name=op.f("uq_calls_gateway_call_id")),
    )
    op.create_index(op.f("ix_calls_tenant_id"), "calls", ["tenant_id"])
    op.create_index(op.f("ix_calls_account_id"), "calls", ["account_id"])


def downgrade():
    op.drop_index(op.f("ix_calls_account_id"), table_name="calls")
    op.drop_index(op.f("ix_calls_tenant_id"), table_name="calls")
    op.drop_table("calls")
