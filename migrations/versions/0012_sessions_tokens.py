"""revocable sessions; API tokens with their own role

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 10:00:00

`users.session_version` is part of every session cookie: moving it ends the user's sessions server-side.
Existing API tokens keep their role unless it is above their creator's current role: then they get the creator's.

"""
import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# Seniority within each kind of tenant as of this revision, most senior first (frozen here: a migration must not
# follow later edits of the role table).
SENIORITY = (
    ("lender_admin", "lender_manager", "lender_analyst"),
    ("agency_admin", "agency_supervisor", "agency_collector"),
)
RANK = {role: rank for roles in SENIORITY for rank, role in enumerate(roles)}


def upgrade():
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("session_version", sa.Integer(), nullable=False, server_default="0"))
    _cap_token_roles_at_their_creators()


def _cap_token_roles_at_their_creators():
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    if postgres:
        # Both tables FORCE row-level security, which binds their owner (who runs migrations) too.
        op.execute("ALTER TABLE api_tokens NO FORCE ROW LEVEL SECURITY")
        op.execute("ALTER TABLE memberships NO FORCE ROW LEVEL SECURITY")
    rows = bind.execute(sa.text(
        "SELECT t.id, t.role AS token_role, m.role AS creator_role FROM api_tokens t "
        "JOIN memberships m ON m.tenant_id = t.tenant_id AND m.user_id = t.created_by_user_id "
        "WHERE t.revoked_at IS NULL"
    )).mappings().all()
    for row in rows:
        token_rank, creator_rank = RANK.get(row["token_role"]), RANK.get(row["creator_role"])
        if token_rank is not None and creator_rank is not None and token_rank < creator_rank:
            bind.execute(sa.text("UPDATE api_tokens SET role = :role WHERE id = :id"),
                         {"role": row["creator_role"], "id": row["id"]})
    if postgres:
        op.execute("ALTER TABLE api_tokens FORCE ROW LEVEL SECURITY")
        op.execute("ALTER TABLE memberships FORCE ROW LEVEL SECURITY")


def downgrade():
    # Roles lowered by the upgrade stay lowered: the creator could not have chosen more.
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("session_version")
