"""uploaded file chunks and evidence encrypted at rest

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 10:00:00

The chunks written before this revision are plaintext; they are encrypted here with the key ring the app itself
uses (`flask db upgrade` runs inside the app, which configures tenants.pii from PII_KEYS), as the raw bytes of a
Fernet token, exactly what tenants.pii.EncryptedBytes writes and reads. `flask pii rotate` re-encrypts them later.
Imports that ended "rejected" are "failed" now (one terminal state for an import that stopped).

"""
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

CHUNK_TABLES = {"import_file_chunks": ("import_id", "seq"), "evidence_chunks": ("evidence_id", "seq")}


@contextmanager
def _every_tenants_rows(table: str):
    """On PostgreSQL the owner lifts FORCE ROW LEVEL SECURITY for the length of this transaction, to reach every
    tenant's rows, and puts it back."""
    connection = op.get_bind()
    forced = connection.dialect.name == "postgresql" and bool(connection.execute(
        sa.text("SELECT relforcerowsecurity FROM pg_class WHERE oid = CAST(:t AS regclass)"), {"t": table}).scalar())
    if forced:
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    yield connection
    if forced:
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")


def _rewrite(table: str, keys: tuple[str, str], convert) -> None:
    """Every chunk through `convert`, one at a time (chunks are up to 1 MB)."""
    chunks = sa.table(table, sa.column(keys[0]), sa.column(keys[1]), sa.column("data", sa.LargeBinary))
    first, second = chunks.c[keys[0]], chunks.c[keys[1]]
    with _every_tenants_rows(table) as connection:
        for key_one, key_two in connection.execute(sa.select(first, second).order_by(first, second)).all():
            where = sa.and_(first == key_one, second == key_two)
            data = connection.execute(sa.select(chunks.c.data).where(where)).scalar()
            connection.execute(sa.update(chunks).where(where).values(data=convert(bytes(data))))


def _rename_status(old: str, new: str) -> None:
    with _every_tenants_rows("import_jobs"):
        op.execute(f"UPDATE import_jobs SET status = '{new}' WHERE status = '{old}'")


def _keyring():
    from tenants.pii import keyring

    return keyring()


def upgrade():
    keyring = _keyring()
    for table, keys in CHUNK_TABLES.items():
        _rewrite(table, keys, keyring.encrypt_bytes)
    _rename_status("rejected", "failed")


def downgrade():
    keyring = _keyring()
    for table, keys in CHUNK_TABLES.items():
        _rewrite(table, keys, keyring.decrypt_bytes)
    _rename_status("failed", "rejected")
