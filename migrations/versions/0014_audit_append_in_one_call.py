"""audit chain links made by the database; a contact attempt recorded in one call; the bearer lookup in one call

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 11:00:00

Audit events get a `hash_version`: the events already written keep version 1 (their hash covers the canonical JSON
of the whole event) and stay verifiable as they are; new events are version 2 (tenants/audit.py), whose link
PostgreSQL can make itself. `audit_append` takes the tenant's chain lock, reads the head and inserts the event;
`conduct_record_attempt` appends the ledger entry (through the SECURITY DEFINER function of migration 0003), inserts
the attempt and appends its audit event, in one round trip. Both run as the caller (SECURITY INVOKER): row-level
security decides the attempt and the event as it would an INSERT from the application. `app_enter_bearer`
(tenants/database_lock.py) resolves an API token and enters its tenant in one call.

"""
import sqlalchemy as sa
from alembic import op

from tenants import database_lock

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# The chain lock's key is the one the application took before: the tenant id's first 8 bytes as a signed big-endian
# bigint (writers of both versions serialise during a deploy).
FUNCTIONS = """
CREATE FUNCTION audit_append(p_id uuid, p_tenant uuid, p_occurred_at timestamptz, p_actor_user_id uuid,
                             p_actor_label text, p_action text, p_object_type text, p_object_id text,
                             p_before json, p_after json, p_body_digest text)
RETURNS TABLE (appended_seq integer, appended_prev_hash text, appended_hash text)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    v_seq integer;
    v_prev text;
BEGIN
    PERFORM pg_advisory_xact_lock(('x' || left(replace(p_tenant::text, '-', ''), 16))::bit(64)::bigint);
    SELECT e.seq, e.hash INTO v_seq, v_prev FROM audit_events e WHERE e.tenant_id = p_tenant
    ORDER BY e.seq DESC LIMIT 1;
    appended_seq := coalesce(v_seq, 0) + 1;
    appended_prev_hash := coalesce(v_prev, repeat('0', 64));
    appended_hash := encode(sha256(convert_to(appended_prev_hash || ':' || appended_seq::text || ':'
                                              || p_body_digest, 'UTF8')), 'hex');
    INSERT INTO audit_events (id, tenant_id, seq, occurred_at, actor_user_id, actor_label, action, object_type,
                              object_id, before, after, prev_hash, hash, hash_version)
    VALUES (p_id, p_tenant, appended_seq, p_occurred_at, p_actor_user_id, p_actor_label, p_action, p_object_type,
            p_object_id, p_before, p_after, appended_prev_hash, appended_hash, 2);
    RETURN NEXT;
END $$;

CREATE FUNCTION conduct_record_attempt(p_ledger_id uuid, p_subject text, p_debt text, p_number text, p_third text,
                                       p_channel text, p_target text, p_at timestamptz, p_attempt json,
                                       p_audit_id uuid, p_audit_tenant uuid, p_occurred_at timestamptz,
                                       p_actor_user_id uuid, p_actor_label text, p_action text,
                                       p_object_type text, p_object_id text, p_before json, p_after json,
                                       p_body_digest text)
RETURNS TABLE (appended_seq integer, appended_prev_hash text, appended_hash text)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    IF p_ledger_id IS NOT NULL THEN
        PERFORM conduct_ledger_append(p_ledger_id, p_subject, p_debt, p_number, p_third, p_channel, p_target, p_at);
    END IF;
    INSERT INTO contact_attempts SELECT * FROM json_populate_record(NULL::contact_attempts, p_attempt);
    RETURN QUERY SELECT * FROM audit_append(p_audit_id, p_audit_tenant, p_occurred_at, p_actor_user_id,
                                            p_actor_label, p_action, p_object_type, p_object_id, p_before, p_after,
                                            p_body_digest);
END $$;
"""

DROP_FUNCTIONS = """
DROP FUNCTION IF EXISTS conduct_record_attempt(uuid, text, text, text, text, text, text, timestamptz, json, uuid,
                                               uuid, timestamptz, uuid, text, text, text, text, json, json, text);
DROP FUNCTION IF EXISTS audit_append(uuid, uuid, timestamptz, uuid, text, text, text, text, json, json, text);
"""


def upgrade():
    # Not a batch: rebuilding the table on SQLite would drop its append-only triggers.
    op.add_column("audit_events", sa.Column("hash_version", sa.SmallInteger(), server_default="1", nullable=False))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(FUNCTIONS)
        op.execute(database_lock.ENTER_BEARER)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(database_lock.DROP_ENTER_BEARER)
        op.execute(DROP_FUNCTIONS)
    op.drop_column("audit_events", "hash_version")
