"""The contact decision's reads and writes: the account's phones and open holds come with the person's history, the
person's functions keep one plan, the audit chain's head is one index entry, hot inserts lose an index no query needs

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
- audit_append reads the chain's head (`ORDER BY seq DESC LIMIT 1` per tenant) by walking (tenant_id, seq)
  backwards: bitmap and sequential scans are off for its statements. Whenever the statistics said the tenant had
  few events (a table analysed while small, a tenant grown since) the planner read every event of the tenant
  through a bitmap and sorted them, at each append: 0.65 ms of a contact attempt's 2.9 ms of PostgreSQL CPU at
  935 events, growing with the chain. A later CREATE OR REPLACE of audit_append must keep these settings.
- ix_audit_events_tenant_id, ix_contact_attempts_tenant_id and ix_accounts_tenant_id: every lookup by tenant is
  served by a unique index or index that leads with tenant_id; each contact attempt, audit event and imported
  account updates one index fewer.
- placements: (tenant_id, agency_tenant_id) replaces (tenant_id). "Is there a placement between these two
  tenants" (placement_between in the access policy, the tenants' read rule; asked twice per webhook event a contact
  attempt writes) scanned a bitmap of every placement of the lender when the statistics said it had few.
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
AUDIT_APPEND = ("audit_append(uuid, uuid, timestamptz, uuid, text, text, text, text, json, json, text)")
INDEX_WALK = "SET enable_bitmapscan = off SET enable_seqscan = off"
REDUNDANT_INDEXES = (("ix_audit_events_tenant_id", "audit_events"), ("ix_contact_attempts_tenant_id", "contact_attempts"),
                     ("ix_accounts_tenant_id", "accounts"), ("ix_placements_tenant_id", "placements"))


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(ACCOUNT_ROWS)
        for function in PERSON_FUNCTIONS:
            op.execute(f"ALTER FUNCTION {function} {GENERIC}")
        op.execute(f"ALTER FUNCTION {AUDIT_APPEND} {INDEX_WALK}")
    op.create_index("ix_placements_tenant_agency", "placements", ["tenant_id", "agency_tenant_id"], unique=False)
    for index, table in REDUNDANT_INDEXES:
        op.drop_index(index, table_name=table)


def downgrade():
    for index, table in REDUNDANT_INDEXES:
        op.create_index(index, table, ["tenant_id"], unique=False)
    op.drop_index("ix_placements_tenant_agency", table_name="placements")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER FUNCTION {AUDIT_APPEND} RESET enable_bitmapscan RESET enable_seqscan")
        for function in PERSON_FUNCTIONS:
            op.execute(f"ALTER FUNCTION {function} RESET plan_cache_mode")
        op.execute("DROP FUNCTION conduct_account_phones_holds(uuid)")
