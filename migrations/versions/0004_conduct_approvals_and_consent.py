"""conduct approvals and consent; attempts readable by the account's lender; hand-over notice on placements

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 11:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

OWN = "app_platform() OR tenant_id = app_tenant()"

# Next permitted times read the ledger without recording anything: no reason to queue behind the person's lock.
PEEK_FUNCTION = """
CREATE FUNCTION conduct_ledger_peek(p_subject text, p_since timestamptz)
RETURNS TABLE (id uuid, debt_key text, number_key text, third_party_key text, channel text, target text,
               at timestamptz, connected boolean, conversation boolean, pending boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT l.id, l.debt_key::text, l.number_key::text, l.third_party_key::text, l.channel::text, l.target::text,
           l.at, l.connected, l.conversation, l.pending
    FROM conduct_ledger l WHERE l.subject_key = p_subject AND l.at >= p_since ORDER BY l.at;
$$;
"""


def _held(table: str) -> str:
    return (f"EXISTS (SELECT 1 FROM placements p WHERE p.account_id = {table}.account_id "
            "AND p.agency_tenant_id = app_tenant() AND p.status = 'active')")


def upgrade():
    with op.batch_alter_table("placements", schema=None) as batch_op:
        batch_op.add_column(sa.Column("debtor_notified_at", sa.DateTime(timezone=True), nullable=True))

    # Existing attempts take their account's lender; a server default carries the column through SQLite's
    # batch copy, then goes (the application always sets it).
    with op.batch_alter_table("contact_attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lender_tenant_id", sa.Uuid(), nullable=True))
    op.execute("UPDATE contact_attempts SET lender_tenant_id = "
               "(SELECT a.tenant_id FROM accounts a WHERE a.id = contact_attempts.account_id)")
    with op.batch_alter_table("contact_attempts", schema=None) as batch_op:
        batch_op.alter_column("lender_tenant_id", existing_type=sa.Uuid(), nullable=False)
        batch_op.create_foreign_key(batch_op.f("fk_contact_attempts_lender_tenant_id_tenants"), "tenants",
                                    ["lender_tenant_id"], ["id"])
        batch_op.create_index("ix_contact_attempts_lender_decided", ["lender_tenant_id", "decided_at"],
                              unique=False)
        batch_op.create_index("ix_contact_attempts_decided", ["decided_at"], unique=False)

    op.create_table("approval_requests",
    sa.Column("account_id", sa.Uuid(), nullable=False),
    sa.Column("attempt_id", sa.Uuid(), nullable=False),
    sa.Column("requested_by_tenant_id", sa.Uuid(), nullable=False),
    sa.Column("requested_by_user_id", sa.Uuid(), nullable=True),
    sa.Column("channel", sa.String(length=10), nullable=False),
    sa.Column("target", sa.String(length=12), nullable=False),
    sa.Column("rule_ids", sa.JSON(), nullable=False),
    sa.Column("approver_role", sa.String(length=32), nullable=False),
    sa.Column("note", sa.Text(), nullable=True),
    sa.Column("status", sa.String(length=12), nullable=False),
    sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("decided_by_user_id", sa.Uuid(), nullable=True),
    sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("decision_note", sa.Text(), nullable=True),
    sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
    sa.Column("used_by_attempt_id", sa.Uuid(), nullable=True),
    sa.Column("id", sa.Uuid(), nullable=False),
    sa.Column("tenant_id", sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_approval_requests_account_id_accounts")),
    sa.ForeignKeyConstraint(["attempt_id"], ["contact_attempts.id"], name=op.f("fk_approval_requests_attempt_id_contact_attempts")),
    sa.ForeignKeyConstraint(["decided_by_user_id"], ["users.id"], name=op.f("fk_approval_requests_decided_by_user_id_users")),
    sa.ForeignKeyConstraint(["requested_by_tenant_id"], ["tenants.id"], name=op.f("fk_approval_requests_requested_by_tenant_id_tenants")),
    sa.ForeignKeyConstraint(["requested_by_user_id"], ["users.id"], name=op.f("fk_approval_requests_requested_by_user_id_users")),
    sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_approval_requests_tenant_id_tenants")),
    sa.ForeignKeyConstraint(["used_by_attempt_id"], ["contact_attempts.id"], name=op.f("fk_approval_requests_used_by_attempt_id_contact_attempts")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_approval_requests")),
    sa.UniqueConstraint("attempt_id", name=op.f("uq_approval_requests_attempt_id"))
    )
    with op.batch_alter_table("approval_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_approval_requests_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_approval_requests_requested_by_tenant_id"), ["requested_by_tenant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_approval_requests_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_approval_requests_tenant_id"), ["tenant_id"], unique=False)

    op.create_table("account_consents",
    sa.Column("account_id", sa.Uuid(), nullable=False),
    sa.Column("opted_out_channels", sa.JSON(), nullable=False),
    sa.Column("inconvenient_windows", sa.JSON(), nullable=False),
    sa.Column("agreed_hours", sa.JSON(), nullable=True),
    sa.Column("consent_until", sa.DateTime(timezone=True), nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_by_tenant_id", sa.Uuid(), nullable=False),
    sa.Column("updated_by_user_id", sa.Uuid(), nullable=True),
    sa.Column("id", sa.Uuid(), nullable=False),
    sa.Column("tenant_id", sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_account_consents_account_id_accounts")),
    sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_account_consents_tenant_id_tenants")),
    sa.ForeignKeyConstraint(["updated_by_tenant_id"], ["tenants.id"], name=op.f("fk_account_consents_updated_by_tenant_id_tenants")),
    sa.ForeignKeyConstraint(["updated_by_user_id"], ["users.id"], name=op.f("fk_account_consents_updated_by_user_id_users")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_account_consents")),
    sa.UniqueConstraint("account_id", name=op.f("uq_account_consents_account_id"))
    )
    with op.batch_alter_table("account_consents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_account_consents_tenant_id"), ["tenant_id"], unique=False)

    _security_upgrade()


def _security_upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    policies = {
        # The lender reads attempts made on its accounts; only the tenant that made one writes it.
        "contact_attempts": (f"{OWN} OR lender_tenant_id = app_tenant()", OWN),
        "approval_requests": (f"{OWN} OR requested_by_tenant_id = app_tenant()",
                              f"{OWN} OR (requested_by_tenant_id = app_tenant() AND {_held('approval_requests')})"),
        "account_consents": (f"{OWN} OR {_held('account_consents')}",
                             f"{OWN} OR (updated_by_tenant_id = app_tenant() AND {_held('account_consents')})"),
    }
    op.execute("DROP POLICY IF EXISTS tenant_isolation ON contact_attempts")
    for table, (using, check) in policies.items():
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY tenant_isolation ON {table} USING ({using}) WITH CHECK ({check})")
    op.execute(PEEK_FUNCTION)


def _security_downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION IF EXISTS conduct_ledger_peek(text, timestamptz)")
    for table in ("contact_attempts", "approval_requests", "account_consents"):
        op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
    op.execute(f"CREATE POLICY tenant_isolation ON contact_attempts USING ({OWN}) WITH CHECK ({OWN})")


def downgrade():
    _security_downgrade()
    with op.batch_alter_table("account_consents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_account_consents_tenant_id"))
    op.drop_table("account_consents")
    with op.batch_alter_table("approval_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_approval_requests_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_approval_requests_status"))
        batch_op.drop_index(batch_op.f("ix_approval_requests_requested_by_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_approval_requests_account_id"))
    op.drop_table("approval_requests")
    with op.batch_alter_table("contact_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_contact_attempts_decided")
        batch_op.drop_index("ix_contact_attempts_lender_decided")
        batch_op.drop_constraint(batch_op.f("fk_contact_attempts_lender_tenant_id_tenants"), type_="foreignkey")
        batch_op.drop_column("lender_tenant_id")
    with op.batch_alter_table("placements", schema=None) as batch_op:
        batch_op.drop_column("debtor_notified_at")
