"""bulk exchange: an API request for a file carries an Idempotency-Key, kept on the export it made

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-19 10:00:00

`idempotency_key` is the request's Idempotency-Key header (up to 100 characters), unique per tenant: a retry with
the same key finds the first export, and two identical requests racing in make one file (the loser's insert fails
on the index and it answers with the winner). `idempotency_fingerprint` is the SHA-256 of the request's fields, so
the same key sent with a different body is told apart (409 idempotency.key_reused). Both are empty for files asked
for on the page or by a schedule.
"""
import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("exchange_exports") as batch:
        batch.add_column(sa.Column("idempotency_key", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("idempotency_fingerprint", sa.String(length=64), nullable=True))
    op.create_index("uq_exchange_exports_tenant_idempotency_key", "exchange_exports",
                    ["tenant_id", "idempotency_key"], unique=True)


def downgrade():
    op.drop_index("uq_exchange_exports_tenant_idempotency_key", table_name="exchange_exports")
    with op.batch_alter_table("exchange_exports") as batch:
        batch.drop_column("idempotency_fingerprint")
        batch.drop_column("idempotency_key")
