"""Holds whose end date passed before holds were told when they end are resolved quietly

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-21 12:00:00

From this release a periodic job resolves a hold when its `ends_at` comes and tells hold.ended
(tenants.conduct.service.end_lapsed_holds). Holds that ended before it ran would all be told at its first run —
old news, in a burst, to every lender's systems. They are resolved here the same way (as of their end, resolution
'expired') without an event; a rollback of this migration leaves them resolved, as the job would have.
"""
import sqlalchemy as sa
from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None

RESOLVE = sa.text("UPDATE holds SET resolved_at = ends_at, resolution = 'expired' "
                  "WHERE resolved_at IS NULL AND ends_at <= CURRENT_TIMESTAMP")


def upgrade():
    bind = op.get_bind()
    forced = bind.dialect.name == "postgresql" and bind.execute(
        sa.text("SELECT relforcerowsecurity FROM pg_class WHERE oid = 'holds'::regclass")).scalar()
    if forced:  # the owner runs migrations under row-level security too; this is every tenant's data
        op.execute("ALTER TABLE holds NO FORCE ROW LEVEL SECURITY")
    bind.execute(RESOLVE)
    if forced:
        op.execute("ALTER TABLE holds FORCE ROW LEVEL SECURITY")


def downgrade():
    pass
