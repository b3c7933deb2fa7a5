"""billing: plans, the usage ledger, invoices, processed Stripe events

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 13:27:57

"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

OWN = "app_platform() OR tenant_id = app_tenant()"
BILLING_TABLES = ("billing_plans", "usage_records", "billing_invoices")


def upgrade():
    op.create_table('billing_invoices',
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('cases', sa.Integer(), nullable=False),
    sa.Column('free_cases', sa.Integer(), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('stripe_invoice_id', sa.String(length=64), nullable=True),
    sa.Column('stripe_amount_minor', sa.BigInteger(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('status_event_at', sa.BigInteger(), nullable=True),
    sa.Column('hosted_invoice_url', sa.String(length=500), nullable=True),
    sa.Column('collection_requested_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_billing_invoices_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_invoices')),
    sa.UniqueConstraint('stripe_invoice_id', name=op.f('uq_billing_invoices_stripe_invoice_id')),
    sa.UniqueConstraint('tenant_id', 'period_start', name='uq_billing_invoices_period')
    )
    with op.batch_alter_table('billing_invoices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_billing_invoices_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('billing_plans',
    sa.Column('payer', sa.String(length=8), nullable=False),
    sa.Column('unit_price_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('free_cases', sa.Integer(), nullable=False),
    sa.Column('billing_day', sa.Integer(), nullable=False),
    sa.Column('stop_when_delinquent', sa.Boolean(), nullable=False),
    sa.Column('next_usage_seq', sa.BigInteger(), nullable=False),
    sa.Column('stripe_customer_id', sa.String(length=64), nullable=True),
    sa.Column('stripe_subscription_id', sa.String(length=64), nullable=True),
    sa.Column('standing', sa.String(length=12), nullable=False),
    sa.Column('delinquent_since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_billing_plans_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_plans')),
    sa.UniqueConstraint('tenant_id', name='uq_billing_plans_tenant_id')
    )
    with op.batch_alter_table('billing_plans', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_billing_plans_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('stripe_events',
    sa.Column('id', sa.String(length=255), nullable=False),
    sa.Column('type', sa.String(length=100), nullable=False),
    sa.Column('stripe_invoice_id', sa.String(length=64), nullable=True),
    sa.Column('tenant_id', sa.Uuid(), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_stripe_events_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stripe_events'))
    )
    op.create_table('usage_records',
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('placement_id', sa.Uuid(), nullable=False),
    sa.Column('account_id', sa.Uuid(), nullable=False),
    sa.Column('account_ref', sa.String(length=100), nullable=False),
    sa.Column('lender_tenant_id', sa.Uuid(), nullable=False),
    sa.Column('agency_tenant_id', sa.Uuid(), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('unit_price_minor', sa.BigInteger(), nullable=False),
    sa.Column('free', sa.Boolean(), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('billed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('stripe_invoice_item_id', sa.String(length=64), nullable=True),
    sa.Column('invoice_id', sa.Uuid(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_usage_records_account_id_accounts')),
    sa.ForeignKeyConstraint(['agency_tenant_id'], ['tenants.id'], name=op.f('fk_usage_records_agency_tenant_id_tenants')),
    sa.ForeignKeyConstraint(['invoice_id'], ['billing_invoices.id'], name=op.f('fk_usage_records_invoice_id_billing_invoices')),
    sa.ForeignKeyConstraint(['lender_tenant_id'], ['tenants.id'], name=op.f('fk_usage_records_lender_tenant_id_tenants')),
    sa.ForeignKeyConstraint(['placement_id'], ['placements.id'], name=op.f('fk_usage_records_placement_id_placements')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_usage_records_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_usage_records')),
    sa.UniqueConstraint('tenant_id', 'period_start', 'agency_tenant_id', 'account_id', name='uq_usage_records_case_period'),
    sa.UniqueConstraint('tenant_id', 'seq', name='uq_usage_records_seq')
    )
    with op.batch_alter_table('usage_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_usage_records_invoice_id'), ['invoice_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_usage_records_placement_id'), ['placement_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_usage_records_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index('ix_usage_records_unbilled', ['tenant_id', 'period_start', 'billed_at'], unique=False)

    _security_upgrade()


def _security_upgrade():
    """A payer's plan, usage and invoices are its own (usage is written for it in a platform context when another
    tenant accepts or places the case); processed webhook events are the platform's alone."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in (*BILLING_TABLES, "stripe_events"):
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    for table in BILLING_TABLES:
        op.execute(f"CREATE POLICY tenant_isolation ON {table} USING ({OWN}) WITH CHECK ({OWN})")
    op.execute("CREATE POLICY platform_only ON stripe_events USING (app_platform()) WITH CHECK (app_platform())")


def downgrade():
    with op.batch_alter_table('usage_records', schema=None) as batch_op:
        batch_op.drop_index('ix_usage_records_unbilled')
        batch_op.drop_index(batch_op.f('ix_usage_records_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_usage_records_placement_id'))
        batch_op.drop_index(batch_op.f('ix_usage_records_invoice_id'))

    op.drop_table('usage_records')
    op.drop_table('stripe_events')
    with op.batch_alter_table('billing_plans', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_billing_plans_tenant_id'))

    op.drop_table('billing_plans')
    with op.batch_alter_table('billing_invoices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_billing_invoices_tenant_id'))

    op.drop_table('billing_invoices')
