"""Key rotation for encrypted columns: after a new key is put first in PII_KEYS, re-encrypt every stored value
under it, so the old key can be retired. Runs in batches inside a platform context."""
from sqlalchemy import Text, literal, select, type_coerce, update

from tenants.context import platform_scope
from tenants.db import db
from tenants.pii import EncryptedString, keyring


def encrypted_columns():
    for table in db.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, EncryptedString):
                yield table, column


def rotate_all(batch: int = 500) -> dict[str, int]:
    counts: dict[str, int] = {}
    with platform_scope("PII key rotation"):
        for table, column in encrypted_columns():
            pk = table.primary_key.columns.values()[0]
            ciphertext = type_coerce(column, Text)
            last, done = None, 0
            while True:
                query = select(pk, ciphertext).where(column.is_not(None)).order_by(pk).limit(batch)
                if last is not None:
                    query = query.where(pk > last)
                rows = db.session.execute(query).all()
                if not rows:
                    break
                for row_id, token in rows:
                    db.session.execute(update(table).where(pk == row_id)
                                       .values({column.name: literal(keyring().rotate(token), Text)}))
                done += len(rows)
                last = rows[-1][0]
                db.session.commit()
            counts[f"{table.name}.{column.name}"] = done
    return counts
