-- Recoverly: privileges of the application role.
--
-- Run as a superuser, connected to the application database (after
-- deploy/postgres/create_roles.sql), e.g.
--
--   psql -h 127.0.0.1 -U postgres -d recoverly -v ON_ERROR_STOP=1 \
--        -f deploy/postgres/roles.sql
--
-- Model:
--   * Migrations run as recoverly_owner, which owns the database, the tables,
--     sequences and functions.
--   * The application connects as recoverly_app. It owns nothing and lacks
--     BYPASSRLS (and SUPERUSER), so PostgreSQL row-level security policies
--     apply to it. Tables use ALTER TABLE ... FORCE ROW LEVEL SECURITY so
--     that the policies would apply even to the owner; for recoverly_app
--     they always apply, which is what enforces tenant isolation.
--   * recoverly_app only gets DML (SELECT/INSERT/UPDATE/DELETE), sequence
--     usage and function execution; it cannot create, alter or drop objects.
--
-- Safe to rerun at any time (e.g. after migrations): the ALTER DEFAULT
-- PRIVILEGES statements cover objects recoverly_owner creates in the future,
-- and the GRANT ... ON ALL ... statements cover objects that already exist.

\set ON_ERROR_STOP on

-- CONNECT on the current database (its name is not known in advance).
DO $$
BEGIN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO recoverly_app', current_database());
END
$$;

-- Only the owner may create objects in the public schema (this is already the
-- default since PostgreSQL 15; kept for older servers).
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

GRANT USAGE ON SCHEMA public TO recoverly_app;

-- Objects created later by recoverly_owner (i.e. by migrations).
ALTER DEFAULT PRIVILEGES FOR ROLE recoverly_owner IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO recoverly_app;
ALTER DEFAULT PRIVILEGES FOR ROLE recoverly_owner IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO recoverly_app;
ALTER DEFAULT PRIVILEGES FOR ROLE recoverly_owner IN SCHEMA public
    GRANT EXECUTE ON FUNCTIONS TO recoverly_app;

-- Objects that already exist.
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO recoverly_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO recoverly_app;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO recoverly_app;

-- The platform lock's key hash is the owner's alone (tenants/database_lock.py); row-level security with no
-- policy hides it as well, so a grant above re-run after migrations would show nothing either.
DO $$
BEGIN
    IF to_regclass('public.platform_keys') IS NOT NULL THEN
        REVOKE ALL ON platform_keys FROM recoverly_app;
    END IF;
END
$$;
