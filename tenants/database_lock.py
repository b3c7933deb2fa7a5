"""The database lock on PostgreSQL: row-level security generated from tenants.access_policy, and a platform lock
the application's role cannot take by itself.

Policies ask `app_tenant()` which tenant the transaction acts for and `app_platform()` whether it does platform
work. Both answer from transaction-local settings, but only when those carry a token that `app_enter_tenant(id,
key)` or `app_enter_platform(key)` derived for this very transaction from a salt the app role cannot read: the
functions check the key (DB_LOCK_KEY) against its SHA-256 in `platform_keys` (sealed: no policy, no grant), then
write the token. So an SQL injection can neither pose as another tenant nor lift the lock: a plain
`set_config('app.tenant_id', …)` or `set_config('app.platform', 'on')` opens nothing, and a token read inside one
transaction is worthless in any other, or for any other tenant (it is bound to the tenant, the backend and the
transaction's start). The key itself never sits in a setting or a table, and travels as a bound parameter.

Applied by migration 0011 and, for the policies and the key, after every upgrade that reaches the head
(migrations/env.py): the policies are derived, so changing the declaration needs no hand-written migration.
"""
import hashlib

from sqlalchemy import Column, Integer, LargeBinary, Table, Text, text

from tenants import access_policy
from tenants.db import db

# Declared for the schema's record (migrations compare it); no model: nothing in the app reads it.
PLATFORM_KEYS = Table("platform_keys", db.metadata,
                      Column("id", Integer, primary_key=True, autoincrement=False),
                      Column("key_hash", LargeBinary, nullable=False),
                      Column("token_salt", Text, nullable=False))

def _token(scope: str) -> str:
    """SQL for the token of one scope (a tenant id, or 'platform'), bound to this backend and this transaction's
    start: worthless anywhere else. Never a function of its own: the app role would call it."""
    return (f"encode(sha256(convert_to(k.token_salt || ':' || ({scope}) || ':' || pg_backend_pid()::text || ':' "
            f"|| now()::text, 'UTF8')), 'hex')")


CHECK_KEY = """
    IF NOT EXISTS (SELECT 1 FROM public.platform_keys k
                   WHERE k.id = 1 AND k.key_hash = sha256(convert_to(key, 'UTF8'))) THEN
        RAISE EXCEPTION 'database lock key refused' USING ERRCODE = 'insufficient_privilege';
    END IF;"""

_SET_TENANT_TOKEN = _token("current_setting('app.tenant_id', true)")

ENTRY_FUNCTIONS = f"""
ALTER TABLE platform_keys ADD CONSTRAINT ck_platform_keys_one_row CHECK (id = 1);
ALTER TABLE platform_keys ALTER COLUMN token_salt SET DEFAULT (gen_random_uuid()::text || gen_random_uuid()::text);
ALTER TABLE platform_keys ENABLE ROW LEVEL SECURITY;

CREATE OR REPLACE FUNCTION app_enter_tenant(tenant uuid, key text) RETURNS boolean
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
    AS $$
BEGIN{CHECK_KEY}
    PERFORM set_config('app.platform', '', true);
    PERFORM set_config('app.tenant_id', tenant::text, true);
    PERFORM set_config('app.tenant_token', (SELECT {_token("tenant::text")} FROM public.platform_keys k
                                            WHERE k.id = 1), true);
    RETURN true;
END $$;

CREATE OR REPLACE FUNCTION app_enter_platform(key text) RETURNS boolean
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
    AS $$
BEGIN{CHECK_KEY}
    PERFORM set_config('app.tenant_id', '', true);
    PERFORM set_config('app.tenant_token', '', true);
    PERFORM set_config('app.platform', (SELECT {_token("'platform'")} FROM public.platform_keys k WHERE k.id = 1),
                       true);
    RETURN true;
END $$;

"""

# What every row-level security policy asks, once per place it asks it in a statement (`(SELECT app_tenant())`, an
# InitPlan: a statement over a few tables with their policies' EXISTS clauses holds twenty or more). PL/pgSQL, not
# SQL: a non-inlinable SQL function is parsed and planned afresh at each place it is called from (~100 µs each,
# most of what the contact decision cost PostgreSQL), where PL/pgSQL keeps its plan for the session (migration
# 0025 measures it). A transaction that entered no context answers without reading the salt or hashing.
POLICY_FUNCTIONS = f"""
CREATE OR REPLACE FUNCTION app_tenant() RETURNS uuid
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
    AS $$
BEGIN
    IF coalesce(current_setting('app.tenant_token', true), '') = '' THEN
        RETURN NULL;
    END IF;
    RETURN (SELECT CASE WHEN current_setting('app.tenant_token', true) = {_SET_TENANT_TOKEN}
                        THEN nullif(current_setting('app.tenant_id', true), '')::uuid END
              FROM public.platform_keys k WHERE k.id = 1);
END $$;

CREATE OR REPLACE FUNCTION app_platform() RETURNS boolean
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
    AS $$
BEGIN
    IF coalesce(current_setting('app.platform', true), '') = '' THEN
        RETURN false;
    END IF;
    RETURN coalesce((SELECT current_setting('app.platform', true) = {_token("'platform'")}
                       FROM public.platform_keys k WHERE k.id = 1), false);
END $$;
"""

FUNCTIONS = ENTRY_FUNCTIONS + POLICY_FUNCTIONS

