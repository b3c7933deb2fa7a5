"""one declared access policy: row-level security regenerated from tenants/access_policy.py; the platform lock
the app role cannot lift; users and tenants under row-level security

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 10:00:00

The hand-written policies of 0001–0010 are dropped. The declared ones are created by migrations/env.py once the
upgrade reaches the head (they may name columns of later revisions); until then the app role sees nothing.
"""
import sqlalchemy as sa
from alembic import op

from tenants import database_lock

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("platform_keys",
                    sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
                    sa.Column("key_hash", sa.LargeBinary(), nullable=False),
                    sa.Column("token_salt", sa.Text(), nullable=False),
                    sa.PrimaryKeyConstraint("id", name=op.f("pk_platform_keys")))
    connection = op.get_bind()
    if connection.dialect.name != "postgresql":
        return
    database_lock.drop_all_policies(connection)
    database_lock.install_functions(connection)


def downgrade():
    connection = op.get_bind()
    if connection.dialect.name != "postgresql":
        op.drop_table("platform_keys")
        return
    # Below 0011 no policy is restored: the old ones let the app role lift the lock itself. Fail closed.
    database_lock.drop_all_policies(connection)
    for table in ("users", "tenants"):
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    connection.exec_driver_sql(database_lock.DROP_FUNCTIONS)
    op.drop_table("platform_keys")
