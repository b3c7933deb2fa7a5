"""import ranges: a large import split into line ranges, each run as a job of its own with its own checkpoint

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 11:00:00

Row-level security for the new table is generated from tenants/access_policy.py after the upgrade (migrations/env.py).
"""
import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "import_ranges",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("import_id", sa.Uuid(), nullable=False),
        sa.Column("first_line", sa.Integer(), nullable=False),
        sa.Column("last_line", sa.Integer(), nullable=False),
        sa.Column("checkpoint_line", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(["import_id"], ["import_jobs.id"], name=op.f("fk_import_ranges_import_id_import_jobs")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_import_ranges_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_ranges")),
        sa.UniqueConstraint("import_id", "first_line", name="uq_import_ranges_import_first_line"),
    )
    op.create_index(op.f("ix_import_ranges_import_id"), "import_ranges", ["import_id"])
    op.create_index(op.f("ix_import_ranges_tenant_id"), "import_ranges", ["tenant_id"])


def downgrade():
    op.drop_index(op.f("ix_import_ranges_tenant_id"), table_name="import_ranges")
    op.drop_index(op.f("ix_import_ranges_import_id"), table_name="import_ranges")
    op.drop_table("import_ranges")
