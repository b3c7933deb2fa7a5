"""outbox leases: a job claims its task in PostgreSQL before it works, so a second copy finds the claim and leaves

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-16 10:00:00

`lease_holder` names the run that holds the task, `leased_until` when its claim lapses unless renewed (the run
renews it while it works). The sweeper re-enqueues only pending tasks whose lease is free or has lapsed.
"""
import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("outbox_tasks") as batch:
        batch.add_column(sa.Column("lease_holder", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("leased_until", sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table("outbox_tasks") as batch:
        batch.drop_column("leased_until")
        batch.drop_column("lease_holder")
