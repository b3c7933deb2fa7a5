"""The benches' temporary PostgreSQL database: created with the owner's URL (MIGRATION_DATABASE_URL), migrated,
the application role granted what deploy/postgres/roles.sql grants it, and dropped at the end.

    with temporary_database("worklist", owner_url, app_url) as (bench_owner_url, bench_app_url):
        served_as = prepare(bench_owner_url, bench_app_url)   # migrate + grant_app_role
        ...
"""
import os
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCAL_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def database_urls() -> tuple[str, str] | None:
    """(application role, schema owner) from DATABASE_URL and MIGRATION_DATABASE_URL. With neither set, the local
    server as `postgres` (trust auth), so a bench runs with no setup — as a superuser, which skips row-level security
    (each bench prints whom it measured as). None when the settings are not PostgreSQL URLs."""
    app_url, owner = os.environ.get("DATABASE_URL", ""), os.environ.get("MIGRATION_DATABASE_URL", "")
    if not app_url and not owner:
        return LOCAL_SERVER, LOCAL_SERVER
    if app_url.startswith("postgresql") and owner.startswith("postgresql"):
        return app_url, owner
    return None


def serving_role(connection):
    """Who the bench measures as: current_user, rolsuper, rolbypassrls (a connection or a session)."""
    from sqlalchemy import text

    return connection.execute(text("SELECT current_user, rolsuper, rolbypassrls FROM pg_roles "
                                   "WHERE rolname = current_user")).one()


def libpq(url) -> str:
    """A SQLAlchemy URL as psycopg (libpq) takes it."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def migrate(owner_url) -> None:
    """flask db upgrade on the database, as the owner (a URL or its string)."""
    from flask_migrate import upgrade

    from tenants.db import db
    from web import create_app

    url = owner_url if isinstance(owner_url, str) else owner_url.render_as_string(hide_password=False)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "MIGRATION_DATABASE_URL": url})
    with app.app_context():
        upgrade()
        db.session.remove()
        db.engine.dispose()


def grant_app_role(owner_url, app_role: str) -> None:
    """deploy/postgres/roles.sql, run by the owner: what production's application role may do here."""
    import psycopg

    sql = "\n".join(line for line in (ROOT / "deploy/postgres/roles.sql").read_text().splitlines()
                    if not line.lstrip().startswith(("\\", "--")))
    sql = sql.replace("recoverly_owner", owner_url.username).replace("recoverly_app", app_role)
    with psycopg.connect(libpq(owner_url), autocommit=True) as connection:
        connection.execute(sql)


def unfence_owner(owner_url) -> None:
    """Bulk loading and checking as the owner of this throwaway database: row-level security stays forced on the
    application role and is lifted for the owner alone (FORCE is what binds an owner)."""
    import psycopg

    from tenants import access_policy

    with psycopg.connect(libpq(owner_url), autocommit=True) as connection:
        for table in access_policy.declared_tables():
            connection.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")


def prepare(owner_url, app_url):
    """Migrates the database and, when the application role is not the owner, grants it its privileges. Returns
    the URL to serve the app as: the application role's, or the owner's when DATABASE_URL names no other role.
    With an application role, the owner's own connections (bulk loading, checks) read past row-level security."""
    migrate(owner_url)
    if app_url.username != owner_url.username:
        grant_app_role(owner_url, app_url.username)
        unfence_owner(owner_url)
        return app_url
    return owner_url


def drop_database(admin, name: str) -> None:
    """WITH (FORCE) ends the owner's sessions; the app role's end on their own once their clients have closed
    them, which the server may take a moment to notice."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    for attempt in range(50):
        try:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            return
        except DBAPIError:
            if attempt == 49:
                raise
            time.sleep(0.2)


@contextmanager
def temporary_database(prefix: str, owner_url, app_url=None):
    """Creates recoverly_bench_<prefix>_<8 hex> with the owner's URL and drops it on the way out. Yields the owner's
    and the application role's URLs (the owner's again when app_url is None) set to the new database."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    owner_url = make_url(owner_url)
    app_url = owner_url if app_url is None else make_url(app_url)
    name = f"recoverly_bench_{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(owner_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield owner_url.set(database=name), app_url.set(database=name)
        finally:
            drop_database(admin, name)
    finally:
        admin.dispose()


# ---- bulk loads of the large benches (worklist, analytics) ------------------------------------------------------

def bulk_owner(owner_url):
    """A connection of the owner, whom this throwaway database's row-level security does not bind
    (`unfence_owner`), set for loading millions of rows."""
    import psycopg

    connection = psycopg.connect(libpq(owner_url), autocommit=True)
    connection.execute("SET synchronous_commit = off")
    connection.execute("SET maintenance_work_mem = '512MB'")
    return connection


def drop_secondary_indexes(connection, tables) -> list[tuple[str, str, str]]:
    """Built once after the load instead of row by row during it: (table, index, definition) to create again."""
    rows = connection.execute("""
        SELECT t.relname, i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
        FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
        WHERE t.relname = ANY(%s) AND NOT i.indisprimary AND NOT EXISTS (
            SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)""", (list(tables),)).fetchall()
    for _, name, _ in rows:
        connection.execute(f"DROP INDEX {name}")
    return [tuple(row) for row in rows]


def quantile_ms(seconds: list[float], q: float) -> float:
    ordered = sorted(seconds)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))] * 1000
