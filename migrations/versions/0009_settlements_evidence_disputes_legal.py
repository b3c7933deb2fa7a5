"""settlements, agreements, evidence, disputes, legal escalations; the placement's settlement discount limit

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 11:40:00

"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

OWN = "app_platform() OR tenant_id = app_tenant()"
LENDER = "lender_tenant_id = app_tenant()"


def _held(table: str) -> str:
    return (f"EXISTS (SELECT 1 FROM placements p WHERE p.account_id = {table}.account_id "
            "AND p.agency_tenant_id = app_tenant() AND p.status = 'active')")


def _policies() -> dict:
    """Table → (who reads, who writes), as the models' visible_to / writable_by and the services say."""
    return {
        # The agency's offer or request: it writes while it holds the account; the lender reads and decides.
        "settlements": (f"{OWN} OR {LENDER}",
                        f"app_platform() OR (tenant_id = app_tenant() AND {_held('settlements')}) OR {LENDER}"),
        "legal_escalations": (f"{OWN} OR {LENDER}",
                              f"app_platform() OR (tenant_id = app_tenant() AND {_held('legal_escalations')}) "
                              f"OR {LENDER}"),
        # The lender's, seen by the agency holding the account, which may open one (and resolve its own).
        "disputes": (f"{OWN} OR {_held('disputes')}",
                     f"{OWN} OR (opened_by_tenant_id = app_tenant() AND {_held('disputes')})"),
        # The uploader's file, read by the lender and the agency holding the account (not by an agency after a
        # recall, its own uploads included: they carry the debtor's PII); written by the lender or by an agency
        # while it holds the account.
        **{table: (f"app_platform() OR {LENDER} OR {_held(table)}",
                   f"app_platform() OR (tenant_id = app_tenant() AND ({LENDER} OR {_held(table)}))")
           for table in ("evidence", "evidence_chunks", "agreements")},
    }


