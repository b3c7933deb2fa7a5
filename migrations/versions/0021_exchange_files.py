"""bulk exchange: exported files (encrypted chunks) and the schedules that ask for them

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-16 12:00:00

Row-level security for the new tables is generated from tenants/access_policy.py after the upgrade
(migrations/env.py): every row is its tenant's alone. File content is stored as tenants.pii.EncryptedBytes writes
it (the raw bytes of a Fernet token), as uploads and evidence since 0013.
"""
import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "exchange_schedules",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("file_format", sa.String(length=8), nullable=False),
        sa.Column("frequency", sa.String(length=8), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=True),
        sa.Column("local_hour", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("mask_role", sa.String(length=32), nullable=False),
        sa.Column("created_by_user_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_exchange_schedules_tenant_id_tenants")),
        sa.ForeignKeyConstraint(["created_by_user_id"], ["users.id"],
                                name=op.f("fk_exchange_schedules_created_by_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_schedules")),
    )
    op.create_index(op.f("ix_exchange_schedules_tenant_id"), "exchange_schedules", ["tenant_id"])
    op.create_index("ix_exchange_schedules_due", "exchange_schedules", ["active", "next_run_at"])
    op.create_table(
        "exchange_exports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("file_format", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("counterparty_tenant_id", sa.Uuid(), nullable=True),
        sa.Column("period_start", sa.Date(), nullable=True),
        sa.Column("period_end", sa.Date(), nullable=True),
        sa.Column("mask_role", sa.String(length=32), nullable=False),
        sa.Column("schedule_id", sa.Uuid(), nullable=True),
        sa.Column("run_key", sa.String(length=120), nullable=True),
        sa.Column("requested_by_user_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("filename", sa.String(length=200), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("row_count", sa.Integer(), nullable=True),
        sa.Column("error_code", sa.String(length=50), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("download_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_exchange_exports_tenant_id_tenants")),
        sa.ForeignKeyConstraint(["counterparty_tenant_id"], ["tenants.id"],
                                name=op.f("fk_exchange_exports_counterparty_tenant_id_tenants")),
        sa.ForeignKeyConstraint(["schedule_id"], ["exchange_schedules.id"],
                                name=op.f("fk_exchange_exports_schedule_id_exchange_schedules")),
        sa.ForeignKeyConstraint(["requested_by_user_id"], ["users.id"],
                                name=op.f("fk_exchange_exports_requested_by_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_exports")),
        sa.UniqueConstraint("tenant_id", "run_key", name="uq_exchange_exports_tenant_run_key"),
    )
    op.create_index(op.f("ix_exchange_exports_tenant_id"), "exchange_exports", ["tenant_id"])
    op.create_index("ix_exchange_exports_tenant_created", "exchange_exports", ["tenant_id", "created_at"])
    op.create_index("ix_exchange_exports_expires", "exchange_exports", ["status", "expires_at"])
    op.create_table(
        "exchange_export_chunks",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("export_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"],
                                name=op.f("fk_exchange_export_chunks_tenant_id_tenants")),
        sa.ForeignKeyConstraint(["export_id"], ["exchange_exports.id"],
                                name=op.f("fk_exchange_export_chunks_export_id_exchange_exports")),
        sa.PrimaryKeyConstraint("export_id", "seq", name=op.f("pk_exchange_export_chunks")),
    )
    op.create_index(op.f("ix_exchange_export_chunks_tenant_id"), "exchange_export_chunks", ["tenant_id"])


def downgrade():
    op.drop_table("exchange_export_chunks")
    op.drop_table("exchange_exports")
    op.drop_table("exchange_schedules")
