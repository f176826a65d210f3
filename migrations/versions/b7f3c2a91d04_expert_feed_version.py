"""the expert's feed version: a poll answered from a stamp, not from the rows

Revision ID: b7f3c2a91d04
Revises: 7d2e9b4c1a60
Create Date: 2026-12-07 21:15:00

"""
import sqlalchemy as sa
from alembic import op

import scheduler.db

# revision identifiers, used by Alembic.
revision = 'b7f3c2a91d04'
down_revision = '7d2e9b4c1a60'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('experts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('feed_version', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('feed_changed_at', scheduler.db.UTCDateTime(), nullable=True))
    # Every feed's ETag changes with the new formula; Last-Modified starts now, so a client that only
    # sends If-Modified-Since fetches once more rather than keep a calendar from before.
    op.execute(sa.text("UPDATE experts SET feed_changed_at = CURRENT_TIMESTAMP"))


def downgrade():
    with op.batch_alter_table('experts', schema=None) as batch_op:
        batch_op.drop_column('feed_changed_at')
        batch_op.drop_column('feed_version')
