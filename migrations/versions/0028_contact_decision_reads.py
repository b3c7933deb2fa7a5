"""The contact decision's reads: the account's phones and open holds come with the person's history, the person's
functions keep one plan, and the chain head and hot inserts lose an index no query needs

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-21 10:00:00

- conduct_account_phones_holds: the account's phones (blind indexes) and unresolved holds, for the statement that
  takes the person's lock and reads their history (tenants.conduct.ledger): one round trip instead of two. VOLATILE,
  so its statement takes its snapshot when it runs, after the lock, and sees a hold opened meanwhile under that
  lock. SECURITY INVOKER: row-level security reads as the caller, who has already seen the account.
- conduct_ledger_history, conduct_person_holds and the new function are planned once per session
  (plan_cache_mode = force_generic_plan). Their statements look rows up by a key; the plan cache kept choosing
  custom plans for them and planned them afresh at every call: 0.68 → 0.24 ms of PostgreSQL CPU per decision's
  person read, measured on a bench database. A later CREATE OR REPLACE of these functions must keep the setting.
- ix_audit_events_tenant_id, ix_contact_attempts_tenant_id and ix_accounts_tenant_id: every lookup by tenant is
  served by a unique index or index that leads with tenant_id. The audit chain's head (`ORDER BY seq DESC LIMIT 1`
  per tenant in audit_append) was read through the single-column index — every event of the tenant read and sorted
  whenever the statistics said the tenant had few — where (tenant_id, seq) answers with one index entry. Each
  contact attempt and imported account also updated one index fewer.
"""
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

SEARCH_PATH = "SET search_path = pg_catalog, public, pg_temp"
GENERIC = "SET plan_cache_mode = force_generic_plan"

ACCOUNT_ROWS = f"""
CREATE FUNCTION conduct_account_phones_holds(p_account uuid)
RETURNS TABLE (phone_position integer, phone_index text, hold_id uuid, hold_type text, starts_at timestamptz,
               ends_at timestamptz, allow json, reason text)
LANGUAGE plpgsql VOLATILE {SEARCH_PATH} {GENERIC} AS $$
BEGIN
    RETURN QUERY
        SELECT p.position, p.phone_index::text, NULL::uuid, NULL::text, NULL::timestamptz, NULL::timestamptz,
               NULL::json, NULL::text
        FROM public.account_phones p WHERE p.account_id = p_account
        UNION ALL
        SELECT NULL::integer, NULL::text, h.id, h.type::text, h.starts_at, h.ends_at, h.allow, h.reason
        FROM public.holds h WHERE h.account_id = p_account AND h.resolved_at IS NULL;
END $$;
"""

PERSON_FUNCTIONS = ("conduct_ledger_history(text, timestamptz)", "conduct_person_holds(text[], text[], uuid, text)")
REDUNDANT_INDEXES = (("ix_audit_events_tenant_id", "audit_events"), ("ix_contact_attempts_tenant_id", "contact_attempts"),
                     ("ix_accounts_tenant_id", "accounts"))


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(ACCOUNT_ROWS)
        for function in PERSON_FUNCTIONS:
            op.execute(f"ALTER FUNCTION {function} {GENERIC}")
    for index, table in REDUNDANT_INDEXES:
        op.drop_index(index, table_name=table)


def downgrade():
    for index, table in REDUNDANT_INDEXES:
        op.create_index(index, table, ["tenant_id"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        for function in PERSON_FUNCTIONS:
            op.execute(f"ALTER FUNCTION {function} RESET plan_cache_mode")
        op.execute("DROP FUNCTION conduct_account_phones_holds(uuid)")
