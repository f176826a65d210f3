"""indexes for the analytics' periods: bookings.starts_at, tickets.opened_at

Revision ID: d9e0f1a2b3c4
Revises: c4d8e1f2a3b5
Create Date: 2026-12-07 21:35:00

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = 'd9e0f1a2b3c4'
down_revision = 'c4d8e1f2a3b5'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_bookings_starts_at', 'bookings', ['starts_at'], unique=False)
    op.create_index('ix_tickets_opened_at', 'tickets', ['opened_at'], unique=False)


def downgrade():
    op.drop_index('ix_tickets_opened_at', table_name='tickets')
    op.drop_index('ix_bookings_starts_at', table_name='bookings')
