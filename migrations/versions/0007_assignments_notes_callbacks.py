"""assignments notes callbacks

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 11:40:00

"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

OWN = "app_platform() OR tenant_id = app_tenant()"
TABLES = ("case_assignments", "case_notes", "callbacks")

# A work queue needs the next permitted time of a few hundred cases at once: one call for all their people instead
# of one round trip per person. Like conduct_ledger_peek it records nothing, so it takes no lock, and it returns
# only what the rules count (no tenant content).
PEEK_MANY_FUNCTION = """
CREATE FUNCTION conduct_ledger_peek_many(p_subjects text[], p_since timestamptz)
RETURNS TABLE (subject_key text, id uuid, debt_key text, number_key text, third_party_key text, channel text,
               target text, at timestamptz, connected boolean, conversation boolean, pending boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT l.subject_key::text, l.id, l.debt_key::text, l.number_key::text, l.third_party_key::text,
           l.channel::text, l.target::text, l.at, l.connected, l.conversation, l.pending
    FROM conduct_ledger l WHERE l.subject_key = ANY(p_subjects) AND l.at >= p_since ORDER BY l.subject_key, l.at;
$$;
"""


def upgrade():
    op.create_table("case_assignments",
    sa.Column("placement_id", sa.Uuid(), nullable=False),
    sa.Column("account_id", sa.Uuid(), nullable=False),
    sa.Column("collector_user_id", sa.Uuid(), nullable=False),
    sa.Column("method", sa.String(length=12), nullable=False),
    sa.Column("assigned_by_user_id", sa.Uuid(), nullable=True),
    sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("ended_by_user_id", sa.Uuid(), nullable=True),
    sa.Column("id", sa.Uuid(), nullable=False),
    sa.Column("tenant_id", sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_case_assignments_account_id_accounts")),
    sa.ForeignKeyConstraint(["assigned_by_user_id"], ["users.id"], name=op.f("fk_case_assignments_assigned_by_user_id_users")),
    sa.ForeignKeyConstraint(["collector_user_id"], ["users.id"], name=op.f("fk_case_assignments_collector_user_id_users")),
    sa.ForeignKeyConstraint(["ended_by_user_id"], ["users.id"], name=op.f("fk_case_assignments_ended_by_user_id_users")),
    sa.ForeignKeyConstraint(["placement_id"], ["placements.id"], name=op.f("fk_case_assignments_placement_id_placements")),
    sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_case_assignments_tenant_id_tenants")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_case_assignments"))
    )
    with op.batch_alter_table("case_assignments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_assignments_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_assignments_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index("uq_case_assignments_current_placement", ["placement_id"], unique=True,
                              sqlite_where=sa.text("ended_at IS NULL"), postgresql_where=sa.text("ended_at IS NULL"))
        batch_op.create_index("ix_case_assignments_current_collector", ["tenant_id", "collector_user_id"],
                              unique=False, sqlite_where=sa.text("ended_at IS NULL"),
                              postgresql_where=sa.text("ended_at IS NULL"))

    op.create_table("case_notes",
    sa.Column("account_id", sa.Uuid(), nullable=False),
    sa.Column("placement_id", sa.Uuid(), nullable=True),
    sa.Column("author_user_id", sa.Uuid(), nullable=True),
    sa.Column("body", sa.Text(), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("id", sa.Uuid(), nullable=False),
    sa.Column("tenant_id", sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_case_notes_account_id_accounts")),
    sa.ForeignKeyConstraint(["author_user_id"], ["users.id"], name=op.f("fk_case_notes_author_user_id_users")),
    sa.ForeignKeyConstraint(["placement_id"], ["placements.id"], name=op.f("fk_case_notes_placement_id_placements")),
    sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_case_notes_tenant_id_tenants")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_case_notes"))
    )
    with op.batch_alter_table("case_notes", schema=None) as batch_op:
        batch_op.create_index("ix_case_notes_account_created", ["account_id", "created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_notes_tenant_id"), ["tenant_id"], unique=False)

    op.create_table("callbacks",
    sa.Column("account_id", sa.Uuid(), nullable=False),
    sa.Column("placement_id", sa.Uuid(), nullable=True),
    sa.Column("collector_user_id", sa.Uuid(), nullable=True),
    sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("local_zone", sa.String(length=64), nullable=False),
    sa.Column("note", sa.Text(), nullable=True),
    sa.Column("status", sa.String(length=12), nullable=False),
    sa.Column("created_by_user_id", sa.Uuid(), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("closed_by_user_id", sa.Uuid(), nullable=True),
    sa.Column("id", sa.Uuid(), nullable=False),
    sa.Column("tenant_id", sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_callbacks_account_id_accounts")),
    sa.ForeignKeyConstraint(["closed_by_user_id"], ["users.id"], name=op.f("fk_callbacks_closed_by_user_id_users")),
    sa.ForeignKeyConstraint(["collector_user_id"], ["users.id"], name=op.f("fk_callbacks_collector_user_id_users")),
    sa.ForeignKeyConstraint(["created_by_user_id"], ["users.id"], name=op.f("fk_callbacks_created_by_user_id_users")),
    sa.ForeignKeyConstraint(["placement_id"], ["placements.id"], name=op.f("fk_callbacks_placement_id_placements")),
    sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_callbacks_tenant_id_tenants")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_callbacks"))
    )
    with op.batch_alter_table("callbacks", schema=None) as batch_op:
        batch_op.create_index("ix_callbacks_account_status_due", ["account_id", "status", "due_at"], unique=False)
        batch_op.create_index("ix_callbacks_collector_status_due", ["tenant_id", "collector_user_id", "status",
                                                                    "due_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_callbacks_tenant_id"), ["tenant_id"], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
            op.execute(f"CREATE POLICY tenant_isolation ON {table} USING ({OWN}) WITH CHECK ({OWN})")
        op.execute(PEEK_MANY_FUNCTION)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS conduct_ledger_peek_many(text[], timestamptz)")
        for table in TABLES:
            op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
    with op.batch_alter_table("callbacks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_callbacks_tenant_id"))
        batch_op.drop_index("ix_callbacks_collector_status_due")
        batch_op.drop_index("ix_callbacks_account_status_due")
    op.drop_table("callbacks")
    with op.batch_alter_table("case_notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_notes_tenant_id"))
        batch_op.drop_index("ix_case_notes_account_created")
    op.drop_table("case_notes")
    with op.batch_alter_table("case_assignments", schema=None) as batch_op:
        batch_op.drop_index("ix_case_assignments_current_collector")
        batch_op.drop_index("uq_case_assignments_current_placement")
        batch_op.drop_index(batch_op.f("ix_case_assignments_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_case_assignments_account_id"))
    op.drop_table("case_assignments")
