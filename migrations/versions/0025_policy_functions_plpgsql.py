"""row-level security: app_tenant() and app_platform() in PL/pgSQL, answering at once outside any context

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-20 10:00:00

Every policy asks `(SELECT app_tenant())` / `(SELECT app_platform())` once per place the question appears in a
statement; the contact decision's statements hold 20–40 such places each (a policy's EXISTS over placements brings
its own). As SQL functions (SECURITY DEFINER, so never inlined) each place parsed and planned the function's body
afresh: measured on PostgreSQL 15, one statement asking 20 times took 2.1–2.4 ms as SQL and 0.33–0.38 ms as
PL/pgSQL, which keeps its plan for the session; the place that answers `app_platform()` in a tenant's transaction
(every policy asks both) 0.16–0.24 ms, now that an empty setting answers without reading the salt or hashing.
Same answers: the token check is unchanged (tenants/database_lock.py).
"""
from alembic import op

from tenants import database_lock

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

# The definitions of 0011, restored by the downgrade.
SQL_FUNCTIONS = f"""
CREATE OR REPLACE FUNCTION app_tenant() RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
    AS $$ SELECT CASE WHEN current_setting('app.tenant_token', true) = {database_lock._SET_TENANT_TOKEN}
                      THEN nullif(current_setting('app.tenant_id', true), '')::uuid END
          FROM public.platform_keys k WHERE k.id = 1 $$;

CREATE OR REPLACE FUNCTION app_platform() RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
    AS $$ SELECT coalesce((SELECT nullif(current_setting('app.platform', true), '') = {database_lock._token("'platform'")}
                           FROM public.platform_keys k WHERE k.id = 1), false) $$;
"""


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(database_lock.POLICY_FUNCTIONS)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(SQL_FUNCTIONS)
