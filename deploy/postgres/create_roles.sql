-- Recoverly: create the two PostgreSQL roles used by the application.
--
-- Run as a superuser (any database), e.g.
--
--   psql -h 127.0.0.1 -U postgres -v ON_ERROR_STOP=1 \
--        -v owner_password='...' -v app_password='...' \
--        -f deploy/postgres/create_roles.sql
--
-- Roles:
--   recoverly_owner  owns the database and every schema object; migrations
--                    (flask db upgrade) connect as this role.
--   recoverly_app    what the running application connects as. It owns
--                    nothing, is not a superuser and lacks BYPASSRLS, so
--                    PostgreSQL row-level security applies to it. Its
--                    privileges are granted by deploy/postgres/roles.sql.
--
-- Idempotent: roles are created when missing, and their attributes and
-- passwords are (re)set on every run.
--
-- psql variables are not interpolated inside DO $$ ... $$ bodies, so the
-- passwords are applied with plain ALTER ROLE statements outside of them.

\set ON_ERROR_STOP on

\if :{?owner_password}
\else
DO $$ BEGIN RAISE EXCEPTION 'psql variable owner_password is not set (pass -v owner_password=...)'; END $$;
\endif
\if :{?app_password}
\else
DO $$ BEGIN RAISE EXCEPTION 'psql variable app_password is not set (pass -v app_password=...)'; END $$;
\endif

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'recoverly_owner') THEN
        CREATE ROLE recoverly_owner LOGIN CREATEDB NOSUPERUSER;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'recoverly_app') THEN
        CREATE ROLE recoverly_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    END IF;
END
$$;

-- Enforce the attributes even if the roles already existed with others.
ALTER ROLE recoverly_owner WITH LOGIN CREATEDB NOSUPERUSER PASSWORD :'owner_password';
ALTER ROLE recoverly_app WITH LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE PASSWORD :'app_password';

-- The application role must not inherit the owner's privileges (it would then
-- be able to act as the table owner and, e.g., disable RLS).
SELECT format('REVOKE %I FROM %I', r.rolname, m.rolname)
FROM pg_auth_members am
JOIN pg_roles r ON r.oid = am.roleid
JOIN pg_roles m ON m.oid = am.member
WHERE m.rolname = 'recoverly_app'
  AND r.rolname = 'recoverly_owner'
\gexec
