"""Key rotation for encrypted columns: after a new key is put first in PII_KEYS, re-encrypt every stored value
under it, so the old key can be retired. Text columns (EncryptedString) and file chunks (EncryptedBytes) alike;
runs in batches, each committed, inside a platform context."""
from sqlalchemy import LargeBinary, Text, and_, literal, or_, select, type_coerce, update

from tenants.context import platform_scope
from tenants.db import db
from tenants.pii import EncryptedBytes, EncryptedString, keyring

TEXT_BATCH = 500
BYTES_BATCH = 8  # file chunks are up to 1 MB each


def encrypted_columns():
    for table in db.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, (EncryptedString, EncryptedBytes)):
                yield table, column


def _after(keys, last):
    """Rows whose (composite) primary key sorts after `last`: keyset pagination without tuple comparison."""
    clauses = []
    for i, key in enumerate(keys):
        clauses.append(and_(*(k == v for k, v in zip(keys[:i], last[:i], strict=True)), key > last[i]))
    return or_(*clauses)


def rotate_column(table, column) -> int:
    binary = isinstance(column.type, EncryptedBytes)
    storage, rotate = (LargeBinary, keyring().rotate_bytes) if binary else (Text, keyring().rotate)
    batch = BYTES_BATCH if binary else TEXT_BATCH
    keys = list(table.primary_key.columns)
    stored = type_coerce(column, storage)
    last, done = None, 0
    while True:
        query = select(*keys, stored).where(column.is_not(None)).order_by(*keys).limit(batch)
        if last is not None:
            query = query.where(_after(keys, last))
        rows = db.session.execute(query).all()
        if not rows:
            return done
        for row in rows:
            key, token = tuple(row[:-1]), row[-1]
            db.session.execute(update(table).where(*(k == v for k, v in zip(keys, key, strict=True)))
                               .values({column.name: literal(rotate(token), storage)}))
        done += len(rows)
        last = tuple(rows[-1][:-1])
        db.session.commit()


def rotate_all() -> dict[str, int]:
    with platform_scope("PII key rotation"):
        return {f"{table.name}.{column.name}": rotate_column(table, column)
                for table, column in encrypted_columns()}
