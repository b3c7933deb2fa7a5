"""the debtor's self-service portal: links, codes, sessions, rate-limit counters, requests and Stripe payments

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-17 09:00:00

Row-level security for the new tables is generated from tenants/access_policy.py after the upgrade
(migrations/env.py): links, sessions and requests are the account's lender's or the holding agency's; codes their
sender's; payments the lender's, started by the holding agency; the rate-limit counters are the platform's.
"""
import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def _fk(table, column, target):
    return sa.ForeignKeyConstraint([column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"))


def upgrade():
    op.create_table(
        "portal_links",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("lender_tenant_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=True),
        sa.Column("template_id", sa.Uuid(), nullable=True),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("phone_position", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by_user_id", sa.Uuid(), nullable=True),
        sa.Column("first_opened_at", sa.DateTime(timezone=True), nullable=True),
        _fk("portal_links", "tenant_id", "tenants"),
        _fk("portal_links", "lender_tenant_id", "tenants"),
        _fk("portal_links", "account_id", "accounts"),
        sa.ForeignKeyConstraint(["message_id"], ["outbound_messages.id"],
                                name=op.f("fk_portal_links_message_id_outbound_messages")),
        sa.ForeignKeyConstraint(["template_id"], ["message_templates.id"],
                                name=op.f("fk_portal_links_template_id_message_templates")),
        _fk("portal_links", "revoked_by_user_id", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_portal_links_token_hash")),
    )
    for column in ("tenant_id", "lender_tenant_id", "account_id", "message_id"):
        op.create_index(op.f(f"ix_portal_links_{column}"), "portal_links", [column])

    op.create_table(
        "portal_codes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("link_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("recipient", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("gateway", sa.String(length=20), nullable=True),
        sa.Column("gateway_message_id", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        _fk("portal_codes", "tenant_id", "tenants"),
        _fk("portal_codes", "account_id", "accounts"),
        _fk("portal_codes", "link_id", "portal_links"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_codes")),
    )
    op.create_index(op.f("ix_portal_codes_tenant_id"), "portal_codes", ["tenant_id"])
    op.create_index(op.f("ix_portal_codes_account_id"), "portal_codes", ["account_id"])
    op.create_index("ix_portal_codes_link_created", "portal_codes", ["link_id", "created_at"])

    op.create_table(
        "portal_sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("lender_tenant_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("link_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("locale", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(length=40), nullable=True),
        _fk("portal_sessions", "tenant_id", "tenants"),
        _fk("portal_sessions", "lender_tenant_id", "tenants"),
        _fk("portal_sessions", "account_id", "accounts"),
        _fk("portal_sessions", "link_id", "portal_links"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_portal_sessions_token_hash")),
    )
    for column in ("tenant_id", "lender_tenant_id", "account_id", "link_id"):
        op.create_index(op.f(f"ix_portal_sessions_{column}"), "portal_sessions", [column])

    op.create_table(
        "portal_attempts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_attempts")),
    )
    op.create_index("ix_portal_attempts_key_at", "portal_attempts", ["key", "at"])

    op.create_table(
        "portal_requests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("lender_tenant_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=True),
        sa.Column("link_id", sa.Uuid(), nullable=True),
        sa.Column("template_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("object_type", sa.String(length=30), nullable=True),
        sa.Column("object_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by_user_id", sa.Uuid(), nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
        _fk("portal_requests", "tenant_id", "tenants"),
        _fk("portal_requests", "lender_tenant_id", "tenants"),
        _fk("portal_requests", "account_id", "accounts"),
        _fk("portal_requests", "session_id", "portal_sessions"),
        _fk("portal_requests", "link_id", "portal_links"),
        _fk("portal_requests", "decided_by_user_id", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_requests")),
    )
    op.create_index(op.f("ix_portal_requests_tenant_id"), "portal_requests", ["tenant_id"])
    op.create_index(op.f("ix_portal_requests_lender_tenant_id"), "portal_requests", ["lender_tenant_id"])
    op.create_index("ix_portal_requests_account_status", "portal_requests", ["account_id", "status"])
    op.create_index("ix_portal_requests_tenant_status", "portal_requests", ["tenant_id", "status"])

    op.create_table(
        "portal_payments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("agency_tenant_id", sa.Uuid(), nullable=True),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=True),
        sa.Column("intent_id", sa.String(length=255), nullable=False),
        sa.Column("connected_account", sa.String(length=255), nullable=True),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("failure_code", sa.String(length=100), nullable=True),
        sa.Column("payment_id", sa.Uuid(), nullable=True),
        sa.Column("refunded_minor", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        _fk("portal_payments", "tenant_id", "tenants"),
        _fk("portal_payments", "agency_tenant_id", "tenants"),
        _fk("portal_payments", "account_id", "accounts"),
        _fk("portal_payments", "session_id", "portal_sessions"),
        _fk("portal_payments", "payment_id", "payments"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_payments")),
        sa.UniqueConstraint("intent_id", name=op.f("uq_portal_payments_intent_id")),
    )
    for column in ("tenant_id", "agency_tenant_id", "account_id"):
        op.create_index(op.f(f"ix_portal_payments_{column}"), "portal_payments", [column])


def downgrade():
    for table in ("portal_payments", "portal_requests", "portal_attempts", "portal_sessions", "portal_codes",
                  "portal_links"):
        op.drop_table(table)