# The API's bearer lookup in one call (migration 0014): the key checked, the platform entered only for the lookup
# (the owner is bound by the forced policies too), then the token's own tenant entered exactly as app_enter_tenant
# would; nothing is entered when no token has this hash. The caller refuses a revoked token, an inactive creator or
# a suspended tenant, and then leaves the tenant again.
ENTER_BEARER = f"""
CREATE OR REPLACE FUNCTION app_enter_bearer(p_token_hash text, key text)
    RETURNS TABLE (token api_tokens, tenant tenants, creator_role text)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
    AS $$
DECLARE
    hit record;
    known boolean;
BEGIN{CHECK_KEY}
    PERFORM set_config('app.tenant_id', '', true);
    PERFORM set_config('app.tenant_token', '', true);
    PERFORM set_config('app.platform', (SELECT {_token("'platform'")} FROM public.platform_keys k WHERE k.id = 1),
                       true);
    SELECT t AS token, n AS tenant,
           (SELECT m.role::text FROM public.memberships m JOIN public.users u ON u.id = m.user_id
            WHERE m.tenant_id = t.tenant_id AND m.user_id = t.created_by_user_id AND m.is_active AND u.is_active)
           AS creator_role
      INTO hit
      FROM public.api_tokens t JOIN public.tenants n ON n.id = t.tenant_id
     WHERE t.token_hash = p_token_hash;
    known := FOUND;
    PERFORM set_config('app.platform', '', true);
    IF NOT known THEN
        RETURN;
    END IF;
    PERFORM set_config('app.tenant_id', (hit.token).tenant_id::text, true);
    PERFORM set_config('app.tenant_token', (SELECT {_token("(hit.token).tenant_id::text")}
                                            FROM public.platform_keys k WHERE k.id = 1), true);
    RETURN QUERY SELECT hit.token, hit.tenant, hit.creator_role;
END $$;
"""
DROP_ENTER_BEARER = "DROP FUNCTION IF EXISTS app_enter_bearer(text, text);"

DROP_FUNCTIONS = """
DROP FUNCTION IF EXISTS app_enter_platform(text);
DROP FUNCTION IF EXISTS app_enter_tenant(uuid, text);
CREATE OR REPLACE FUNCTION app_tenant() RETURNS uuid LANGUAGE sql STABLE SECURITY INVOKER
    AS $$ SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid $$;
CREATE OR REPLACE FUNCTION app_platform() RETURNS boolean LANGUAGE sql STABLE
    AS $$ SELECT coalesce(current_setting('app.platform', true), '') = 'on' $$;
"""


# A SECURITY DEFINER function runs as the owner inside the caller's session, and PostgreSQL searches the
# session's temporary schema first unless it is named last: the app role could otherwise shadow `platform_keys` or
# `conduct_ledger` with a temporary table of its own (and lift the lock, or escape a contact cap).
PIN_SEARCH_PATH = """
DO $$
DECLARE f regprocedure;
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
             WHERE p.pronamespace = 'public'::regnamespace AND p.prosecdef
    LOOP
        EXECUTE 'ALTER FUNCTION ' || f::text || ' SET search_path = pg_catalog, public, pg_temp';
    END LOOP;
END $$;
"""


def install_functions(connection) -> None:
    connection.exec_driver_sql(FUNCTIONS)
    pin_search_paths(connection)
    _revoke_from_everyone_but_owner(connection, "platform_keys")


def pin_search_paths(connection) -> None:
    connection.exec_driver_sql(PIN_SEARCH_PATH)


def _revoke_from_everyone_but_owner(connection, table: str) -> None:
    """Default privileges hand every new table to the app role; the key's hash is not for it."""
    grantees = connection.scalars(text(
        "SELECT DISTINCT grantee FROM information_schema.role_table_grants "
        "WHERE table_name = :table AND grantee <> current_user"), {"table": table}).all()
    for grantee in grantees:
        connection.exec_driver_sql(f'REVOKE ALL ON {table} FROM "{grantee}"')


def drop_all_policies(connection) -> None:
    rows = connection.execute(text(
        "SELECT policyname, tablename FROM pg_policies WHERE schemaname = current_schema()")).all()
    for policy, table in rows:
        connection.exec_driver_sql(f'DROP POLICY "{policy}" ON "{table}"')


def sync_policies(connection) -> None:
    """Make the live policies exactly the declaration's: every declared table ENABLE + FORCE with its policies,
    sealed tables enabled with none."""
    drop_all_policies(connection)
    for table in access_policy.declared_tables():
        connection.exec_driver_sql(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        connection.exec_driver_sql(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        for statement in access_policy.policy_statements(table):
            connection.exec_driver_sql(statement)
    for table in access_policy.SEALED:
        # Not forced: the SECURITY DEFINER functions run as the owner and are the only way in.
        connection.exec_driver_sql(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        connection.exec_driver_sql(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")


def install_platform_key(connection, key: str) -> None:
    """Store the SHA-256 of the platform key the app presents; a new key gets a new token salt too."""
    digest = hashlib.sha256(key.encode()).digest()
    connection.execute(text(
        "INSERT INTO platform_keys (id, key_hash) VALUES (1, :digest) "
        "ON CONFLICT (id) DO UPDATE SET key_hash = excluded.key_hash, "
        "token_salt = CASE WHEN platform_keys.key_hash = excluded.key_hash THEN platform_keys.token_salt "
        "ELSE excluded.token_salt END"), {"digest": digest})
