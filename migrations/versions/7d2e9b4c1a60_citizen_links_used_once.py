"""citizen links work once: used_at

Revision ID: 7d2e9b4c1a60
Revises: 3a1c5e0d2b7f
Create Date: 2026-12-07 19:40:00

"""
import sqlalchemy as sa
from alembic import op

import scheduler.db

# revision identifiers, used by Alembic.
revision = '7d2e9b4c1a60'
down_revision = '3a1c5e0d2b7f'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('citizen_links', schema=None) as batch_op:
        batch_op.add_column(sa.Column('used_at', scheduler.db.UTCDateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('citizen_links', schema=None) as batch_op:
        batch_op.drop_column('used_at')
