"""complaints

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 11:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

OWN = "app_platform() OR tenant_id = app_tenant()"
# The agency a complaint is about reads it; only the lender (or the platform) writes it.
CONCERNED = "agency_tenant_id = app_tenant()"


def upgrade():
    op.create_table("complaints",
    sa.Column("account_id", sa.Uuid(), nullable=False),
    sa.Column("agency_tenant_id", sa.Uuid(), nullable=True),
    sa.Column("attempt_id", sa.Uuid(), nullable=True),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("received_via", sa.String(length=20), nullable=False),
    sa.Column("category", sa.String(length=20), nullable=False),
    sa.Column("description", sa.Text(), nullable=False),
    sa.Column("status", sa.String(length=16), nullable=False),
    sa.Column("resolution", sa.Text(), nullable=True),
    sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("created_by_tenant_id", sa.Uuid(), nullable=False),
    sa.Column("created_by_user_id", sa.Uuid(), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("id", sa.Uuid(), nullable=False),
    sa.Column("tenant_id", sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_complaints_account_id_accounts")),
    sa.ForeignKeyConstraint(["agency_tenant_id"], ["tenants.id"], name=op.f("fk_complaints_agency_tenant_id_tenants")),
    sa.ForeignKeyConstraint(["attempt_id"], ["contact_attempts.id"], name=op.f("fk_complaints_attempt_id_contact_attempts")),
    sa.ForeignKeyConstraint(["created_by_tenant_id"], ["tenants.id"], name=op.f("fk_complaints_created_by_tenant_id_tenants")),
    sa.ForeignKeyConstraint(["created_by_user_id"], ["users.id"], name=op.f("fk_complaints_created_by_user_id_users")),
    sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_complaints_tenant_id_tenants")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_complaints"))
    )
    with op.batch_alter_table("complaints", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_complaints_account_id"), ["account_id"], unique=False)
        batch_op.create_index("ix_complaints_agency_received", ["agency_tenant_id", "received_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_complaints_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_complaints_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index("ix_complaints_tenant_received", ["tenant_id", "received_at"], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE complaints ENABLE ROW LEVEL SECURITY")
        op.execute("ALTER TABLE complaints FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY tenant_isolation ON complaints USING ({OWN} OR {CONCERNED}) WITH CHECK ({OWN})")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP POLICY IF EXISTS tenant_isolation ON complaints")
    with op.batch_alter_table("complaints", schema=None) as batch_op:
        batch_op.drop_index("ix_complaints_tenant_received")
        batch_op.drop_index(batch_op.f("ix_complaints_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_complaints_status"))
        batch_op.drop_index("ix_complaints_agency_received")
        batch_op.drop_index(batch_op.f("ix_complaints_account_id"))

    op.drop_table("complaints")
