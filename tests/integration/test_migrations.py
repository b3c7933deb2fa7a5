"""The schema is built only by migrations: empty → head, no drift from the models, and back down cleanly."""
import os
import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from tenants.db import db


def _round_trip(app, url: str, owner_url: str | None = None):
    previous = {key: app.config[key] for key in ("SQLALCHEMY_DATABASE_URI", "MIGRATION_DATABASE_URL")}
    engine = create_engine(owner_url or url)
    try:
        with app.app_context():
            app.config["MIGRATION_DATABASE_URL"] = owner_url or url
            upgrade()
            with engine.connect() as connection:
                diff = compare_metadata(MigrationContext.configure(connection), db.metadata)
                tables = set(inspect(connection).get_table_names())
            downgrade(revision="base")
            with engine.connect() as connection:
                remaining = set(inspect(connection).get_table_names()) - {"alembic_version"}
    finally:
        app.config.update(previous)
        engine.dispose()
    return diff, tables, remaining


def test_sqlite_upgrades_from_empty_matches_the_models_and_downgrades(app, tmp_path):
    diff, tables, remaining = _round_trip(app, f"sqlite:///{tmp_path / 'empty.db'}")
    assert diff == []
    assert {"tenants", "users", "memberships", "api_tokens", "invitations", "audit_events", "outbox_tasks"} <= tables
    assert remaining == set()


@pytest.mark.postgres
def test_postgres_upgrades_from_empty_matches_the_models_and_downgrades(app):
    owner_url = make_url(os.environ["MIGRATION_DATABASE_URL"])
    name = f"recoverly_test_migrations_{uuid.uuid4().hex[:8]}"
    admin = create_engine(owner_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        diff, tables, remaining = _round_trip(app, owner_url.set(database=name).render_as_string(False))
        assert diff == []
        assert "audit_events" in tables
        assert remaining == set()
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
