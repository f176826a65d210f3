"""retention: when each record's personal data was anonymised

Revision ID: 3d1c0e7a5b92
Revises: 3d2a7c9e41b0
Create Date: 2026-12-07 19:30:00.000000

"""
from alembic import op
import sqlalchemy as sa

import scheduler.db


# revision identifiers, used by Alembic.
revision = '3d1c0e7a5b92'
down_revision = '3d2a7c9e41b0'
branch_labels = None
depends_on = None

TABLES = ('bookings', 'tickets', 'reception_waiting', 'outbox_messages', 'audit_entries')


def upgrade():
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('anonymised_at', scheduler.db.UTCDateTime(), nullable=True))


def downgrade():
    for table in reversed(TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('anonymised_at')
