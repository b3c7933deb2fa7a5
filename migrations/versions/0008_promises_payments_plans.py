"""promises payments plans

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 11:40:00

"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

OWN = "app_platform() OR tenant_id = app_tenant()"
HELD = ("EXISTS (SELECT 1 FROM placements p WHERE p.account_id = payments.account_id "
        "AND p.agency_tenant_id = app_tenant() AND p.status = 'active')")


def upgrade():
    op.create_table("promises",
    sa.Column("lender_tenant_id", sa.Uuid(), nullable=False),
    sa.Column("account_id", sa.Uuid(), nullable=False),
    sa.Column("placement_id", sa.Uuid(), nullable=False),
    sa.Column("amount_minor", sa.BigInteger(), nullable=False),
    sa.Column("currency", sa.String(length=3), nullable=False),
    sa.Column("taken_on", sa.Date(), nullable=False),
    sa.Column("due_on", sa.Date(), nullable=False),
    sa.Column("grace_days", sa.Integer(), nullable=False),
    sa.Column("zone", sa.String(length=64), nullable=False),
    sa.Column("status", sa.String(length=12), nullable=False),
    sa.Column("paid_minor", sa.BigInteger(), nullable=False),
    sa.Column("note", sa.Text(), nullable=True),
    sa.Column("taken_by_user_id", sa.Uuid(), nullable=True),
    sa.Column("attempt_id", sa.Uuid(), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("resolution", sa.Text(), nullable=True),
    sa.Column("idempotency_key", sa.String(length=100), nullable=True),
    sa.Column("id", sa.Uuid(), nullable=False),
    sa.Column("tenant_id", sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_promises_account_id_accounts")),
    sa.ForeignKeyConstraint(["attempt_id"], ["contact_attempts.id"], name=op.f("fk_promises_attempt_id_contact_attempts")),
    sa.ForeignKeyConstraint(["lender_tenant_id"], ["tenants.id"], name=op.f("fk_promises_lender_tenant_id_tenants")),
    sa.ForeignKeyConstraint(["placement_id"], ["placements.id"], name=op.f("fk_promises_placement_id_placements")),
    sa.ForeignKeyConstraint(["taken_by_user_id"], ["users.id"], name=op.f("fk_promises_taken_by_user_id_users")),
    sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_promises_tenant_id_tenants")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_promises")),
    sa.UniqueConstraint("tenant_id", "idempotency_key", name="uq_promises_idempotency")
    )
    with op.batch_alter_table("promises", schema=None) as batch_op:
        batch_op.create_index("ix_promises_account_status_due", ["account_id", "status", "due_on"], unique=False)
        batch_op.create_index(batch_op.f("ix_promises_lender_tenant_id"), ["lender_tenant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_promises_placement_id"), ["placement_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_promises_taken_by_user_id"), ["taken_by_user_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_promises_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index("ix_promises_tenant_status_due", ["tenant_id", "status", "due_on"], unique=False)

    op.create_table("payments",
    sa.Column("account_id", sa.Uuid(), nullable=False),
    sa.Column("placement_id", sa.Uuid(), nullable=True),
    sa.Column("agency_tenant_id", sa.Uuid(), nullable=True),
    sa.Column("recorded_by_tenant_id", sa.Uuid(), nullable=False),
    sa.Column("recorded_by_user_id", sa.Uuid(), nullable=True),
    sa.Column("amount_minor", sa.BigInteger(), nullable=False),
    sa.Column("currency", sa.String(length=3), nullable=False),
    sa.Column("received_on", sa.Date(), nullable=False),
    sa.Column("method", sa.String(length=16), nullable=False),
    sa.Column("reference", sa.String(length=100), nullable=True),
    sa.Column("status", sa.String(length=12), nullable=False),
    sa.Column("allocation", sa.JSON(), nullable=True),
    sa.Column("closed_account", sa.Boolean(), nullable=False),
    sa.Column("prior_last_payment_date", sa.Date(), nullable=True),
    sa.Column("prior_last_payment_minor", sa.BigInteger(), nullable=True),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("confirmed_by_user_id", sa.Uuid(), nullable=True),
    sa.Column("reversed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("reversed_by_user_id", sa.Uuid(), nullable=True),
    sa.Column("reversal_reason", sa.Text(), nullable=True),
    sa.Column("idempotency_key", sa.String(length=100), nullable=True),
    sa.Column("id", sa.Uuid(), nullable=False),
    sa.Column("tenant_id", sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_payments_account_id_accounts")),
    sa.ForeignKeyConstraint(["agency_tenant_id"], ["tenants.id"], name=op.f("fk_payments_agency_tenant_id_tenants")),
    sa.ForeignKeyConstraint(["confirmed_by_user_id"], ["users.id"], name=op.f("fk_payments_confirmed_by_user_id_users")),
    sa.ForeignKeyConstraint(["placement_id"], ["placements.id"], name=op.f("fk_payments_placement_id_placements")),
    sa.ForeignKeyConstraint(["recorded_by_tenant_id"], ["tenants.id"], name=op.f("fk_payments_recorded_by_tenant_id_tenants")),
    sa.ForeignKeyConstraint(["recorded_by_user_id"], ["users.id"], name=op.f("fk_payments_recorded_by_user_id_users")),
    sa.ForeignKeyConstraint(["reversed_by_user_id"], ["users.id"], name=op.f("fk_payments_reversed_by_user_id_users")),
    sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_payments_tenant_id_tenants")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
    sa.UniqueConstraint("recorded_by_tenant_id", "idempotency_key", name="uq_payments_idempotency")
    )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.create_index("ix_payments_account_status", ["account_id", "status"], unique=False)
        batch_op.create_index("ix_payments_agency_status", ["agency_tenant_id", "status"], unique=False)
        batch_op.create_index(batch_op.f("ix_payments_placement_id"), ["placement_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_payments_recorded_by_user_id"), ["recorded_by_user_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_payments_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index("ix_payments_tenant_status", ["tenant_id", "status"], unique=False)

    op.create_table("payment_plans",
    sa.Column("lender_tenant_id", sa.Uuid(), nullable=False),
    sa.Column("account_id", sa.Uuid(), nullable=False),
    sa.Column("placement_id", sa.Uuid(), nullable=False),
    sa.Column("currency", sa.String(length=3), nullable=False),
    sa.Column("total_minor", sa.BigInteger(), nullable=False),
    sa.Column("instalment_count", sa.Integer(), nullable=False),
    sa.Column("frequency", sa.String(length=12), nullable=False),
    sa.Column("agreed_on", sa.Date(), nullable=False),
    sa.Column("grace_days", sa.Integer(), nullable=False),
    sa.Column("zone", sa.String(length=64), nullable=False),
    sa.Column("status", sa.String(length=12), nullable=False),
    sa.Column("note", sa.Text(), nullable=True),
    sa.Column("created_by_user_id", sa.Uuid(), nullable=True),
    sa.Column("attempt_id", sa.Uuid(), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("signed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("signed_by_user_id", sa.Uuid(), nullable=True),
    sa.Column("acknowledgement", sa.Text(), nullable=True),
    sa.Column("evidence_id", sa.Uuid(), nullable=True),
    sa.Column("hold_id", sa.Uuid(), nullable=True),
    sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("end_reason", sa.Text(), nullable=True),
    sa.Column("idempotency_key", sa.String(length=100), nullable=True),
    sa.Column("id", sa.Uuid(), nullable=False),
    sa.Column("tenant_id", sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_payment_plans_account_id_accounts")),
    sa.ForeignKeyConstraint(["attempt_id"], ["contact_attempts.id"], name=op.f("fk_payment_plans_attempt_id_contact_attempts")),
    sa.ForeignKeyConstraint(["created_by_user_id"], ["users.id"], name=op.f("fk_payment_plans_created_by_user_id_users")),
    sa.ForeignKeyConstraint(["hold_id"], ["holds.id"], name=op.f("fk_payment_plans_hold_id_holds")),
    sa.ForeignKeyConstraint(["lender_tenant_id"], ["tenants.id"], name=op.f("fk_payment_plans_lender_tenant_id_tenants")),
    sa.ForeignKeyConstraint(["placement_id"], ["placements.id"], name=op.f("fk_payment_plans_placement_id_placements")),
    sa.ForeignKeyConstraint(["signed_by_user_id"], ["users.id"], name=op.f("fk_payment_plans_signed_by_user_id_users")),
    sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_payment_plans_tenant_id_tenants")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_plans")),
    sa.UniqueConstraint("tenant_id", "idempotency_key", name="uq_payment_plans_idempotency")
    )
    with op.batch_alter_table("payment_plans", schema=None) as batch_op:
        batch_op.create_index("ix_payment_plans_account_status", ["account_id", "status"], unique=False)
        batch_op.create_index(batch_op.f("ix_payment_plans_created_by_user_id"), ["created_by_user_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_payment_plans_lender_tenant_id"), ["lender_tenant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_payment_plans_placement_id"), ["placement_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_payment_plans_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index("ix_payment_plans_tenant_status", ["tenant_id", "status"], unique=False)

    op.create_table("plan_instalments",
    sa.Column("lender_tenant_id", sa.Uuid(), nullable=False),
    sa.Column("plan_id", sa.Uuid(), nullable=False),
    sa.Column("number", sa.Integer(), nullable=False),
    sa.Column("due_on", sa.Date(), nullable=False),
    sa.Column("amount_minor", sa.BigInteger(), nullable=False),
    sa.Column("status", sa.String(length=8), nullable=False),
    sa.Column("paid_minor", sa.BigInteger(), nullable=False),
    sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("id", sa.Uuid(), nullable=False),
    sa.Column("tenant_id", sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(["lender_tenant_id"], ["tenants.id"], name=op.f("fk_plan_instalments_lender_tenant_id_tenants")),
    sa.ForeignKeyConstraint(["plan_id"], ["payment_plans.id"], name=op.f("fk_plan_instalments_plan_id_payment_plans")),
    sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_plan_instalments_tenant_id_tenants")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_instalments")),
    sa.UniqueConstraint("plan_id", "number", name="uq_plan_instalments_plan_number")
    )
    with op.batch_alter_table("plan_instalments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_plan_instalments_lender_tenant_id"), ["lender_tenant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_plan_instalments_tenant_id"), ["tenant_id"], unique=False)

    _security_upgrade()


def _security_upgrade():
    """One policy writes (the owner's), permissive read policies widen SELECT only: the lender reads the agency's
    promises and plans but cannot change or delete them; the agency reads the payments made under its placements
    and inserts pending ones on accounts it holds, while confirming and reversing stay the lender's."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in ("promises", "payment_plans", "plan_instalments", "payments"):
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY tenant_isolation ON {table} USING ({OWN}) WITH CHECK ({OWN})")
    for table in ("promises", "payment_plans", "plan_instalments"):
        op.execute(f"CREATE POLICY lender_reads ON {table} FOR SELECT USING (lender_tenant_id = app_tenant())")
    op.execute("CREATE POLICY agency_reads ON payments FOR SELECT USING (agency_tenant_id = app_tenant())")
    op.execute("CREATE POLICY agency_records ON payments FOR INSERT WITH CHECK (recorded_by_tenant_id = app_tenant() "
               f"AND agency_tenant_id = app_tenant() AND status = 'pending' AND {HELD})")


def _security_downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP POLICY IF EXISTS agency_records ON payments")
    op.execute("DROP POLICY IF EXISTS agency_reads ON payments")
    for table in ("plan_instalments", "payment_plans", "promises"):
        op.execute(f"DROP POLICY IF EXISTS lender_reads ON {table}")
    for table in ("plan_instalments", "payment_plans", "payments", "promises"):
        op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")


def downgrade():
    _security_downgrade()
    with op.batch_alter_table("plan_instalments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_plan_instalments_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_plan_instalments_lender_tenant_id"))
    op.drop_table("plan_instalments")
    with op.batch_alter_table("payment_plans", schema=None) as batch_op:
        batch_op.drop_index("ix_payment_plans_tenant_status")
        batch_op.drop_index(batch_op.f("ix_payment_plans_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_payment_plans_placement_id"))
        batch_op.drop_index(batch_op.f("ix_payment_plans_lender_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_payment_plans_created_by_user_id"))
        batch_op.drop_index("ix_payment_plans_account_status")
    op.drop_table("payment_plans")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index("ix_payments_tenant_status")
        batch_op.drop_index(batch_op.f("ix_payments_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_payments_recorded_by_user_id"))
        batch_op.drop_index(batch_op.f("ix_payments_placement_id"))
        batch_op.drop_index("ix_payments_agency_status")
        batch_op.drop_index("ix_payments_account_status")
    op.drop_table("payments")
    with op.batch_alter_table("promises", schema=None) as batch_op:
        batch_op.drop_index("ix_promises_tenant_status_due")
        batch_op.drop_index(batch_op.f("ix_promises_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_promises_taken_by_user_id"))
        batch_op.drop_index(batch_op.f("ix_promises_placement_id"))
        batch_op.drop_index(batch_op.f("ix_promises_lender_tenant_id"))
        batch_op.drop_index("ix_promises_account_status_due")
    op.drop_table("promises")
