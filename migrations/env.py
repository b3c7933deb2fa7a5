"""Alembic environment. Migrations run as the schema owner (MIGRATION_DATABASE_URL) when one is configured;
the application itself connects as a role that owns nothing, so row-level security binds it."""
import logging
from logging.config import fileConfig

from alembic import context
from flask import current_app
from sqlalchemy import create_engine
from sqlalchemy.types import TypeDecorator

import tenants.models  # noqa: F401  (registers every table on the metadata)
from tenants import database_lock

config = context.config
if config.config_file_name:
    fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")

target_db = current_app.extensions["migrate"].db


def owner_engine():
    url = current_app.config.get("MIGRATION_DATABASE_URL")
    return create_engine(url) if url else target_db.engine


def run_migrations_offline():
    context.configure(url=str(owner_engine().url), target_metadata=target_db.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def render_item(type_, obj, autogen_context):
    """Migrations spell our TypeDecorators as their storage type, so they never import application code."""
    if type_ == "type" and isinstance(obj, TypeDecorator):
        return f"sa.{obj.impl!r}"
    return False


def run_migrations_online():
    def skip_empty(context_, revision, directives):
        if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
            directives[:] = []
            logger.info("No changes in schema detected.")

    conf_args = dict(current_app.extensions["migrate"].configure_args)
    conf_args.setdefault("process_revision_directives", skip_empty)
    conf_args.setdefault("render_item", render_item)
    with owner_engine().connect() as connection:
        context.configure(connection=connection, target_metadata=target_db.metadata, **conf_args)
        with context.begin_transaction():
            context.run_migrations()
            if _at_head(connection):
                apply_database_lock(connection)


def _at_head(connection) -> bool:
    return set(context.get_context().get_current_heads()) == set(context.script.get_heads())


def apply_database_lock(connection):
    """Row-level security is derived from tenants/access_policy.py: regenerated whenever the schema reaches the
    head, with the platform key the app presents (tenants/database_lock.py)."""
    if connection.dialect.name != "postgresql":
        return
    database_lock.sync_policies(connection)
    database_lock.pin_search_paths(connection)
    database_lock.install_platform_key(connection, current_app.config["DB_LOCK_KEY"])


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