def upgrade():
    op.create_table("disputes",
    sa.Column("account_id", sa.Uuid(), nullable=False),
    sa.Column("category", sa.String(length=30), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("status", sa.String(length=12), nullable=False),
    sa.Column("outcome", sa.String(length=12), nullable=True),
    sa.Column("resolution", sa.Text(), nullable=True),
    sa.Column("hold_id", sa.Uuid(), nullable=False),
    sa.Column("source", sa.String(length=20), nullable=False),
    sa.Column("opened_by_tenant_id", sa.Uuid(), nullable=False),
    sa.Column("opened_by_user_id", sa.Uuid(), nullable=True),
    sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("resolved_by_tenant_id", sa.Uuid(), nullable=True),
    sa.Column("resolved_by_user_id", sa.Uuid(), nullable=True),
    sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("id", sa.Uuid(), nullable=False),
    sa.Column("tenant_id", sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_disputes_account_id_accounts")),
    sa.ForeignKeyConstraint(["hold_id"], ["holds.id"], name=op.f("fk_disputes_hold_id_holds")),
    sa.ForeignKeyConstraint(["opened_by_tenant_id"], ["tenants.id"], name=op.f("fk_disputes_opened_by_tenant_id_tenants")),
    sa.ForeignKeyConstraint(["opened_by_user_id"], ["users.id"], name=op.f("fk_disputes_opened_by_user_id_users")),
    sa.ForeignKeyConstraint(["resolved_by_tenant_id"], ["tenants.id"], name=op.f("fk_disputes_resolved_by_tenant_id_tenants")),
    sa.ForeignKeyConstraint(["resolved_by_user_id"], ["users.id"], name=op.f("fk_disputes_resolved_by_user_id_users")),
    sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_disputes_tenant_id_tenants")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_disputes"))
    )
    op.create_index(op.f("ix_disputes_account_id"), "disputes", ["account_id"], unique=False)
    op.create_index(op.f("ix_disputes_status"), "disputes", ["status"], unique=False)
    op.create_index(op.f("ix_disputes_tenant_id"), "disputes", ["tenant_id"], unique=False)
    op.create_table("settlements",
    sa.Column("lender_tenant_id", sa.Uuid(), nullable=False),
    sa.Column("account_id", sa.Uuid(), nullable=False),
    sa.Column("placement_id", sa.Uuid(), nullable=False),
    sa.Column("currency", sa.String(length=3), nullable=False),
    sa.Column("outstanding_minor", sa.BigInteger(), nullable=False),
    sa.Column("amount_minor", sa.BigInteger(), nullable=False),
    sa.Column("discount_bps", sa.Integer(), nullable=False),
    sa.Column("max_discount_bps", sa.Integer(), nullable=False),
    sa.Column("deadline", sa.Date(), nullable=False),
    sa.Column("status", sa.String(length=16), nullable=False),
    sa.Column("note", sa.Text(), nullable=True),
    sa.Column("proposed_by_user_id", sa.Uuid(), nullable=True),
    sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("decided_by_user_id", sa.Uuid(), nullable=True),
    sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("decision_note", sa.Text(), nullable=True),
    sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("id", sa.Uuid(), nullable=False),
    sa.Column("tenant_id", sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_settlements_account_id_accounts")),
    sa.ForeignKeyConstraint(["decided_by_user_id"], ["users.id"], name=op.f("fk_settlements_decided_by_user_id_users")),
    sa.ForeignKeyConstraint(["lender_tenant_id"], ["tenants.id"], name=op.f("fk_settlements_lender_tenant_id_tenants")),
    sa.ForeignKeyConstraint(["placement_id"], ["placements.id"], name=op.f("fk_settlements_placement_id_placements")),
    sa.ForeignKeyConstraint(["proposed_by_user_id"], ["users.id"], name=op.f("fk_settlements_proposed_by_user_id_users")),
    sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_settlements_tenant_id_tenants")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_settlements"))
    )
    op.create_index(op.f("ix_settlements_account_id"), "settlements", ["account_id"], unique=False)
    op.create_index("ix_settlements_lender_status", "settlements", ["lender_tenant_id", "status"], unique=False)
    op.create_index(op.f("ix_settlements_tenant_id"), "settlements", ["tenant_id"], unique=False)
    op.create_table("legal_escalations",
    sa.Column("lender_tenant_id", sa.Uuid(), nullable=False),
    sa.Column("account_id", sa.Uuid(), nullable=False),
    sa.Column("placement_id", sa.Uuid(), nullable=False),
    sa.Column("kind", sa.String(length=20), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("status", sa.String(length=12), nullable=False),
    sa.Column("attempt_id", sa.Uuid(), nullable=False),
    sa.Column("rulebook_version", sa.String(length=100), nullable=False),
    sa.Column("requested_by_user_id", sa.Uuid(), nullable=True),
    sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("decided_by_user_id", sa.Uuid(), nullable=True),
    sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("decision_note", sa.Text(), nullable=True),
    sa.Column("filed_reference", sa.String(length=200), nullable=True),
    sa.Column("filed_by_user_id", sa.Uuid(), nullable=True),
    sa.Column("filed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("id", sa.Uuid(), nullable=False),
    sa.Column("tenant_id", sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_legal_escalations_account_id_accounts")),
    sa.ForeignKeyConstraint(["attempt_id"], ["contact_attempts.id"], name=op.f("fk_legal_escalations_attempt_id_contact_attempts")),
    sa.ForeignKeyConstraint(["decided_by_user_id"], ["users.id"], name=op.f("fk_legal_escalations_decided_by_user_id_users")),
    sa.ForeignKeyConstraint(["filed_by_user_id"], ["users.id"], name=op.f("fk_legal_escalations_filed_by_user_id_users")),
    sa.ForeignKeyConstraint(["lender_tenant_id"], ["tenants.id"], name=op.f("fk_legal_escalations_lender_tenant_id_tenants")),
    sa.ForeignKeyConstraint(["placement_id"], ["placements.id"], name=op.f("fk_legal_escalations_placement_id_placements")),
    sa.ForeignKeyConstraint(["requested_by_user_id"], ["users.id"], name=op.f("fk_legal_escalations_requested_by_user_id_users")),
    sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_legal_escalations_tenant_id_tenants")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_legal_escalations"))
    )
    op.create_index(op.f("ix_legal_escalations_account_id"), "legal_escalations", ["account_id"], unique=False)
    op.create_index("ix_legal_escalations_lender_status", "legal_escalations", ["lender_tenant_id", "status"], unique=False)
    op.create_index(op.f("ix_legal_escalations_tenant_id"), "legal_escalations", ["tenant_id"], unique=False)
    op.create_table("evidence",
    sa.Column("lender_tenant_id", sa.Uuid(), nullable=False),
    sa.Column("account_id", sa.Uuid(), nullable=False),
    sa.Column("kind", sa.String(length=20), nullable=False),
    sa.Column("filename", sa.String(length=255), nullable=False),
    sa.Column("content_type", sa.String(length=100), nullable=False),
    sa.Column("size_bytes", sa.BigInteger(), nullable=False),
    sa.Column("sha256", sa.String(length=64), nullable=False),
    sa.Column("retention_until", sa.Date(), nullable=False),
    sa.Column("retention_rule", sa.String(length=40), nullable=False),
    sa.Column("description", sa.Text(), nullable=True),
    sa.Column("attempt_id", sa.Uuid(), nullable=True),
    sa.Column("settlement_id", sa.Uuid(), nullable=True),
    sa.Column("plan_id", sa.Uuid(), nullable=True),
    sa.Column("dispute_id", sa.Uuid(), nullable=True),
    sa.Column("audit_event_id", sa.Uuid(), nullable=True),
    sa.Column("lender_audit_event_id", sa.Uuid(), nullable=True),
    sa.Column("uploaded_by_user_id", sa.Uuid(), nullable=True),
    sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("id", sa.Uuid(), nullable=False),
    sa.Column("tenant_id", sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_evidence_account_id_accounts")),
    sa.ForeignKeyConstraint(["attempt_id"], ["contact_attempts.id"], name=op.f("fk_evidence_attempt_id_contact_attempts")),
    sa.ForeignKeyConstraint(["audit_event_id"], ["audit_events.id"], name=op.f("fk_evidence_audit_event_id_audit_events")),
    sa.ForeignKeyConstraint(["dispute_id"], ["disputes.id"], name=op.f("fk_evidence_dispute_id_disputes")),
    sa.ForeignKeyConstraint(["lender_audit_event_id"], ["audit_events.id"], name=op.f("fk_evidence_lender_audit_event_id_audit_events")),
    sa.ForeignKeyConstraint(["lender_tenant_id"], ["tenants.id"], name=op.f("fk_evidence_lender_tenant_id_tenants")),
    sa.ForeignKeyConstraint(["plan_id"], ["payment_plans.id"], name=op.f("fk_evidence_plan_id_payment_plans")),
    sa.ForeignKeyConstraint(["settlement_id"], ["settlements.id"], name=op.f("fk_evidence_settlement_id_settlements")),
    sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_evidence_tenant_id_tenants")),
    sa.ForeignKeyConstraint(["uploaded_by_user_id"], ["users.id"], name=op.f("fk_evidence_uploaded_by_user_id_users")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence"))
    )
    op.create_index(op.f("ix_evidence_account_id"), "evidence", ["account_id"], unique=False)
    op.create_index(op.f("ix_evidence_lender_tenant_id"), "evidence", ["lender_tenant_id"], unique=False)
    op.create_index(op.f("ix_evidence_tenant_id"), "evidence", ["tenant_id"], unique=False)
    op.create_table("agreements",
    sa.Column("lender_tenant_id", sa.Uuid(), nullable=False),
    sa.Column("account_id", sa.Uuid(), nullable=False),
    sa.Column("settlement_id", sa.Uuid(), nullable=True),
    sa.Column("plan_id", sa.Uuid(), nullable=True),
    sa.Column("language", sa.String(length=8), nullable=False),
    sa.Column("status", sa.String(length=12), nullable=False),
    sa.Column("document_evidence_id", sa.Uuid(), nullable=True),
    sa.Column("created_by_user_id", sa.Uuid(), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("signed_evidence_id", sa.Uuid(), nullable=True),
    sa.Column("signatory", sa.Text(), nullable=True),
    sa.Column("signature_method", sa.String(length=12), nullable=True),
    sa.Column("signature_detail", sa.String(length=200), nullable=True),
    sa.Column("signed_attempt_id", sa.Uuid(), nullable=True),
    sa.Column("signed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("signature_recorded_by_user_id", sa.Uuid(), nullable=True),
    sa.Column("id", sa.Uuid(), nullable=False),
    sa.Column("tenant_id", sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_agreements_account_id_accounts")),
    sa.ForeignKeyConstraint(["created_by_user_id"], ["users.id"], name=op.f("fk_agreements_created_by_user_id_users")),
    sa.ForeignKeyConstraint(["document_evidence_id"], ["evidence.id"], name=op.f("fk_agreements_document_evidence_id_evidence")),
    sa.ForeignKeyConstraint(["lender_tenant_id"], ["tenants.id"], name=op.f("fk_agreements_lender_tenant_id_tenants")),
    sa.ForeignKeyConstraint(["plan_id"], ["payment_plans.id"], name=op.f("fk_agreements_plan_id_payment_plans")),
    sa.ForeignKeyConstraint(["settlement_id"], ["settlements.id"], name=op.f("fk_agreements_settlement_id_settlements")),
    sa.ForeignKeyConstraint(["signature_recorded_by_user_id"], ["users.id"], name=op.f("fk_agreements_signature_recorded_by_user_id_users")),
    sa.ForeignKeyConstraint(["signed_attempt_id"], ["contact_attempts.id"], name=op.f("fk_agreements_signed_attempt_id_contact_attempts")),
    sa.ForeignKeyConstraint(["signed_evidence_id"], ["evidence.id"], name=op.f("fk_agreements_signed_evidence_id_evidence")),
    sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_agreements_tenant_id_tenants")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_agreements"))
    )
    op.create_index(op.f("ix_agreements_account_id"), "agreements", ["account_id"], unique=False)
    op.create_index(op.f("ix_agreements_plan_id"), "agreements", ["plan_id"], unique=False)
    op.create_index(op.f("ix_agreements_settlement_id"), "agreements", ["settlement_id"], unique=False)
    op.create_index(op.f("ix_agreements_tenant_id"), "agreements", ["tenant_id"], unique=False)
    op.create_table("evidence_chunks",
    sa.Column("evidence_id", sa.Uuid(), nullable=False),
    sa.Column("seq", sa.Integer(), nullable=False),
    sa.Column("lender_tenant_id", sa.Uuid(), nullable=False),
    sa.Column("account_id", sa.Uuid(), nullable=False),
    sa.Column("data", sa.LargeBinary(), nullable=False),
    sa.Column("tenant_id", sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_evidence_chunks_account_id_accounts")),
    sa.ForeignKeyConstraint(["evidence_id"], ["evidence.id"], name=op.f("fk_evidence_chunks_evidence_id_evidence")),
    sa.ForeignKeyConstraint(["lender_tenant_id"], ["tenants.id"], name=op.f("fk_evidence_chunks_lender_tenant_id_tenants")),
    sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_evidence_chunks_tenant_id_tenants")),
    sa.PrimaryKeyConstraint("evidence_id", "seq", name=op.f("pk_evidence_chunks"))
    )
    op.create_index(op.f("ix_evidence_chunks_tenant_id"), "evidence_chunks", ["tenant_id"], unique=False)
    with op.batch_alter_table("placements", schema=None) as batch_op:
        batch_op.add_column(sa.Column("max_discount_bps", sa.Integer(), nullable=True))

    if op.get_bind().dialect.name == "postgresql":
        for table, (using, check) in _policies().items():
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
            op.execute(f"CREATE POLICY tenant_isolation ON {table} USING ({using}) WITH CHECK ({check})")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for table in _policies():
            op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
    with op.batch_alter_table("placements", schema=None) as batch_op:
        batch_op.drop_column("max_discount_bps")
    op.drop_index(op.f("ix_evidence_chunks_tenant_id"), table_name="evidence_chunks")
    op.drop_table("evidence_chunks")
    op.drop_index(op.f("ix_agreements_tenant_id"), table_name="agreements")
    op.drop_index(op.f("ix_agreements_settlement_id"), table_name="agreements")
    op.drop_index(op.f("ix_agreements_plan_id"), table_name="agreements")
    op.drop_index(op.f("ix_agreements_account_id"), table_name="agreements")
    op.drop_table("agreements")
    op.drop_index(op.f("ix_evidence_tenant_id"), table_name="evidence")
    op.drop_index(op.f("ix_evidence_lender_tenant_id"), table_name="evidence")
    op.drop_index(op.f("ix_evidence_account_id"), table_name="evidence")
    op.drop_table("evidence")
    op.drop_index(op.f("ix_legal_escalations_tenant_id"), table_name="legal_escalations")
    op.drop_index("ix_legal_escalations_lender_status", table_name="legal_escalations")
    op.drop_index(op.f("ix_legal_escalations_account_id"), table_name="legal_escalations")
    op.drop_table("legal_escalations")
    op.drop_index(op.f("ix_settlements_tenant_id"), table_name="settlements")
    op.drop_index("ix_settlements_lender_status", table_name="settlements")
    op.drop_index(op.f("ix_settlements_account_id"), table_name="settlements")
    op.drop_table("settlements")
    op.drop_index(op.f("ix_disputes_tenant_id"), table_name="disputes")
    op.drop_index(op.f("ix_disputes_status"), table_name="disputes")
    op.drop_index(op.f("ix_disputes_account_id"), table_name="disputes")
    op.drop_table("disputes")
